"""Objectives that push the aggregate posterior towards independent latents: FactorVAE and
DIP-VAE-I/II (with beta-VAE, beta-TCVAE and AnnealedVAE, the unsupervised models compared by
Locatello et al. 2019).

* FactorVAE (Kim & Mnih 2018): the ELBO plus gamma times the total correlation of q(z),
  estimated with a discriminator D that tells samples of q(z) from samples of prod_j q(z_j)
  (each latent dimension permuted across the batch): TC ~ mean(logit_q(z) - logit_perm(z)).
  D is trained at the same step with its own cross-entropy loss. As disentanglement_lib does,
  one batch serves both (the paper draws a second batch for the permuted samples).
* DIP-VAE (Kumar et al. 2018): the ELBO plus lambda_od * sum_{i != j} C_ij^2 +
  lambda_d * sum_i (C_ii - 1)^2, C the covariance of the posterior means over the batch (I)
  or of z under the aggregate posterior, E[diag exp(logvar)] + Cov[mean] (II).

Both follow disentanglement_lib's definitions (covariances divide by the batch size).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from vae_jax.objectives import denoising, gaussians, kl_schedules
from vae_jax.objectives.likelihoods import reconstruction_nll

DIP_KINDS = ("dip_vae_i", "dip_vae_ii")


# ------------------------------------------------------------------------------------ FactorVAE
def permute_dims(key: jax.Array, z: jax.Array) -> jax.Array:
    """z [B, L] with each latent dimension (column) permuted across the batch independently:
    samples of prod_j q(z_j) when the rows are samples of q(z)."""
    keys = jax.random.split(key, z.shape[1])
    return jax.vmap(jax.random.permutation, in_axes=(0, 1), out_axes=1)(keys, z)


def discriminator_tc(logits: jax.Array) -> jax.Array:
    """Per-example density-ratio estimate log D(z) / (1 - D(z)) from the discriminator's two
    logits [B, 2] (class 0 = 'a sample of q(z)')."""
    return logits[:, 0] - logits[:, 1]


def discriminator_loss(logits_q: jax.Array, logits_permuted: jax.Array) -> jax.Array:
    """Cross-entropy of D on q(z) samples (class 0) and permuted samples (class 1)."""
    return -0.5 * (jax.nn.log_softmax(logits_q)[:, 0].mean()
                   + jax.nn.log_softmax(logits_permuted)[:, 1].mean())


def make_factor_vae_loss(model, log_likelihood, corruption_kind: str = "none"):
    """recon + beta * KL + gamma * TC for the VAE's parameters, plus D's own loss for D's.

    The two parts touch disjoint parameters (D's are held fixed in the TC term, z in D's loss),
    so the gradient of their sum is each part's gradient for its own parameter set.
    """

    def loss_fn(params, x, key, hparams, step=0):
        x_in, key = denoising.encoder_input(x, key, hparams, corruption_kind)
        model_key, permute_key = jax.random.split(key)
        outputs = model.apply({"params": params}, x_in, model_key)
        recon = reconstruction_nll(log_likelihood, x, outputs)
        kl_latents = gaussians.kl_per_latent(outputs["mean"], outputs["logvar"])
        kl = kl_latents.sum(axis=-1)

        def discriminate(discriminator_params, z):
            return model.apply({"params": {**params, "discriminator": discriminator_params}},
                               z, method="discriminate")

        frozen = jax.lax.stop_gradient(params["discriminator"])
        tc = discriminator_tc(discriminate(frozen, outputs["z"])).mean()
        vae_loss = (kl_schedules.kl_loss(recon, kl_latents, hparams, step)
                    + hparams.factor_vae_gamma * tc)
        z = jax.lax.stop_gradient(outputs["z"])
        logits_q = discriminate(params["discriminator"], z)
        logits_permuted = discriminate(params["discriminator"], permute_dims(permute_key, z))
        d_loss = discriminator_loss(logits_q, logits_permuted)
        accuracy = 0.5 * ((logits_q[:, 0] > logits_q[:, 1]).mean()
                          + (logits_permuted[:, 1] > logits_permuted[:, 0]).mean())
        loss = vae_loss + d_loss
        return loss, dict(loss=loss, recon=recon.mean(), kl=kl.mean(), nelbo=(recon + kl).mean(),
                          tc=tc, discriminator_loss=d_loss, discriminator_accuracy=accuracy)

    return loss_fn


# ------------------------------------------------------------------------------------- DIP-VAE
def batch_covariance(v: jax.Array) -> jax.Array:
    """Covariance [L, L] of the rows of v [B, L], dividing by B (as disentanglement_lib)."""
    mean = v.mean(axis=0)
    return (v[:, :, None] * v[:, None, :]).mean(axis=0) - mean[:, None] * mean[None, :]


def dip_covariance(mean: jax.Array, logvar: jax.Array, kind: str) -> jax.Array:
    """Cov[mean] for DIP-VAE-I; E[diag exp(logvar)] + Cov[mean] (Cov of q(z)) for DIP-VAE-II."""
    covariance = batch_covariance(mean)
    if kind == "dip_vae_i":
        return covariance
    return covariance + jnp.diag(jnp.exp(logvar).mean(axis=0))


def dip_penalty(covariance: jax.Array, lambda_od: jax.Array, lambda_d: jax.Array) -> jax.Array:
    """lambda_od * sum of squared off-diagonal entries + lambda_d * sum_i (C_ii - 1)^2."""
    diagonal = jnp.diagonal(covariance)
    off_diagonal = covariance - jnp.diag(diagonal)
    return lambda_od * jnp.sum(off_diagonal**2) + lambda_d * jnp.sum((diagonal - 1.0) ** 2)


def make_dip_vae_loss(model, log_likelihood, kind: str, corruption_kind: str = "none"):
    """recon + beta * KL + the DIP covariance penalty (batch term)."""

    def loss_fn(params, x, key, hparams, step=0):
        x_in, key = denoising.encoder_input(x, key, hparams, corruption_kind)
        outputs = model.apply({"params": params}, x_in, key)
        recon = reconstruction_nll(log_likelihood, x, outputs)
        kl_latents = gaussians.kl_per_latent(outputs["mean"], outputs["logvar"])
        kl = kl_latents.sum(axis=-1)
        penalty = dip_penalty(dip_covariance(outputs["mean"], outputs["logvar"], kind),
                              hparams.dip_lambda_od, hparams.dip_lambda_d)
        loss = kl_schedules.kl_loss(recon, kl_latents, hparams, step) + penalty
        return loss, dict(loss=loss, recon=recon.mean(), kl=kl.mean(), nelbo=(recon + kl).mean(),
                          dip_penalty=penalty)

    return loss_fn
