"""Objectives as pure functions: log-likelihoods, KL, and the losses built from them.

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

from vae_jax import corruption, gaussians, penalties
from vae_jax.errors import ConfigError
from vae_jax.hparams import Hparams

LossFn = Callable[..., tuple[jax.Array, dict[str, jax.Array]]]
OBJECTIVES = {"vae": ("elbo", "iwae", "tcvae"),
              "ae": ("recon", "sparse_l1", "sparse_kl", "contractive")}


# ----------------------------------------------------------------------------- per-example terms
def bernoulli_log_likelihood(x: jax.Array, logits: jax.Array) -> jax.Array:
    """log p(x | logits) for pixels x in [0, 1], summed over pixels.

    x * logits - softplus(logits) == x log sigmoid(l) + (1 - x) log sigmoid(-l), but stable.
    """
    # jax.nn.softplus, not max(l, 0) + log1p(exp(-|l|)): with the latter XLA:CPU fuses the
    # decoder, the likelihood and the sums into one YNNPACK fusion that runs the importance-
    # sampled likelihood 4x slower (measured: 28 vs 7 images/s at k = 5000, jax 0.10.2).
    return jnp.sum(x * logits - jax.nn.softplus(logits))


def gaussian_log_likelihood(x: jax.Array, mean: jax.Array, logvar: jax.Array) -> jax.Array:
    """log N(x; mean, exp(logvar)) summed over all elements (logvar broadcasts)."""
    return jnp.sum(gaussians.log_normal_per_dim(x, mean, logvar))


def kl_per_latent(mean: jax.Array, logvar: jax.Array) -> jax.Array:
    """KL(N(mean, exp(logvar)) || N(0, 1)) in closed form, one value per latent."""
    return 0.5 * (jnp.exp(logvar) + mean**2 - 1.0 - logvar)


def kl_to_standard_normal(mean: jax.Array, logvar: jax.Array) -> jax.Array:
    """KL(N(mean, exp(logvar)) || N(0, I)) in closed form, summed over latents."""
    return jnp.sum(kl_per_latent(mean, logvar), axis=-1)


def make_log_likelihood(likelihood: str, pixel_std: float) -> Callable[..., jax.Array]:
    """Per-example log p(x | decoder outputs) for the configured likelihood.

    Gaussian likelihoods read the decoder's logits through a sigmoid as the mean, so the
    same decoder serves Bernoulli and Gaussian data in [0, 1].
    """
    if likelihood == "bernoulli":
        return lambda x, out: bernoulli_log_likelihood(x, out["logits"])
    if likelihood == "gaussian":
        logvar = 2.0 * math.log(pixel_std)
        return lambda x, out: gaussian_log_likelihood(x, jax.nn.sigmoid(out["logits"]), logvar)
    if likelihood == "gaussian_learned":
        return lambda x, out: gaussian_log_likelihood(
            x, jax.nn.sigmoid(out["logits"]), out["x_logvar"]
        )
    raise ConfigError(f"unknown likelihood {likelihood!r}")


def reconstruction_nll(log_likelihood, x: jax.Array, outputs: dict) -> jax.Array:
    """-log p(x | z) per example, [batch], for x [batch, ...] and the decoder's `outputs`."""
    # Over flat pixels: every likelihood sums over all of them, and XLA:CPU runs the sum and
    # its gradient over [B, 784] faster than over [B, 28, 28, 1] (jax 0.10.2, the Flax
    # example's MLP: a VAE or AE epoch ~9% faster, eval/nll at k = 5000 2x), with bit-identical
    # results; only a learned pixel variance's gradient sums in another order (round-off).
    batch = x.shape[0]
    per_example = {"logits": outputs["logits"].reshape(batch, -1)}
    # A learned pixel log-variance is a parameter, not a per-example output: it stays out of
    # the vmapped axis.
    shared = {"x_logvar": outputs["x_logvar"].reshape(-1)} if "x_logvar" in outputs else {}
    return -jax.vmap(lambda xi, oi: log_likelihood(xi, {**oi, **shared}))(
        x.reshape(batch, -1), per_example)


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


