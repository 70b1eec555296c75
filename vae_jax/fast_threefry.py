"""Threefry random bits on CPU without a loop, while a vae_jax run compiles: the same bits.

jax lowers its threefry2x32 hash on CPU as a 5-iteration `fori_loop` (it compiles faster) and
unrolls the 20 rounds on every other backend. Inside a training epoch's `lax.scan` the rolled
loop makes XLA:CPU run each iteration as separate passes over memory (docs/performance.md).

`unrolled_on_cpu()` is a context manager: inside it, programs lowered for CPU use jax's own
unrolled rule, so every key, permutation and sample is bit for bit what jax draws anyway; on
leaving it, the lowering registered before is put back. `run.train_and_evaluate` enters it
when `config.fast_threefry` is True (the default); importing vae_jax changes nothing.
Programs compiled inside it keep their unrolled form in jax's caches (the same bits); a
program another thread lowers meanwhile gets it too.

It reaches into jax's internals (`compat.jax`). Before first use in a process it checks the
unrolled rule on the published known-answer vector and against a draw of jax's own lowering;
if either differs, or the internals moved, it warns once and keeps jax's lowering.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np

from vae_jax.compat import jax as compat_jax

# Threefry-2x32-20's known-answer vector (Salmon et al. 2011; also in jax's tests).
KNOWN_KEY = (0x13198A2E, 0x03707344)
KNOWN_COUNT = (0x243F6A88, 0x85A308D3)
KNOWN_BITS = (0xC4923A9C, 0x483DF7A0)

_verdict: dict = {}  # "passed": the check's result in this process (forget it to check again)


@contextlib.contextmanager
def unrolled_on_cpu(enabled: bool = True):
    """Lowers threefry unrolled on CPU inside the block (when `enabled`, the default backend is
    the CPU and the check passes); yields whether it does."""
    import jax  # noqa: PLC0415

    if not (enabled and jax.default_backend() == "cpu" and _passes()):
        yield False
        return
    primitive, unrolled, _ = compat_jax.threefry_cpu_rules()
    before = compat_jax.cpu_lowering(primitive)
    compat_jax.set_cpu_lowering(primitive, unrolled)
    try:
        yield True
    finally:
        compat_jax.restore_cpu_lowering(primitive, before)


@contextlib.contextmanager
def _lowered_with(rule):
    primitive = compat_jax.threefry_cpu_rules()[0]
    before = compat_jax.cpu_lowering(primitive)
    compat_jax.set_cpu_lowering(primitive, rule)
    try:
        yield
    finally:
        compat_jax.restore_cpu_lowering(primitive, before)


def _passes() -> bool:
    if "passed" not in _verdict:
        try:
            _, unrolled, rolled = compat_jax.threefry_cpu_rules()
            failure = known_answer_failure(lambda: _lowered_with(unrolled),
                                           lambda: _lowered_with(rolled))
        except Exception as e:  # noqa: BLE001 - any failure of the check means: do not use it
            failure = f"could not be checked ({type(e).__name__}: {e})"
        if failure:
            warnings.warn(f"vae_jax.fast_threefry: the unrolled CPU threefry lowering {failure}; "
                          "using jax's own lowering (same bits, slower random draws on CPU)",
                          RuntimeWarning, stacklevel=3)
        _verdict["passed"] = failure is None
    return _verdict["passed"]


def known_answer_failure(under_unrolled, under_rolled) -> str | None:
    """None if the unrolled lowering gives the published bits and jax's own draw; else why not.

    Runs on the CPU device; `under_*()` are contexts that lower with that rule."""
    import jax  # noqa: PLC0415
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
