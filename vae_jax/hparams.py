"""Hparams: everything that may differ between the members of one compiled population.

Only arrays go here (STYLE 7): a field of `Hparams` is a float scalar per member, so a whole
sweep over it is one `vmap`. Anything that changes shapes or control flow is static config.
The model seed is not a field: it enters as the member's PRNG keys (see population.py).
"""

from __future__ import annotations

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np


@flax.struct.dataclass
class Hparams:
    beta: jax.Array  # weight of the KL term (1 = the ELBO); beta-TCVAE: of the TC term
    learning_rate: jax.Array  # peak learning rate; the schedule's shape is static config
    # Denoising: std of Gaussian noise, or the rate of salt-and-pepper / masked pixels.
    noise_level: jax.Array
    # Sparse and contractive AEs: weight of the penalty; target activation of sparse_kl.
    penalty_weight: jax.Array
    sparsity_target: jax.Array
    # beta-TCVAE (Chen et al. 2018): weights of the index-code MI and dimension-wise KL terms.
    tc_alpha: jax.Array
    tc_gamma: jax.Array
    # KL schedules; each is off at 0. beta grows linearly over the first kl_warmup_steps;
    # free_bits floors each latent's batch-mean KL (nats); capacity annealing (Burgess et al.)
    # replaces KL by |KL - C(t)|, C growing linearly to capacity_max over capacity_steps.
    kl_warmup_steps: jax.Array
    free_bits: jax.Array
    capacity_max: jax.Array
    capacity_steps: jax.Array
    # FactorVAE (Kim & Mnih 2018): weight of the discriminator's total-correlation estimate.
    factor_vae_gamma: jax.Array
    # DIP-VAE (Kumar et al. 2018): weights of the off-diagonal and diagonal covariance terms.
    dip_lambda_od: jax.Array
    dip_lambda_d: jax.Array
    # VQ-VAE: weight of the commitment loss ||z_e - sg[e]||^2 (the paper's beta).
    commitment_beta: jax.Array


FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Hparams))
# Ramps that a config may give in epochs instead of steps: converted to the steps field once the
# dataset's size fixes the steps per epoch (train.population.in_steps).
EPOCH_FIELDS: dict[str, str] = {"kl_warmup_epochs": "kl_warmup_steps",
                                "capacity_epochs": "capacity_steps"}
# Config fields a population may vary: the Hparams arrays, ramps in epochs and the model seed.
SWEEPABLE: tuple[str, ...] = FIELDS + tuple(EPOCH_FIELDS) + ("seed",)


def from_config(config) -> Hparams:
    """One member's Hparams, read from the config fields of the same names."""
    return Hparams(**{name: jnp.asarray(config[name], jnp.float32) for name in FIELDS})


def as_dict(hparams: Hparams) -> dict[str, float]:
    """One member's values as plain floats, for logs and reports."""
    return {name: float(np.asarray(getattr(hparams, name))) for name in FIELDS}