def decoder_log_likelihood(model, log_likelihood, params):
    """log_px_z(x [B,...], z [S,B,L]) = log p(x | z_s) for every sample s, [S, B]."""
    # A learned pixel log-variance is a parameter shared by every sample and example.
    shared = {"x_logvar": params["x_logvar"]} if "x_logvar" in params else {}

    def log_px_z(x, z):
        logits = model.apply({"params": params}, z, method="decode")
        return jax.vmap(lambda sample_logits: -reconstruction_nll(
            log_likelihood, x, {"logits": sample_logits, **shared}))(logits)

    return log_px_z


def vae_log_joint(model, log_likelihood, params):
    """log_joint(x [B,...], z [S,B,L]) = log p(x | z) + log p(z), [S, B], for `params`."""
    log_px_z = decoder_log_likelihood(model, log_likelihood, params)
    return lambda x, z: log_px_z(x, z) + gaussians.log_standard_normal(z)


# ------------------------------------------------------------------------------ KL schedules
def kl_weight(hparams: Hparams, step: jax.Array) -> jax.Array:
    """beta, ramped linearly from 0 over the first `kl_warmup_steps` steps (1x when off)."""
    warmup = hparams.kl_warmup_steps
    ramp = jnp.minimum(step / jnp.maximum(warmup, 1.0), 1.0)
    return hparams.beta * jnp.where(warmup > 0, ramp, 1.0)


def scheduled_kl(kl_latents: jax.Array, hparams: Hparams, step: jax.Array) -> jax.Array:
    """The batch's KL penalty under free bits and capacity annealing, a scalar.

    Free bits (Kingma et al. 2016): each latent's batch-mean KL is floored at `free_bits`
    nats, so the gradient stops pushing a latent below it. Capacity (Burgess et al. 2018):
    |KL - C(t)| with C growing linearly to `capacity_max` over `capacity_steps`.
    """
    per_latent = kl_latents.mean(axis=0)
    floored = jnp.where(hparams.free_bits > 0, jnp.maximum(per_latent, hparams.free_bits),
                        per_latent).sum()
    capacity = hparams.capacity_max * jnp.minimum(
        step / jnp.maximum(hparams.capacity_steps, 1.0), 1.0)
    return jnp.where(hparams.capacity_max > 0, jnp.abs(floored - capacity), floored)


def _kl_loss(recon: jax.Array, kl_latents: jax.Array, hparams: Hparams, step) -> jax.Array:
    """mean(recon + beta * KL), with the KL schedules when any is on. Off, the value is
    computed exactly as the plain beta-ELBO: adding the schedules moved no bit of a plain run."""
    step = jnp.asarray(step, jnp.float32)
    beta = kl_weight(hparams, step)
    plain = (recon + beta * kl_latents.sum(axis=-1)).mean()
    shaped = recon.mean() + beta * scheduled_kl(kl_latents, hparams, step)
    return jnp.where((hparams.free_bits > 0) | (hparams.capacity_max > 0), shaped, plain)


# ----------------------------------------------------------------------------------- the losses
def _encoder_input(x, key, hparams: Hparams, kind: str):
    """(what the encoder sees, the key left for the model). Denoising draws its noise from
    its own split of the key; without corruption the key is passed on untouched."""
    if kind == "none":
        return x, key
    noise_key, key = jax.random.split(key)
    return corruption.corrupt(noise_key, x, kind, hparams.noise_level), key


