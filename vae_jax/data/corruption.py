"""Input corruption for denoising autoencoders, drawn on the device, and PSNR to score it.

Images are floats in [0, 1]. `level` is an array (an Hparams field), so a population can
sweep the noise level inside one program; the kind of noise is static config.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _gaussian(key: jax.Array, x: jax.Array, level: jax.Array) -> jax.Array:
    """x + level * N(0, 1), clipped to [0, 1] (the tutorials' additive noise)."""
    return jnp.clip(x + level * jax.random.normal(key, x.shape, x.dtype), 0.0, 1.0)


def _hits(key: jax.Array, x: jax.Array, level: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(the pixels hit, each with probability `level`; the key left for what replaces them)."""
    hit_key, other_key = jax.random.split(key)
    return jax.random.uniform(hit_key, x.shape) < level, other_key


def _salt_pepper(key: jax.Array, x: jax.Array, level: jax.Array) -> jax.Array:
    """Each pixel, with probability `level`, replaced by 0 or 1 (equally likely)."""
    hit, salt_key = _hits(key, x, level)
    salt = jax.random.bernoulli(salt_key, 0.5, x.shape).astype(x.dtype)
    return jnp.where(hit, salt, x)


def _mask(key: jax.Array, x: jax.Array, level: jax.Array) -> jax.Array:
    """Each pixel, with probability `level`, set to 0 (masking noise, Vincent et al.)."""
    hit, _ = _hits(key, x, level)
    return jnp.where(hit, jnp.zeros_like(x), x)


# The corruption registry: config.corruption's choices are its names (validation.py).
KINDS = {"none": lambda key, x, level: x, "gaussian": _gaussian,
         "salt_pepper": _salt_pepper, "mask": _mask}
CORRUPTIONS = tuple(KINDS)


def corrupt(key: jax.Array, x: jax.Array, kind: str, level: jax.Array) -> jax.Array:
    """A corrupted copy of the batch `x`: `kind` one of KINDS, at `level` (an array)."""
    return KINDS[kind](key, x, level)


def psnr(clean: jax.Array, other: jax.Array) -> jax.Array:
    """Peak signal-to-noise ratio in dB of one image against its clean version (peak = 1)."""
    mse = jnp.mean((clean - other) ** 2)
    # A perfect copy has infinite PSNR; cap at 100 dB (MSE 1e-10) so averages stay finite.
    return -10.0 * jnp.log10(jnp.maximum(mse, 1e-10))
