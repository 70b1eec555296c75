"""Bounds of the VAEs with two stochastic layers (models/two_layer.py: Burda et al.'s
bottom-up q(z1 | x) q(z2 | z1); models/ladder.py: the Ladder VAE's top-down
q(z2 | x) q(z1 | z2, x)), whichever proposal q(z1, z2 | x) the model draws from:

    log w = log p(x | z1) + log p(z1 | z2) + log p(z2) - log q(z1, z2 | x).

The ELBO (one sample) reuses the VAE's loss through `priors.sampled_kl`; the IWAE bound and
the importance-sampled likelihood take k weights from `log_weights`, whose densities are the
same `priors.sampled_kl` at k draws of the model's `proposal`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from vae_jax.objectives import kl_schedules, priors
from vae_jax.objectives.likelihoods import decoder_log_likelihood


def log_weight_parts(model, log_likelihood, params, x: jax.Array, key: jax.Array,
                     num_samples: int, x_in: jax.Array | None = None
                     ) -> tuple[jax.Array, jax.Array]:
    """(log p(x | z1), log p(z1, z2) - log q(z1, z2 | x_in)), each [num_samples, B], for
    (z1, z2) drawn from the model's proposal at `x_in` (x unless denoising): z1's noise from
    the first key of split(key), z2's from the second, as in the model's one-sample `__call__`."""
    bottom_key, top_key = jax.random.split(key)
    batch = x.shape[:-3]
    eps = jax.random.normal(bottom_key, (num_samples, *batch, model.latents))
    eps_top = jax.random.normal(top_key, (num_samples, *batch, model.top_latents))
    draws = model.apply({"params": params}, x if x_in is None else x_in, eps, eps_top,
                        method="proposal")
    log_px_z = decoder_log_likelihood(model, log_likelihood, params)(x, draws["z"])
    return log_px_z, -priors.sampled_kl(model, params, draws)


def log_weights(model, log_likelihood, params):
    """-> fn(x, key, num_samples) -> log w [num_samples, B] (the likelihood evaluator's)."""

    def fn(x, key, num_samples):
        log_px_z, log_ratio = log_weight_parts(model, log_likelihood, params, x, key,
                                               num_samples)
        return log_px_z + log_ratio

    return fn


def make_iwae_loss(model, log_likelihood, num_samples: int, encoder_input):
    """Negative IWAE bound of a two-stochastic-layer model; beta (with warm-up) scales
    log p(z1, z2) - log q(z1, z2 | x) inside each weight, as the one-layer IWAE loss does.
    `encoder_input(x, key, hparams)` -> (what the encoder sees, key): the denoising hook."""

    def loss_fn(params, x, key, hparams, step=0):
        x_in, key = encoder_input(x, key, hparams)
        log_px_z, log_ratio = log_weight_parts(model, log_likelihood, params, x, key,
                                               num_samples, x_in)
        beta = kl_schedules.kl_weight(hparams, jnp.asarray(step, jnp.float32))
        bound = jax.nn.logsumexp(log_px_z + beta * log_ratio, axis=0) - math.log(num_samples)
        recon, kl = -log_px_z.mean(axis=0), -log_ratio.mean(axis=0)
        loss = -bound.mean()
        return loss, dict(loss=loss, recon=recon.mean(), kl=kl.mean(),
                          nelbo=(recon + kl).mean(), iwae=-bound.mean())

    return loss_fn
