"""What the encoder sees: the clean batch, or a corrupted copy of it (denoising objectives)."""

from __future__ import annotations

import jax

from vae_jax.data import corruption
from vae_jax.hparams import Hparams


def encoder_input(x, key, hparams: Hparams, kind: str):
    """(what the encoder sees, the key left for the model). Denoising draws its noise from
    its own split of the key; without corruption the key is passed on untouched."""
    if kind == "none":
        return x, key
    noise_key, key = jax.random.split(key)
    return corruption.corrupt(noise_key, x, kind, hparams.noise_level), key
