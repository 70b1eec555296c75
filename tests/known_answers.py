"""Helpers the objective tests share: a tiny model on 4x4 binary images, and the numpy
reference densities the losses are checked against (float64, one formula each)."""

import jax
import jax.numpy as jnp
import numpy as np

from vae_jax import models

SHAPE = (4, 4, 1)


def small_model(config, fields: dict):
    """(config with `fields` set, model, its params, 6 binary images of SHAPE)."""
    for name, value in fields.items():
        config[name] = value
    net = models.build(config, SHAPE)
    x = (jax.random.uniform(jax.random.key(0), (6, *SHAPE)) > 0.5).astype(jnp.float32)
    params = net.init(jax.random.key(1), x, jax.random.key(2))["params"]
    return config, net, params, x


def bernoulli_nll(x, logits):
    """-log p(x | logits) per example, summed over every other axis."""
    x, logits = np.asarray(x, np.float64), np.asarray(logits, np.float64)
    return -np.sum(x * logits - np.logaddexp(0, logits), axis=tuple(range(1, x.ndim)))


def log_normal(z, mean, logvar):
    """log N(z; mean, exp(logvar)) summed over the last axis."""
    return -0.5 * np.sum(np.log(2 * np.pi) + logvar + (z - mean) ** 2 / np.exp(logvar), axis=-1)
