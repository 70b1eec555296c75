"""The training objectives as pure functions, built from the likelihoods, KL and penalties.

Each term is written for ONE example and `jax.vmap`-ed over the batch (STYLE 4); losses
reduce with `.mean()` at the very end. All values are in nats. A loss function has the
signature `loss_fn(params, x, key, hparams, step=0) -> (loss, metrics)`, where `x` is a float
batch `[batch, H, W, C]` in [0, 1], `step` the member's optimiser step (KL schedules) and
`metrics` a dict of named scalars.

Every objective can be made denoising (`config.corruption`): the encoder sees a corrupted
copy of `x`, the likelihood scores the clean `x`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from vae_jax import models
from vae_jax.data import corruption
from vae_jax.errors import ConfigError
from vae_jax.objectives import (
    denoising,
    disentangling,
    gaussians,
    hierarchical,
    kl_schedules,
    penalties,
    priors,
    vq,
)
from vae_jax.objectives.likelihoods import (
    check_binarization,
    decoder_log_likelihood,
    make_log_likelihood,
    reconstruction_nll,
)

LossFn = Callable[..., tuple[jax.Array, dict[str, jax.Array]]]
OBJECTIVES = {"vae": ("elbo", "iwae", "tcvae", "factor_vae", "dip_vae_i", "dip_vae_ii"),
              "ae": ("recon", "sparse_l1", "sparse_kl", "contractive"),
              "vamp_vae": ("elbo", "iwae"), "vq_vae": ("vq",), "two_layer_vae": ("elbo", "iwae"),
              "ladder_vae": ("elbo", "iwae")}


# ------------------------------------------------------------------------ importance weights
def log_importance_weights(encode_fn, log_joint_fn, x: jax.Array, key: jax.Array,
                           num_samples: int) -> jax.Array:
    """log w_s = log p(x, z_s) - log q(z_s | x) for z_s ~ q(z | x), s = 1..num_samples.

    Args:
      encode_fn: x [B, ...] -> (mean, logvar), each [B, latents]: the proposal q(z | x).
      log_joint_fn: (x [B, ...], z [S, B, latents]) -> log p(x, z) [S, B].
    Returns: [num_samples, B].
    """
    mean, logvar = encode_fn(x)
    eps = jax.random.normal(key, (num_samples, *mean.shape), mean.dtype)
    z = mean + jnp.exp(0.5 * logvar) * eps
    return log_joint_fn(x, z) - gaussians.log_diagonal_normal(z, mean, logvar)


def vae_log_joint(model, log_likelihood, params):
    """log_joint(x [B,...], z [S,B,L]) = log p(x | z) + log p(z), [S, B], for `params`
    (p(z): the model's prior, objectives/priors.py)."""
    log_px_z = decoder_log_likelihood(model, log_likelihood, params)
    log_prior = priors.make_log_prior(model, params)
    return lambda x, z: log_px_z(x, z) + log_prior(z)


# ----------------------------------------------------------------------------------- the losses
def make_vae_loss(model, log_likelihood, corruption_kind: str = "none") -> LossFn:
    """Negative beta-ELBO: E_q[-log p(x|z)] + beta * KL(q(z|x) || p(z)), one sample of z; the
    KL in closed form for N(0, I), sampled (log q(z|x) - log p(z)) for a VampPrior."""

    def loss_fn(params, x, key, hparams, step=0):
        x_in, key = denoising.encoder_input(x, key, hparams, corruption_kind)
        outputs = model.apply({"params": params}, x_in, key)
        recon = reconstruction_nll(log_likelihood, x, outputs)
        kl_latents = priors.kl_terms(model, params, outputs)  # closed form for N(0, I)
        kl = kl_latents.sum(axis=-1)
        metrics = dict(recon=recon.mean(), kl=kl.mean(), nelbo=(recon + kl).mean())
        loss = kl_schedules.kl_loss(recon, kl_latents, hparams, step)
        return loss, dict(metrics, loss=loss)

    return loss_fn


def make_iwae_loss(model, log_likelihood, num_samples: int,
                   corruption_kind: str = "none") -> LossFn:
    """Negative IWAE bound (Burda et al. 2015): -log (1/k) sum_s p(x, z_s) / q(z_s | x).

    k = 1 is the single-sample Monte-Carlo ELBO (the VAE's objective with a sampled KL). With
    beta != 1, log p(z) - log q(z|x) inside each weight is scaled by beta.
    """
    if num_samples < 1:
        raise ConfigError(f"iwae_samples must be >= 1, got {num_samples}")

    def loss_fn(params, x, key, hparams, step=0):
        x_in, key = denoising.encoder_input(x, key, hparams, corruption_kind)
        mean, logvar = model.apply({"params": params}, x_in, method="encode")
        eps = jax.random.normal(key, (num_samples, *mean.shape), mean.dtype)
        z = mean + jnp.exp(0.5 * logvar) * eps
        log_px_z = decoder_log_likelihood(model, log_likelihood, params)(x, z)  # [S, B]
        log_ratio = (priors.make_log_prior(model, params)(z)
                     - gaussians.log_diagonal_normal(z, mean, logvar))
        beta = kl_schedules.kl_weight(hparams, jnp.asarray(step, jnp.float32))
        log_w = log_px_z + beta * log_ratio
        bound = jax.nn.logsumexp(log_w, axis=0) - math.log(num_samples)
        kl = (gaussians.kl_to_standard_normal(mean, logvar) if priors.has_standard_prior(model)
              else -log_ratio.mean(axis=0))  # a VampPrior has no closed form
        recon = -log_px_z.mean(axis=0)
        loss = -bound.mean()
        return loss, dict(loss=loss, recon=recon.mean(), kl=kl.mean(),
                          nelbo=(recon + kl).mean(), iwae=-bound.mean())

    return loss_fn


def make_tcvae_loss(model, log_likelihood, dataset_size: int, estimator: str = "mws",
                    corruption_kind: str = "none") -> LossFn:
    """beta-TCVAE (Chen et al. 2018): recon + alpha * MI + beta * TC + gamma * dimension-wise KL,
    the three terms estimated on the batch by minibatch-weighted (mws) or minibatch-stratified
    (mss: the paper's weights; mss_even: an even spread) sampling (penalties.tc_log_weights)."""

    def loss_fn(params, x, key, hparams, step=0):
        x_in, key = denoising.encoder_input(x, key, hparams, corruption_kind)
        outputs = model.apply({"params": params}, x_in, key)
        recon = reconstruction_nll(log_likelihood, x, outputs)
        parts = penalties.tc_decomposition(outputs["z"], outputs["mean"], outputs["logvar"],
                                           dataset_size, estimator)
        beta = kl_schedules.kl_weight(hparams, jnp.asarray(step, jnp.float32))
        loss = (recon + hparams.tc_alpha * parts["mi"] + beta * parts["tc"]
                + hparams.tc_gamma * parts["dwkl"]).mean()
        kl = gaussians.kl_to_standard_normal(outputs["mean"], outputs["logvar"])
        return loss, dict(loss=loss, recon=recon.mean(), kl=kl.mean(), nelbo=(recon + kl).mean(),
                          **{k: v.mean() for k, v in parts.items()})

    return loss_fn


def make_ae_loss(model, log_likelihood, objective: str = "recon",
                 corruption_kind: str = "none") -> LossFn:
    """Deterministic autoencoders: reconstruction negative log-likelihood, plus for
    sparse_l1 `penalty_weight * sum |z|`, for sparse_kl `penalty_weight * KL(rho || rho_hat)`
    (sigmoid codes), for contractive `penalty_weight * ||dz/dx||_F^2`."""

    def encode_one(params, x):
        return models.codes(model, params, x[None])[0]

    def loss_fn(params, x, key, hparams, step=0):
        del step  # no schedule acts on an AE
        x_in, _ = denoising.encoder_input(x, key, hparams, corruption_kind)
        outputs = model.apply({"params": params}, x_in)
        recon = reconstruction_nll(log_likelihood, x, outputs)
        if objective == "recon":
            return recon.mean(), dict(loss=recon.mean(), recon=recon.mean())
        z = outputs["z"]
        if objective == "sparse_l1":
            penalty = jax.vmap(penalties.l1)(z).mean()
        elif objective == "sparse_kl":
            penalty = penalties.sparsity_kl(z, hparams.sparsity_target)
        else:  # contractive
            penalty = jax.vmap(lambda xi: penalties.jacobian_frobenius_sq(
                lambda v: encode_one(params, v), xi))(x_in).mean()
        loss = recon.mean() + hparams.penalty_weight * penalty
        return loss, dict(loss=loss, recon=recon.mean(), penalty=penalty,
                          **penalties.activation_stats(z))

    return loss_fn


def resolve(config) -> str:
    """config.objective with 'default' resolved (elbo for a VAE, recon for an AE), checked."""
    choices = OBJECTIVES.get(config.model)
    if choices is None:
        raise ConfigError(f"no objective for model {config.model!r}; choose one of "
                          f"{', '.join(OBJECTIVES)}")
    objective = choices[0] if config.objective == "default" else config.objective
    if objective not in choices:
        raise ConfigError(f"objective {objective!r} does not apply to model {config.model!r}; "
                          f"choose one of {', '.join(choices)} (--config.objective=...)")
    if objective == "sparse_kl" and config.code_activation != "sigmoid":
        raise ConfigError("objective sparse_kl penalises mean activations in (0, 1): set "
                          "--config.code_activation=sigmoid")
    if config.corruption not in corruption.CORRUPTIONS:
        raise ConfigError(f"unknown corruption {config.corruption!r}; choose one of "
                          f"{', '.join(corruption.CORRUPTIONS)} (--config.corruption=...)")
    if config.tc_estimator not in penalties.TC_ESTIMATORS:
        raise ConfigError(f"unknown tc_estimator {config.tc_estimator!r}; choose one of "
                          f"{', '.join(penalties.TC_ESTIMATORS)} (--config.tc_estimator=...)")
    if objective != "iwae" and config.iwae_samples != 1:
        raise ConfigError(f"iwae_samples={config.iwae_samples} only applies to "
                          "--config.objective=iwae")
    return objective


def build(config, model, dataset_size: int | None = None) -> LossFn:
    """The loss function for `config` on `model`. `dataset_size` (training examples) is
    needed by the tcvae objective's estimator."""
    check_binarization(config)
    log_likelihood = make_log_likelihood(config.likelihood, config.pixel_std,
                                         model.image_shape[-1], config.num_mixtures)
    objective = resolve(config)
    kind = config.corruption

    def encoder_input(x, key, hparams):
        return denoising.encoder_input(x, key, hparams, kind)

    if objective == "elbo":
        return make_vae_loss(model, log_likelihood, kind)
    if objective == "iwae" and priors.is_hierarchical(model):  # two_layer_vae, ladder_vae
        return hierarchical.make_iwae_loss(model, log_likelihood, int(config.iwae_samples),
                                           encoder_input)
    if objective == "iwae":
        return make_iwae_loss(model, log_likelihood, int(config.iwae_samples), kind)
    if objective == "vq":
        return vq.make_vq_loss(model, log_likelihood, encoder_input,
                               config.vq_ema_decay if config.vq_ema else None)
    if objective == "tcvae":
        if not dataset_size:
            raise ConfigError("the tcvae objective needs the training-set size (dataset_size)")
        return make_tcvae_loss(model, log_likelihood, dataset_size, config.tc_estimator, kind)
    if objective == "factor_vae":
        return disentangling.make_factor_vae_loss(model, log_likelihood, kind)
    if objective in disentangling.DIP_KINDS:
        return disentangling.make_dip_vae_loss(model, log_likelihood, objective, kind)
    return make_ae_loss(model, log_likelihood, objective, kind)
