"""Input corruption for denoising autoencoders, drawn on the device, and PSNR to score it.

Images are floats in [0, 1]. `level` is an array (an Hparams field), so a population can
sweep the noise level inside one program; the kind of noise is static config.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from vae_jax.errors import ConfigError

CORRUPTIONS = ("none", "gaussian", "salt_pepper", "mask")


def corrupt(key: jax.Array, x: jax.Array, kind: str, level: jax.Array) -> jax.Array:
    """A corrupted copy of the batch `x`.

    gaussian:    x + level * N(0, 1), clipped to [0, 1] (the tutorials' additive noise).
    salt_pepper: each pixel, with probability `level`, replaced by 0 or 1 (equally likely).
    mask:        each pixel, with probability `level`, set to 0 (masking noise, Vincent et al.).
    """
    if kind == "none":
        return x
    if kind == "gaussian":
        return jnp.clip(x + level * jax.random.normal(key, x.shape, x.dtype), 0.0, 1.0)
    hit_key, salt_key = jax.random.split(key)
    hit = jax.random.uniform(hit_key, x.shape) < level
    if kind == "salt_pepper":
        salt = jax.random.bernoulli(salt_key, 0.5, x.shape).astype(x.dtype)
        return jnp.where(hit, salt, x)
    if kind == "mask":
        return jnp.where(hit, jnp.zeros_like(x), x)
    raise ConfigError(f"unknown corruption {kind!r}; choose one of {', '.join(CORRUPTIONS)} "
                      "(--config.corruption=...)")


def psnr(clean: jax.Array, other: jax.Array) -> jax.Array:
    """Peak signal-to-noise ratio in dB of one image against its clean version (peak = 1)."""
    mse = jnp.mean((clean - other) ** 2)
    # A perfect copy has infinite PSNR; cap at 100 dB (MSE 1e-10) so averages stay finite.
    return -10.0 * jnp.log10(jnp.maximum(mse, 1e-10))