def make_vae_loss(model, log_likelihood, corruption_kind: str = "none") -> LossFn:
    """Negative beta-ELBO: E_q[-log p(x|z)] + beta * KL(q(z|x) || p(z)), one sample of z."""

    def loss_fn(params, x, key, hparams, step=0):
        x_in, key = _encoder_input(x, key, hparams, corruption_kind)
        outputs = model.apply({"params": params}, x_in, key)
        recon = reconstruction_nll(log_likelihood, x, outputs)
        kl_latents = kl_per_latent(outputs["mean"], outputs["logvar"])
        kl = kl_latents.sum(axis=-1)
        metrics = dict(recon=recon.mean(), kl=kl.mean(), nelbo=(recon + kl).mean())
        loss = _kl_loss(recon, kl_latents, hparams, step)
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
        x_in, key = _encoder_input(x, key, hparams, corruption_kind)
        mean, logvar = model.apply({"params": params}, x_in, method="encode")
        eps = jax.random.normal(key, (num_samples, *mean.shape), mean.dtype)
        z = mean + jnp.exp(0.5 * logvar) * eps
        log_px_z = decoder_log_likelihood(model, log_likelihood, params)(x, z)  # [S, B]
        log_ratio = (gaussians.log_standard_normal(z)
                     - gaussians.log_diagonal_normal(z, mean, logvar))
        log_w = log_px_z + kl_weight(hparams, jnp.asarray(step, jnp.float32)) * log_ratio
        bound = jax.nn.logsumexp(log_w, axis=0) - math.log(num_samples)
        kl = kl_to_standard_normal(mean, logvar)
        recon = -log_px_z.mean(axis=0)
        loss = -bound.mean()
        return loss, dict(loss=loss, recon=recon.mean(), kl=kl.mean(),
                          nelbo=(recon + kl).mean(), iwae=-bound.mean())

    return loss_fn


def make_tcvae_loss(model, log_likelihood, dataset_size: int, estimator: str = "mws",
                    corruption_kind: str = "none") -> LossFn:
    """beta-TCVAE (Chen et al. 2018): recon + alpha * MI + beta * TC + gamma * dimension-wise KL,
    the three terms estimated on the batch by minibatch-weighted (mws) or minibatch-stratified
    (mss) sampling (penalties.tc_decomposition)."""

    def loss_fn(params, x, key, hparams, step=0):
        x_in, key = _encoder_input(x, key, hparams, corruption_kind)
        outputs = model.apply({"params": params}, x_in, key)
        recon = reconstruction_nll(log_likelihood, x, outputs)
        parts = penalties.tc_decomposition(outputs["z"], outputs["mean"], outputs["logvar"],
                                           dataset_size, estimator)
        beta = kl_weight(hparams, jnp.asarray(step, jnp.float32))
        loss = (recon + hparams.tc_alpha * parts["mi"] + beta * parts["tc"]
                + hparams.tc_gamma * parts["dwkl"]).mean()
        kl = kl_to_standard_normal(outputs["mean"], outputs["logvar"])
        return loss, dict(loss=loss, recon=recon.mean(), kl=kl.mean(), nelbo=(recon + kl).mean(),
                          **{k: v.mean() for k, v in parts.items()})

    return loss_fn


def make_ae_loss(model, log_likelihood, objective: str = "recon",
                 corruption_kind: str = "none") -> LossFn:
    """Deterministic autoencoders: reconstruction negative log-likelihood, plus for
    sparse_l1 `penalty_weight * sum |z|`, for sparse_kl `penalty_weight * KL(rho || rho_hat)`
    (sigmoid codes), for contractive `penalty_weight * ||dz/dx||_F^2`."""

    def encode_one(params, x):
        return model.apply({"params": params}, x[None], method="encode")[0]

    def loss_fn(params, x, key, hparams, step=0):
        del step  # no schedule acts on an AE
        x_in, _ = _encoder_input(x, key, hparams, corruption_kind)
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
        raise ConfigError(f"no objective for model {config.model!r}; choose ae or vae")
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
    log_likelihood = make_log_likelihood(config.likelihood, config.pixel_std)
    objective = resolve(config)
    kind = config.corruption
    if objective == "elbo":
        return make_vae_loss(model, log_likelihood, kind)
    if objective == "iwae":
        return make_iwae_loss(model, log_likelihood, int(config.iwae_samples), kind)
    if objective == "tcvae":
        if not dataset_size:
            raise ConfigError("the tcvae objective needs the training-set size (dataset_size)")
        return make_tcvae_loss(model, log_likelihood, dataset_size, config.tc_estimator, kind)
    return make_ae_loss(model, log_likelihood, objective, kind)
