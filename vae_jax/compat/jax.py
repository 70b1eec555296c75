"""jax internals vae_jax needs where jax has no public API (jax pinned in pyproject.toml).

* The threefry2x32 lowering rules, to lower the hash unrolled on CPU while a vae_jax run
  compiles (`fast_threefry`): jax has no public switch for it.
* The coordination service's client, to ask which processes are still alive without a
  barrier (`train.distributed`'s watchdog): `jax.experimental.multihost_utils.live_devices`
  is a barrier, so it cannot poll.
"""

from __future__ import annotations

import jax

TESTED = "0.10."  # the jax series these internals were written against


class JaxInternalsError(RuntimeError):
    """This jax lacks an internal that vae_jax reaches for."""


def _missing(what: str, error: Exception) -> JaxInternalsError:
    return JaxInternalsError(
        f"vae_jax needs {what} from jax's internals, and this jax ({jax.__version__}) does not "
        f"have it ({type(error).__name__}: {error}); vae_jax is tested with jax {TESTED}x "
        "(pip install -e . installs the pinned version)")


# ----------------------------------------------------------------------------- threefry lowering
def threefry_cpu_rules():
    """(primitive, jax's unrolled rule, jax's rolled CPU rule) of threefry2x32.

    Raises JaxInternalsError when this jax has moved them."""
    try:
        from jax._src.random import threefry2x32  # noqa: PLC0415 - internal, may move
        return (threefry2x32.threefry2x32_p, threefry2x32._threefry2x32_lowering_rule,
                threefry2x32._threefry2x32_cpu_lowering_rule)
    except (ImportError, AttributeError) as e:
        raise _missing("the threefry2x32 lowering rules", e) from e


def _cpu_lowerings() -> dict:
    """jax's table of CPU-specific lowerings (primitive -> entry); JaxInternalsError when this
    jax has moved it."""
    try:
        from jax._src.interpreters import mlir as mlir_internal  # noqa: PLC0415
        return mlir_internal._platform_specific_lowerings["cpu"]
    except (ImportError, AttributeError, KeyError) as e:
        raise _missing("the table of CPU lowerings", e) from e


def cpu_lowering(primitive):
    """The CPU-specific lowering entry now registered for `primitive` (None if none); an
    opaque value for `restore_cpu_lowering`."""
    return _cpu_lowerings().get(primitive)


def set_cpu_lowering(primitive, rule) -> None:
    """Registers `rule` as `primitive`'s CPU lowering (until `restore_cpu_lowering`)."""
    from jax.interpreters import mlir  # noqa: PLC0415

    mlir.register_lowering(primitive, rule, platform="cpu")


def restore_cpu_lowering(primitive, entry) -> None:
    """Puts back the entry `cpu_lowering` returned (removes any if it was None)."""
    table = _cpu_lowerings()
    if entry is None:
        table.pop(primitive, None)
    else:
        table[primitive] = entry


# ---------------------------------------------------------------------------- coordination client
def coordination_client():
    """The client of jax.distributed's coordination service (after jax.distributed.initialize):
    `get_live_nodes(process_ids)`, `wait_at_barrier(name, timeout_ms)`."""
    try:
        from jax._src import distributed as jax_distributed  # noqa: PLC0415 - internal
        client = jax_distributed.global_state.client
    except (ImportError, AttributeError) as e:
        raise _missing("jax.distributed's coordination client", e) from e
    if client is None:
        raise JaxInternalsError("jax.distributed is not initialised: there is no coordination "
                                "service to ask")
    for method in ("get_live_nodes", "wait_at_barrier"):
        if not hasattr(client, method):
            raise _missing(f"the coordination client's {method}",
                           AttributeError(f"no {method}"))
    return client
