"""KL weights and shapes over training: beta warm-up, free bits, capacity annealing.

All of them read Hparams arrays and the member's step, so a population may sweep them; each
is off at 0, and off they leave the plain beta-ELBO's arithmetic untouched.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from vae_jax.hparams import Hparams


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


def kl_loss(recon: jax.Array, kl_latents: jax.Array, hparams: Hparams, step) -> jax.Array:
    """mean(recon + beta * KL), with the KL schedules when any is on. Off, the value is
    computed exactly as the plain beta-ELBO: adding the schedules moved no bit of a plain run."""
    step = jnp.asarray(step, jnp.float32)
    beta = kl_weight(hparams, step)
    plain = (recon + beta * kl_latents.sum(axis=-1)).mean()
    shaped = recon.mean() + beta * scheduled_kl(kl_latents, hparams, step)
    return jnp.where((hparams.free_bits > 0) | (hparams.capacity_max > 0), shaped, plain)
