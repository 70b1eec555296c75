"""Threefry random bits on CPU without a loop: the same bits, drawn ~6x faster.

jax lowers its threefry2x32 hash on CPU as a 5-iteration `fori_loop` (it compiles faster) and
unrolls the 20 rounds on every other backend. Inside a training epoch's `lax.scan` the rolled
loop makes XLA:CPU run each iteration as separate passes over memory with copies in between:
dynamic binarisation's Bernoulli draw ~6x slower (docs/performance.md).

`use_unrolled_threefry_on_cpu` registers jax's own unrolled lowering for CPU too, so every key,
permutation and sample is bit-for-bit what jax draws anyway (tests/test_data.py checks the
hash against its published test vector). It uses jax internals, which the exact jax pin in
pyproject.toml keeps stable; with another jax, where they moved, it leaves jax's default.
"""

from __future__ import annotations

from jax.interpreters import mlir


def use_unrolled_threefry_on_cpu() -> bool:
    """Registers the unrolled threefry lowering on CPU; False if this jax lacks it."""
    try:
        from jax._src.random import threefry2x32  # noqa: PLC0415 - internal, may move
        rule = threefry2x32._threefry2x32_lowering_rule
        primitive = threefry2x32.threefry2x32_p
    except (ImportError, AttributeError):
        return False
    mlir.register_lowering(primitive, rule, platform="cpu")
    return True
