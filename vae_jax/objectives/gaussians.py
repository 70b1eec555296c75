"""Diagonal Gaussians: one per-dimension log density that every objective sums, and the
closed-form KL to the standard normal prior.

Objectives (the IWAE bound, the importance-sampled likelihood, Gaussian pixel likelihoods) and
penalties (the total-correlation estimate, which needs the per-dimension terms before summing)
share it.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

LOG_2PI = math.log(2.0 * math.pi)


def log_normal_per_dim(z: jax.Array, mean: jax.Array, logvar: jax.Array) -> jax.Array:
    """log N(z_d; mean_d, exp(logvar_d)) elementwise (the arguments broadcast)."""
    return -0.5 * (LOG_2PI + logvar + (z - mean) ** 2 * jnp.exp(-logvar))


def log_diagonal_normal(z: jax.Array, mean: jax.Array, logvar: jax.Array) -> jax.Array:
    """log N(z; mean, diag(exp(logvar))) summed over the last axis."""
    return jnp.sum(log_normal_per_dim(z, mean, logvar), axis=-1)


def log_standard_normal(z: jax.Array) -> jax.Array:
    """log N(z; 0, I) summed over the last axis."""
    return log_diagonal_normal(z, 0.0, 0.0)


def kl_per_latent(mean: jax.Array, logvar: jax.Array) -> jax.Array:
    """KL(N(mean, exp(logvar)) || N(0, 1)) in closed form, one value per latent."""
    return 0.5 * (jnp.exp(logvar) + mean**2 - 1.0 - logvar)


def kl_to_standard_normal(mean: jax.Array, logvar: jax.Array) -> jax.Array:
    """KL(N(mean, exp(logvar)) || N(0, I)) in closed form, summed over latents."""
    return jnp.sum(kl_per_latent(mean, logvar), axis=-1)
