"""Checkpoints (orbax) and the resolved config a workdir was made with.

A workdir belongs to one config: `config.json` is written on the first run, and a later run in
the same workdir must agree with it on every field that shapes the run (it may only change how
often it logs, or extend `num_epochs` when the learning-rate schedule is not shaped by it).
Checkpoints are written by orbax in the background while the next epoch trains, one per saved
epoch, each finalised atomically (a temporary directory renamed when complete).
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from vae_jax.defaults import base_config
from vae_jax.errors import CheckpointError  # noqa: F401 - re-exported for callers
from vae_jax.train.schedules import SHAPED_BY_NUM_EPOCHS

# Fields a resumed run may change without changing what the saved states mean.
RESUMABLE_CHANGES = frozenset({
    "num_epochs", "eval_every", "checkpoint_every", "keep_checkpoints", "figures", "progress",
    "data_dir", "tfds_data_dir", "evals", "final_evals", "nll_samples", "nll_chunk",
    "nll_batch_size", "eval_batch_size", "memory_limit_gb", "member_map", "probe_train_size",
    "disentanglement_votes", "dci_importance_model",
})


# ------------------------------------------------------------------------------------ config.json
def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_to_json(config) -> dict:
    return json.loads(config.to_json_best_effort(sort_keys=True))


def check_or_write_config(workdir: str, config) -> None:
    """Writes workdir/config.json, or checks that the one there is compatible with `config`."""
    path = os.path.join(workdir, "config.json")
    current = config_to_json(config)
    if os.path.exists(path):
        try:
            with open(path) as f:
                saved = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise CheckpointError(
                f"{path} is unreadable ({e}); it records how this workdir was made. Restore it "
                "or use a new --workdir"
            ) from e
        old, new = _flatten(saved), _flatten(current)
        _check_schedule_epochs(old, new, path)
        # A field added to vae_jax after the workdir was made is compatible at its default.
        defaults = _flatten(config_to_json(base_config()))
        differing = sorted(
            k for k in set(old) | set(new)
            if old.get(k) != new.get(k) and k.split(".")[0] not in RESUMABLE_CHANGES
            and not (k not in old and k in defaults and new.get(k) == defaults[k])
        )
        if differing:
            details = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in differing[:8])
            raise CheckpointError(
                f"workdir {workdir} holds a run made with a different config ({details}). "
                "Its checkpoints would not fit: use a new --workdir, or rerun with the saved "
                f"config ({path})."
            )
    with open(path + ".tmp", "w") as f:  # replaced atomically: a crash never leaves half a file
        json.dump(current, f, indent=2, sort_keys=True)
    os.replace(path + ".tmp", path)


def _check_schedule_epochs(old: dict, new: dict, path: str) -> None:
    """num_epochs may grow on resume, unless the learning-rate schedule is a function of it."""
    schedule = old.get("lr_schedule")
    if schedule in SHAPED_BY_NUM_EPOCHS and old.get("num_epochs") != new.get("num_epochs"):
        raise CheckpointError(
            f"{path}: this run's lr_schedule {schedule!r} is shaped by num_epochs, so changing "
            f"num_epochs from {old.get('num_epochs')} to {new.get('num_epochs')} would resume on "
            "another learning-rate curve than its first epochs followed. Keep "
            f"--config.num_epochs={old.get('num_epochs')} here, or train the longer run in a new "
            "--workdir (lr_schedule=constant runs may be extended)."
        )


# ------------------------------------------------------------------------------------ the states
class Checkpointer:
    """Saves and restores a (stacked) TrainState pytree under `directory`, one step per epoch."""

    def __init__(self, directory: str, keep: int = 3):
        # Asynchronous: the files are written while the next epoch trains (a synchronous save
        # cost ~20% of an MNIST epoch of configs/vae.py on 2 cores). A step directory is
        # finalised atomically, so an interrupted save never replaces a good checkpoint.
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, enable_async_checkpointing=True)
        self.directory = os.path.abspath(directory)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_epoch(self) -> int | None:
        """The last epoch whose checkpoint is complete on disk (waits for one in flight)."""
        self._manager.wait_until_finished()
        return self._manager.latest_step()

    def save(self, epoch: int, states) -> None:
        # Save a copy: the training epoch donates `states`' buffers to its successor, which
        # would otherwise overwrite them while the background write still reads them.
        self._manager.save(epoch, args=ocp.args.StandardSave(jax.tree.map(jnp.copy, states)))

    def restore(self, epoch: int, like):
        """The states saved at `epoch`, shaped and placed like `like` (freshly built states)."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        self._manager.wait_until_finished()
        try:
            return self._manager.restore(epoch, args=ocp.args.StandardRestore(abstract))
        except Exception as e:  # orbax/tensorstore raise many types for one cause
            raise CheckpointError(
                f"checkpoint {self.directory}/{epoch} cannot be restored into this run's model "
                f"({type(e).__name__}: {str(e)[:300]}). It was written by another config or is "
                "damaged; use a new --workdir (nothing was deleted)."
            ) from e

    def close(self) -> None:
        self._manager.close()
