"""Threefry random bits on CPU without a loop: the same bits, drawn ~6x faster.

jax lowers its threefry2x32 hash on CPU as a 5-iteration `fori_loop` (it compiles faster) and
unrolls the 20 rounds on every other backend. Inside a training epoch's `lax.scan` the rolled
loop makes XLA:CPU run each iteration as separate passes over memory with copies in between:
dynamic binarisation's Bernoulli draw ~6x slower (docs/performance.md).

`use_unrolled_threefry_on_cpu` registers jax's own unrolled lowering for CPU too, so every key,
permutation and sample is bit-for-bit what jax draws anyway. It uses jax internals, which the
exact jax pin in pyproject.toml keeps stable; with another jax, where they moved, it leaves
jax's default. Where they are still there but no longer mean the same, the self-check catches
it: the first CPU program that hashes (lowered lazily, so importing vae_jax starts no backend)
first runs the unrolled hash on the published known-answer vector and on a draw compared with
jax's own lowering; if either differs, or the check fails to run, it warns and keeps jax's
lowering, so a user's program gets jax's bits rather than wrong ones or an error.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
from jax.interpreters import mlir

# Threefry-2x32-20's known-answer vector (Salmon et al. 2011; also in jax's tests).
KNOWN_KEY = (0x13198A2E, 0x03707344)
KNOWN_COUNT = (0x243F6A88, 0x85A308D3)
KNOWN_BITS = (0xC4923A9C, 0x483DF7A0)

_choice: dict = {"rule": None, "forced": None}  # the rule chosen by the check; one forced in it


def use_unrolled_threefry_on_cpu() -> bool:
    """Registers the self-checked unrolled threefry lowering on CPU; False if this jax lacks
    the internals. Calling it again forgets an earlier check's verdict (programs lowered
    from then on check again)."""
    try:
        from jax._src.random import threefry2x32  # noqa: PLC0415 - internal, may move
        unrolled = threefry2x32._threefry2x32_lowering_rule
        rolled = threefry2x32._threefry2x32_cpu_lowering_rule
        primitive = threefry2x32.threefry2x32_p
    except (ImportError, AttributeError):
        return False
    _choice.update(rule=None, forced=None)

    def checked_rule(ctx, *args, **kwargs):
        rule = _choice["forced"] or _choice["rule"]
        if rule is None:
            rule = _choice["rule"] = unrolled if _passes_check(unrolled, rolled) else rolled
        return rule(ctx, *args, **kwargs)

    mlir.register_lowering(primitive, checked_rule, platform="cpu")
    return True


@contextlib.contextmanager
def _forced(rule):
    _choice["forced"] = rule
    try:
        yield
    finally:
        _choice["forced"] = None


def _passes_check(unrolled, rolled) -> bool:
    try:
        failure = known_answer_failure(lambda: _forced(unrolled), lambda: _forced(rolled))
    except Exception as e:  # noqa: BLE001 - any failure of the check means: do not use it
        failure = f"the check itself failed ({type(e).__name__}: {e})"
    if failure:
        warnings.warn(f"vae_jax.fast_threefry: the unrolled CPU threefry lowering {failure}; "
                      "using jax's own lowering (same bits, slower random draws on CPU)",
                      RuntimeWarning, stacklevel=2)
    return failure is None


def known_answer_failure(under_unrolled, under_rolled) -> str | None:
    """None if the unrolled lowering gives the published bits and jax's own draw; else why not.

    Runs on the CPU device; `under_*()` are contexts that lower with that rule."""
    import jax  # noqa: PLC0415 - the check runs lazily, inside the first CPU lowering
    import jax.extend.random as jax_random  # noqa: PLC0415

    cpu = jax.local_devices(backend="cpu")[0]  # this process's own (several processes)
    key, count = (jax.device_put(np.array(v, np.uint32), cpu) for v in (KNOWN_KEY, KNOWN_COUNT))
    with under_unrolled():
        bits = np.asarray(jax.jit(lambda k, c: jax_random.threefry_2x32(k, c))(key, count))
    if not np.array_equal(bits, np.array(KNOWN_BITS, np.uint32)):
        return f"gives {bits} on the known-answer vector instead of {KNOWN_BITS}"
    seed = jax.device_put(np.uint32(2011), cpu)
    draws = []
    for under in (under_unrolled, under_rolled):
        with under():  # a fresh function each time: jax caches lowerings per function
            draws.append(np.asarray(jax.jit(
                lambda s: jax.random.bits(jax.random.key(s), (3, 257)))(seed)))
    if not np.array_equal(*draws):
        return "draws other bits than jax's own lowering"
    return None
