"""The official Flax VAE example's training-step pattern, as shipped, for timing.

What the example ships (google/flax, examples/vae, Linen version; read via its `train.py`,
`models.py`, `input_pipeline.py`, `configs/default.py`): `Encoder`/`Decoder`/`VAE` linen modules
(Dense(500) relu -> Dense(20) mean / Dense(20) logvar; Dense(500) relu -> Dense(784) logits), a
loss of vmapped per-example `binary_cross_entropy_with_logits` (summed over pixels) + analytic
`kl_divergence`, each `.mean()` over the batch; `TrainState.create(..., tx=optax.adam(1e-3))`;
batch 128 from `tfds.as_numpy` of `binarized_mnist` (statically binarised floats on the host);
`rng, key = random.split(rng)` in Python before every step; and
`state = train_step(state, batch, key, config.latents)` where `train_step` is a plain Python
function -- NOT jitted. Up to early 2023 the example decorated it with `@jax.jit`
(`train_step(state, batch, z_rng)`); the decorator went away in the April 2023 restructuring
(flax PR #3046, whose diff removes `@jax.jit` above the step), and flax PR #5077 (Nov 2025, open
when this was written) still lists "add `nnx.jit` to `train_step`" among its changes to the
Linen example on main. So the shipped step runs op by op: `jax.grad` of `model.apply` and
`state.apply_gradients` dispatch every primitive eagerly from Python.

What is replicated here: the same modules, loss, TrainState/optax.adam, per-step Python key split
(new-style `random.key(0)` as in the current example) and host-numpy batches, one Python call
per batch. `flax_example_images_per_second` calls the un-jitted step exactly as shipped;
`flax_example_jitted_images_per_second` wraps the same step in
`jax.jit(static_argnums=3)` (one dispatch per batch, like the pre-2023 example; no donation).
Not replicated: the tf.data/tfds input pipeline; instead batches are pre-binarised float32
(one fixed Bernoulli draw per pixel, standing in for binarized_mnist) sliced from a shuffled
host numpy array, which costs less than the tf.data iterator it replaces.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from flax.training import train_state
from jax import random

from ._mnist import binarize

_WARMUP_STEPS = 3


class Encoder(nn.Module):
    latents: int

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(500, name="fc1")(x))
        mean_x = nn.Dense(self.latents, name="fc2_mean")(x)
        logvar_x = nn.Dense(self.latents, name="fc2_logvar")(x)
        return mean_x, logvar_x


class Decoder(nn.Module):
    @nn.compact
    def __call__(self, z):
        z = nn.relu(nn.Dense(500, name="fc1")(z))
        return nn.Dense(784, name="fc2")(z)


class VAE(nn.Module):
    latents: int = 20

    def setup(self):
        self.encoder = Encoder(self.latents)
        self.decoder = Decoder()

    def __call__(self, x, z_rng):
        mean, logvar = self.encoder(x)
        z = mean + random.normal(z_rng, logvar.shape) * jnp.exp(0.5 * logvar)
        return self.decoder(z), mean, logvar


@jax.vmap
def kl_divergence(mean, logvar):
    return -0.5 * jnp.sum(1 + logvar - jnp.square(mean) - jnp.exp(logvar))


@jax.vmap
def binary_cross_entropy_with_logits(logits, labels):
    logits = nn.log_sigmoid(logits)
    return -jnp.sum(labels * logits + (1.0 - labels) * jnp.log(-jnp.expm1(logits)))


def train_step(state, batch, z_rng, latents):
    """The example's step, verbatim in substance (the example does not jit it)."""

    def loss_fn(params):
        recon_x, mean, logvar = VAE(latents).apply({"params": params}, batch, z_rng)
        bce_loss = binary_cross_entropy_with_logits(recon_x, batch).mean()
        kld_loss = kl_divergence(mean, logvar).mean()
        return bce_loss + kld_loss

    grads = jax.grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads)


def _time_steps(step_fn, images, num_steps: int, batch_size: int, latents: int = 20) -> float:
    """Runs the example's outer loop around `step_fn`; returns images/s over `num_steps`."""
    data = binarize(np.asarray(images, np.float32).reshape(len(images), -1))
    data = data[np.random.default_rng(0).permutation(len(data))]
    # The example passes `rng` itself to init and splits it again afterwards; a third key here
    # keeps the run clean under jax_debug_key_reuse without changing the per-step pattern.
    rng, key, init_z_key = random.split(random.key(0), 3)
    init_data = jnp.ones((batch_size, 784), jnp.float32)
    state = train_state.TrainState.create(
        apply_fn=VAE(latents).apply,
        params=VAE(latents).init(key, init_data, init_z_key)["params"],
        tx=optax.adam(1e-3),
    )
    num_batches = len(data) // batch_size

    def run(state, rng, first_step, n):
        for i in range(first_step, first_step + n):
            j = i % num_batches
            batch = data[j * batch_size : (j + 1) * batch_size]  # host numpy, like tfds.as_numpy
            rng, key = random.split(rng)
            state = step_fn(state, batch, key, latents)
        return jax.block_until_ready(state), rng

    state, rng = run(state, rng, 0, _WARMUP_STEPS)
    start = time.perf_counter()
    state, _ = run(state, rng, _WARMUP_STEPS, num_steps)
    return num_steps * batch_size / (time.perf_counter() - start)


def flax_example_images_per_second(
    images: np.ndarray, num_steps: int, batch_size: int = 128
) -> float:
    """Images/s of the Flax VAE example's training loop as shipped (un-jitted `train_step`).

    Args:
      images: [N, 784] (or [N, 28, 28]) grey levels in [0, 1]; binarised once up front.
      num_steps: timed steps, after a few untimed warm-up steps.
      batch_size: images per step (128 in the example).
    """
    return _time_steps(train_step, images, num_steps, batch_size)


def flax_example_jitted_images_per_second(
    images: np.ndarray, num_steps: int, batch_size: int = 128
) -> float:
    """Same loop with the step under `jax.jit` (one compiled dispatch per batch)."""
    return _time_steps(jax.jit(train_step, static_argnums=3), images, num_steps, batch_size)
