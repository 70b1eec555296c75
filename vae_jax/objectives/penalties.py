"""Regularisers on the code: sparsity (L1 and KL-to-target-rate), the contractive Jacobian
penalty, and the total-correlation decomposition of beta-TCVAE.

Pure functions of arrays. Per-example terms take one example; batch terms (the KL sparsity
penalty and the TC estimate, which need the batch's statistics) say so.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from vae_jax.errors import ConfigError
from vae_jax.objectives import gaussians

NEAR_ZERO = 0.05  # a code unit counts as inactive for an input when |z| < NEAR_ZERO


# ------------------------------------------------------------------------------------- sparsity
def l1(z: jax.Array) -> jax.Array:
    """Sum of |z| over the code of one example."""
    return jnp.sum(jnp.abs(z))


def sparsity_kl(codes: jax.Array, target: jax.Array, eps: float = 1e-6) -> jax.Array:
    """Batch term: sum_j KL(Bernoulli(rho) || Bernoulli(rho_hat_j)), rho_hat_j = the batch-mean
    activation of unit j (Ng's sparse autoencoder). `codes` [batch, latents] lie in (0, 1)."""
    rho_hat = jnp.clip(codes.mean(axis=0), eps, 1.0 - eps)
    rho = target
    return jnp.sum(rho * jnp.log(rho / rho_hat) + (1 - rho) * jnp.log((1 - rho) / (1 - rho_hat)))


def activation_stats(codes: jax.Array) -> dict[str, jax.Array]:
    """Mean |activation| and the fraction of (example, unit) pairs with |z| < NEAR_ZERO."""
    magnitude = jnp.abs(codes)
    return dict(mean_activation=magnitude.mean(),
                near_zero=(magnitude < NEAR_ZERO).astype(jnp.float32).mean())


# ---------------------------------------------------------------------------------- contractive
def jacobian_frobenius_sq(encode_one: Callable[[jax.Array], jax.Array], x: jax.Array) -> jax.Array:
    """||d encode_one(x) / dx||_F^2 for ONE input x (any shape) -> code [latents].

    One forward pass and `latents` vector-Jacobian products (reverse mode: a row of the
    Jacobian each), so the cost is ~latents backward passes, not one per pixel as with
    forward mode; only the latents x pixels Jacobian of this one example is ever held.
    """
    z, vjp = jax.vjp(encode_one, x)
    rows = jax.vmap(lambda e: vjp(e)[0])(jnp.eye(z.shape[-1], dtype=z.dtype))
    return jnp.sum(rows**2)


# ------------------------------------------------------------------------------- beta-TCVAE
TC_ESTIMATORS = ("mws", "mss", "mss_even")


def tc_log_weights(batch: int, dataset_size: int, estimator: str) -> jax.Array:
    """[i, j]: log of the weight of q(z_i | x_j) in the batch estimate of q(z_i) (B = batch,
    N = dataset size). Each row sums to 1/B (mws) or 1 (mss, mss_even).

      mws (minibatch-weighted sampling, Chen et al.'s main text): every weight 1 / (N B).
      mss (minibatch-stratified sampling, Chen et al.'s appendix and released code, with
          M = B - 1): x_i's own posterior 1 / N, one other (x_{i+1}, cyclically)
          (N - M) / (N M), each of the remaining B - 2 1 / M. The released
          `_log_importance_weight_matrix` strides by B instead of B + 1 and so puts the 1 / N and
          (N - M) / (N M) weights in columns 0 and 1 of every row, not on each example's own
          posterior and its neighbour (rtqichen/beta-tcvae pull request 1); these are the weights
          it meant.
      mss_even: x_i's own posterior 1 / N, the other B - 1 share (N - 1) / N evenly. Not the
          paper's; kept for runs made with it (it was called `mss` before).
    """
    if estimator == "mws":
        return jnp.full((batch, batch), -math.log(batch * dataset_size))
    own = jnp.eye(batch, dtype=bool)
    if estimator == "mss":
        m = batch - 1
        if m < 1 or dataset_size <= m:
            raise ConfigError(f"tc_estimator 'mss' needs 2 <= batch size <= dataset size; got "
                              f"batch {batch}, dataset {dataset_size}")
        neighbour = jnp.roll(own, 1, axis=1)  # [i, i + 1 mod B]
        return jnp.where(own, -math.log(dataset_size), jnp.where(
            neighbour, math.log(dataset_size - m) - math.log(dataset_size * m), -math.log(m)))
    # mss_even: `estimator` is one of TC_ESTIMATORS (validated in validation.py).
    other = math.log(dataset_size - 1) - math.log(dataset_size * max(batch - 1, 1))
    return jnp.where(own, -math.log(dataset_size), other)


def tc_decomposition(z: jax.Array, mean: jax.Array, logvar: jax.Array, dataset_size: int,
                     estimator: str = "mws") -> dict[str, jax.Array]:
    """Batch term: the KL decomposition of Chen et al. (2018), per example [batch].

    log q(z_i) and log prod_d q(z_id) are estimated from the batch's posteriors (N = dataset
    size), weighted as `tc_log_weights(estimator)` says. With mws, when the posteriors overlap,
    q(z) reads about N times too small in each of the D + 1 estimates, so TC is inflated by about
    (D - 1) log N nats and the dimension-wise KL deflated by D log N (see the test) — the terms
    are biased; the gradient the paper trained with is this one. mss and mss_even weigh each
    row to 1 and are exact when all posteriors are equal.

    Returns `mi` (index-code mutual information log q(z|x) - log q(z)), `tc` (total
    correlation log q(z) - log prod_d q(z_d)) and `dwkl` (dimension-wise KL
    log prod_d q(z_d) - log p(z)); they sum to log q(z|x) - log p(z) with any estimator.
    """
    log_weights = tc_log_weights(z.shape[0], dataset_size, estimator)
    # [i, j, d]: log q(z_i,d | x_j)
    pairwise = gaussians.log_normal_per_dim(z[:, None, :], mean[None, :, :], logvar[None, :, :])
    log_qz = jax.nn.logsumexp(log_weights + pairwise.sum(axis=-1), axis=1)
    log_prod_qzd = jnp.sum(jax.nn.logsumexp(log_weights[:, :, None] + pairwise, axis=1), axis=-1)
    log_qz_x = jnp.sum(jnp.diagonal(pairwise, axis1=0, axis2=1).T, axis=-1)
    log_pz = gaussians.log_standard_normal(z)
    return dict(mi=log_qz_x - log_qz, tc=log_qz - log_prod_qzd, dwkl=log_prod_qzd - log_pz)
