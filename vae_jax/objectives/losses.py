"""The training objectives as pure functions, built from the likelihoods, KL and penalties.

Each term is written for ONE example and `jax.vmap`-ed over the batch (STYLE 4); losses
reduce with `.mean()` at the very end. All values are in nats. A loss function has the
signature `loss_fn(params, x, key, hparams, step=0) -> (loss, metrics)`, where `x` is a float
batch `[batch, H, W, C]` in [0, 1], `step` the member's optimiser step (KL schedules) and
`metrics` a dict of named scalars.

Every objective can be made denoising (`config.corruption`): the encoder sees a corrupted
copy of `x`, the likelihood scores the clean `x`.

`build` picks the loss by name from `OBJECTIVES`, the registry at the end of this file: a new
objective is one builder there, registered with `@register(name, models=...)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from vae_jax import models
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
    decoder_log_likelihood,
    make_log_likelihood,
    reconstruction_nll,
)

LossFn = Callable[..., tuple[jax.Array, dict[str, jax.Array]]]
# builder(config, model, log_likelihood, dataset_size) -> the loss of one objective.
Builder = Callable[..., LossFn]
# The objective registry, filled by `register` below: {model: {objective: builder}}, each
# model's objectives in the order they are registered, the first its default. The one list of
# objective names: validation, the config reference and the tests read it.
OBJECTIVES: dict[str, dict[str, Builder]] = {}


# ----------------------------------------------------------------------------------- the losses
def make_vae_loss(model, log_likelihood, corruption_kind: str = "none") -> LossFn:
    """Negative beta-ELBO: E_q[-log p(x|z)] + beta * KL(q(z|x) || p(z)), one sample of z; the
    KL in closed form for N(0, I), sampled (log q(z|x) - log p(z)) for a VampPrior."""

    def loss_fn(params, x, key, hparams, step=0):
        x_in, key = denoising.encoder_input(x, key, hparams, corruption_kind)
        outputs = model.apply({"params": params}, x_in, key)
        recon = reconstruction_nll(log_likelihood, x, outputs)
        kl_latents = priors.of(model).kl_terms(params, outputs)  # closed form for N(0, I)
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
    prior = priors.of(model)

    def loss_fn(params, x, key, hparams, step=0):
        x_in, key = denoising.encoder_input(x, key, hparams, corruption_kind)
        mean, logvar = model.apply({"params": params}, x_in, method="encode")
        eps = jax.random.normal(key, (num_samples, *mean.shape), mean.dtype)
        z = mean + jnp.exp(0.5 * logvar) * eps
        log_px_z = decoder_log_likelihood(model, log_likelihood, params)(x, z)  # [S, B]
        log_ratio = (prior.log_prior(params)(z) - gaussians.log_diagonal_normal(z, mean, logvar))
        beta = kl_schedules.kl_weight(hparams, jnp.asarray(step, jnp.float32))
        log_w = log_px_z + beta * log_ratio
        bound = jax.nn.logsumexp(log_w, axis=0) - math.log(num_samples)
        kl = prior.draws_kl(mean, logvar, log_ratio)  # closed form for N(0, I)
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
    """config.objective with 'default' resolved (the model's first registered objective: elbo
    for a VAE, recon for an AE). That it applies to config.model is a rule of the validation
    pass (validation_members)."""
    choices = OBJECTIVES[config.model]
    return next(iter(choices)) if config.objective == "default" else config.objective


def build(config, model, dataset_size: int | None = None) -> LossFn:
    """The loss function for `config` on `model`: the builder registered for config.model and
    the resolved objective. `dataset_size` (training examples) is needed by the tcvae
    objective's estimator."""
    log_likelihood = make_log_likelihood(config.likelihood, config.pixel_std,
                                         model.image_shape[-1], config.num_mixtures)
    builder = OBJECTIVES[config.model][resolve(config)]
    return builder(config, model, log_likelihood, dataset_size)


# --------------------------------------------------------------------------------- the registry
def register(*names: str, models: tuple[str, ...]):
    """Registers `builder(config, model, log_likelihood, dataset_size) -> LossFn` as each of
    the objectives `names` of each of `models` (a model's first registered objective is its
    default; a builder of several names reads the one asked for from `resolve(config)`)."""

    def add(builder: Builder) -> Builder:
        for model_name in models:
            choices = OBJECTIVES.setdefault(model_name, {})
            for name in names:
                if name in choices:
                    raise ValueError(f"objective {name!r} of model {model_name!r} is "
                                     "registered twice")
                choices[name] = builder
        return builder

    return add


def names() -> tuple[str, ...]:
    """Every registered objective once, in the order of registration."""
    return tuple(dict.fromkeys(name for choices in OBJECTIVES.values() for name in choices))


def describe() -> str:
    """Each model's objectives in words, e.g. 'vae: elbo, iwae; ae: recon' (the reference)."""
    return "; ".join(f"{model_name}: {', '.join(choices)}"
                     for model_name, choices in OBJECTIVES.items())


def _encoder_input(config):
    """The denoising hook of the losses that take one: (x, key, hparams) -> (x_in, key)."""
    return lambda x, key, hparams: denoising.encoder_input(x, key, hparams, config.corruption)


@register("elbo", models=("vae", "vamp_vae", "two_layer_vae", "ladder_vae"))
def _elbo(config, model, log_likelihood, dataset_size):
    return make_vae_loss(model, log_likelihood, config.corruption)


@register("iwae", models=("vae", "vamp_vae"))
def _iwae(config, model, log_likelihood, dataset_size):
    return make_iwae_loss(model, log_likelihood, int(config.iwae_samples), config.corruption)


@register("iwae", models=("two_layer_vae", "ladder_vae"))  # weights over (z1, z2)
def _iwae_two_layers(config, model, log_likelihood, dataset_size):
    return hierarchical.make_iwae_loss(model, log_likelihood, int(config.iwae_samples),
                                       _encoder_input(config))


@register("tcvae", models=("vae",))
def _tcvae(config, model, log_likelihood, dataset_size):
    if not dataset_size:
        raise ConfigError("the tcvae objective needs the training-set size (dataset_size)")
    return make_tcvae_loss(model, log_likelihood, dataset_size, config.tc_estimator,
                           config.corruption)


@register("factor_vae", models=("vae",))
def _factor_vae(config, model, log_likelihood, dataset_size):
    return disentangling.make_factor_vae_loss(model, log_likelihood, config.corruption)


@register(*disentangling.DIP_KINDS, models=("vae",))
def _dip_vae(config, model, log_likelihood, dataset_size):
    return disentangling.make_dip_vae_loss(model, log_likelihood, resolve(config),
                                           config.corruption)


@register("recon", "sparse_l1", "sparse_kl", "contractive", models=("ae",))
def _ae(config, model, log_likelihood, dataset_size):
    return make_ae_loss(model, log_likelihood, resolve(config), config.corruption)


@register("vq", models=("vq_vae",))
def _vq(config, model, log_likelihood, dataset_size):
    return vq.make_vq_loss(model, log_likelihood, _encoder_input(config),
                           config.vq_ema_decay if config.vq_ema else None)
