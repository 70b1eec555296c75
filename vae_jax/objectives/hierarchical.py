"""Bounds of the VAEs with two stochastic layers (models/two_layer.py: Burda et al.'s
bottom-up q(z1 | x) q(z2 | z1); models/ladder.py: the Ladder VAE's top-down
q(z2 | x) q(z1 | z2, x)), whichever proposal q(z1, z2 | x) the model draws from:

    log w = log p(x | z1) + log p(z1 | z2) + log p(z2) - log q(z1, z2 | x).

Their prior p(z1 | z2) p(z2) is `TwoLayerPrior` (the objectives/priors.py protocol): the ELBO
(one sample) reuses the VAE's loss through its `sampled_kl`; the IWAE bound and the
importance-sampled likelihood take k weights from `log_weights`, whose densities are the same
`sampled_kl` at k draws of the model's `proposal`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from vae_jax.models import two_layer
from vae_jax.objectives import gaussians, kl_schedules, priors
from vae_jax.objectives.likelihoods import decoder_log_likelihood


@priors.register(two_layer.TwoStochasticLayers)
class TwoLayerPrior(priors.Prior):
    """p(z2) = N(0, I), p(z1 | z2) the model's `prior_bottom`: no marginal p(z1), so the KL is
    sampled over (z1, z2) and the likelihood's weights are `log_weights`'."""

    def log_prior(self, params):
        raise ValueError("two stochastic layers have no marginal p(z1): use "
                         "objectives.hierarchical's weights over (z1, z2)")

    def sampled_kl(self, params, outputs: dict) -> jax.Array:
        """log q(z1, z2|x) - log p(z1|z2) p(z2) per example [B] at the draws in `outputs`:
        `mean`/`logvar` and `top_mean`/`top_logvar` are q's parameters for z1 and z2 under the
        model's proposal (q(z1|x) q(z2|z1) bottom-up, q(z2|x) q(z1|z2,x) in the Ladder VAE)."""
        del params  # p(z1 | z2) at the draw is in `outputs` (prior_mean, prior_logvar)
        log_q = gaussians.log_diagonal_normal(outputs["z"], outputs["mean"], outputs["logvar"])
        z_top = outputs["z_top"]
        return (log_q + gaussians.log_diagonal_normal(z_top, outputs["top_mean"],
                                                      outputs["top_logvar"])
                - gaussians.log_diagonal_normal(outputs["z"], outputs["prior_mean"],
                                                outputs["prior_logvar"])
                - gaussians.log_standard_normal(z_top))

    def log_weights(self, log_likelihood, params):
        return log_weights(self.model, log_likelihood, params)


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
    return log_px_z, -TwoLayerPrior(model).sampled_kl(params, draws)


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
