"""The VQ-VAE objective (van den Oord et al. 2017), per example then averaged:

    -log p(x | z_q) + ||sg[z_e] - e||^2 + commitment_beta * ||z_e - sg[e]||^2,

squared distances summed over the `latents` code vectors and their dimensions (the
reconstruction term is summed over pixels too). With an EMA codebook (`vq_ema`) the middle
term is dropped and the codebook follows moving averages instead (`ema_update`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from vae_jax.objectives.likelihoods import reconstruction_nll

EMA_EPSILON = 1e-5  # Laplace smoothing of the cluster sizes: no entry divides by zero


def ema_update(quantizer: dict, z_e: jax.Array, indices: jax.Array, decay: float) -> dict:
    """The quantizer's next parameters under EMA (paper appendix A.1, Laplace-smoothed counts):
    N_k <- d N_k + (1 - d) n_k, m_k <- d m_k + (1 - d) sum of the z_e assigned to k,
    e_k <- m_k / N_k."""
    codebook_size, code_dim = quantizer["embedding"].shape
    one_hot = jax.nn.one_hot(indices.reshape(-1), codebook_size, dtype=z_e.dtype)
    flat = jax.lax.stop_gradient(z_e).reshape(-1, code_dim)
    size = decay * quantizer["ema_cluster_size"] + (1 - decay) * one_hot.sum(axis=0)
    embed_sum = decay * quantizer["ema_embed_sum"] + (1 - decay) * (one_hot.T @ flat)
    total = size.sum()
    smoothed = (size + EMA_EPSILON) / (total + codebook_size * EMA_EPSILON) * total
    new = dict(embedding=embed_sum / smoothed[:, None], ema_cluster_size=size,
               ema_embed_sum=embed_sum)
    return jax.tree.map(jax.lax.stop_gradient, new)


def batch_perplexity(indices: jax.Array, codebook_size: int) -> jax.Array:
    """exp(entropy of the batch's code usage): the number of entries in effective use."""
    probs = jax.nn.one_hot(indices.reshape(-1), codebook_size).mean(axis=0)
    return jnp.exp(-jnp.sum(probs * jnp.log(jnp.where(probs > 0, probs, 1.0))))


def make_vq_loss(model, log_likelihood, encoder_input, ema_decay: float | None = None):
    """loss_fn(params, x, key, hparams, step) for a VQVAE. `encoder_input(x, key, hparams)`
    -> (what the encoder sees, key): the denoising hook the other objectives share.
    `ema_decay` None = a codebook trained by the codebook loss; else its EMA decay, and the
    metrics carry `state_updates` {'quantizer': next parameters} for the train step."""

    def loss_fn(params, x, key, hparams, step=0):
        del step  # no schedule acts on a VQ-VAE
        x_in, _ = encoder_input(x, key, hparams)
        outputs = model.apply({"params": params}, x_in)
        recon = reconstruction_nll(log_likelihood, x, outputs)
        z_e, z_q = outputs["z_e"], outputs["z_q"]
        codebook = jnp.sum((jax.lax.stop_gradient(z_e) - z_q) ** 2, axis=(-2, -1))
        commitment = jnp.sum((z_e - jax.lax.stop_gradient(z_q)) ** 2, axis=(-2, -1))
        per_example = recon + hparams.commitment_beta * commitment
        if ema_decay is None:
            per_example = per_example + codebook
        loss = per_example.mean()
        metrics = dict(loss=loss, recon=recon.mean(), codebook=codebook.mean(),
                       commitment=commitment.mean(),
                       perplexity=batch_perplexity(outputs["indices"], model.codebook_size))
        if ema_decay is not None:
            metrics["state_updates"] = {"quantizer": ema_update(
                params["quantizer"], z_e, outputs["indices"], ema_decay)}
        return loss, metrics

    return loss_fn
