"""orbax internals vae_jax needs: how to read one member's slice of a saved array.

orbax restores whole arrays (0.12.8 pads or truncates only at the end of an axis), so
`Checkpointer.restore_member` reads member i's slice of each stacked array with tensorstore
directly. That needs the tensorstore spec orbax wrote the array with, built here from the
checkpoint's storage options (whether it used OCDBT and zarr3, in its `_METADATA` file: the
public `StepMetadata` has no `use_ocdbt`) and orbax's `type_handlers` helpers. Checked on use:
an orbax that moved them raises CheckpointError with a clear message.
"""

from __future__ import annotations

import json
import os

import orbax.checkpoint as ocp
from etils import epath

from vae_jax.errors import CheckpointError

TESTED = "0.12"  # the orbax-checkpoint series this was written against


def _version() -> str:
    return getattr(ocp, "__version__", "unknown")


def storage_options(step_dir: str) -> dict:
    """{"use_ocdbt", "use_zarr3", "context"} of the item saved in `step_dir`
    (<checkpoints>/<epoch>/default): how it was stored, and the tensorstore context to open
    its arrays in."""
    path = os.path.join(step_dir, "_METADATA")
    try:
        with open(path) as f:
            layout = json.load(f)
    except OSError as e:
        raise CheckpointError(f"{step_dir} has no readable orbax metadata ({e.strerror}): "
                              "no complete checkpoint there") from e
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path} is unreadable ({e}): the checkpoint is damaged") from e
    use_ocdbt = layout.get("use_ocdbt", True)
    try:
        context = ocp.type_handlers.get_ts_context(use_ocdbt=use_ocdbt)
    except (AttributeError, TypeError) as e:
        raise _moved(e) from e
    return {"use_ocdbt": use_ocdbt, "use_zarr3": layout.get("use_zarr3", False),
            "context": context}


def read_spec(step_dir: str, name: str, options: dict) -> dict:
    """The tensorstore spec orbax reads the array `name` ("params.w") with; open it in
    `options["context"]`."""
    try:
        info = ocp.type_handlers.ParamInfo(
            name=name, parent_dir=epath.Path(step_dir), use_zarr3=options["use_zarr3"],
            ts_context=options["context"])
        return ocp.type_handlers.get_json_tspec_read(info, use_ocdbt=options["use_ocdbt"])
    except (AttributeError, TypeError) as e:
        raise _moved(e) from e


def _moved(e: Exception) -> CheckpointError:
    return CheckpointError(
        "reading one member of a checkpoint uses orbax's type_handlers helpers, which this "
        f"orbax-checkpoint ({_version()}) does not have as vae_jax expects "
        f"({type(e).__name__}: {e}); vae_jax is tested with orbax-checkpoint {TESTED}.x "
        "(pip install -e . installs the pinned version)")
