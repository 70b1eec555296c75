"""Pixel log-likelihoods p(x | decoder outputs), per example, in nats.

The decoder always returns `logits`; a likelihood says how to read them (Bernoulli logits, or a
Gaussian mean through a sigmoid), so one decoder serves every likelihood. Every likelihood
sums over the flat pixels of one example (`reconstruction_nll` flattens).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from vae_jax.errors import ConfigError
from vae_jax.objectives import discretized, gaussians

# Likelihoods of 8-bit pixel values (probabilities of the 256 bins): they read the images as
# they are (binarization=none) and their negative ELBO converts to bits per dimension.
DISCRETIZED = ("discretized_logistic", "discretized_logistic_mixture")


def bernoulli_log_likelihood(x: jax.Array, logits: jax.Array) -> jax.Array:
    """log p(x | logits) for pixels x in [0, 1], summed over pixels.

    x * logits - softplus(logits) == x log sigmoid(l) + (1 - x) log sigmoid(-l), but stable.
    """
    # jax.nn.softplus, not max(l, 0) + log1p(exp(-|l|)): with the latter XLA:CPU fuses the
    # decoder, the likelihood and the sums into one YNNPACK fusion that runs the importance-
    # sampled likelihood 4x slower (docs/performance.md).
    return jnp.sum(x * logits - jax.nn.softplus(logits))


def gaussian_log_likelihood(x: jax.Array, mean: jax.Array, logvar: jax.Array) -> jax.Array:
    """log N(x; mean, exp(logvar)) summed over all elements (logvar broadcasts)."""
    return jnp.sum(gaussians.log_normal_per_dim(x, mean, logvar))


def make_log_likelihood(likelihood: str, pixel_std: float, channels: int = 1,
                        num_mixtures: int = 1) -> Callable[..., jax.Array]:
    """Per-example log p(x | decoder outputs) for the configured likelihood.

    Gaussian likelihoods read the decoder's logits through a sigmoid as the mean, so the
    same decoder serves Bernoulli and Gaussian data in [0, 1]. The discretised logistics read
    `likelihood_channels` outputs per pixel for images of `channels` channels.
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
    if likelihood == "discretized_logistic":
        return lambda x, out: discretized.logistic_log_likelihood(x, out["logits"], channels)
    # discretized_logistic_mixture, the last of models.LIKELIHOODS (validated in validation.py)
    return lambda x, out: discretized.mixture_log_likelihood(x, out["logits"], channels,
                                                             num_mixtures)


def likelihood_channels(likelihood: str, channels: int, num_mixtures: int = 1) -> int:
    """Decoder outputs per pixel that `likelihood` reads for images of `channels` channels."""
    if likelihood == "discretized_logistic":
        return 2 * channels  # a mean and a log-scale per channel
    if likelihood == "discretized_logistic_mixture":
        return num_mixtures * discretized.mixture_params_per_component(channels)
    return channels


# ------------------------------------------------------------------ images from the decoder
# One pair per likelihood: (logits [..., H, W, K]) -> its mean image E[x], and
# (key, logits, pixel log-variance) -> a draw of x; both [..., H, W, C] in [0, 1], the data's
# shape. Every consumer that turns decoder outputs into pixels (figures, the API, denoising
# PSNR, the codebook's mse) goes through these, never through its own sigmoid.
def _sigmoid_mean(logits, channels, num_mixtures):
    del channels, num_mixtures  # one output per pixel channel
    return jax.nn.sigmoid(logits)  # Bernoulli: the pixel probability; Gaussian: its mean


def _bernoulli_sample(key, logits, logvar, channels, num_mixtures):
    del logvar, channels, num_mixtures
    return jax.random.bernoulli(key, jax.nn.sigmoid(logits)).astype(logits.dtype)


def _gaussian_sample(key, logits, logvar, channels, num_mixtures):
    """A draw of N(sigmoid(logits), exp(logvar)), clipped to the image range [0, 1]."""
    del channels, num_mixtures
    noise = jax.random.normal(key, logits.shape, logits.dtype)
    return jnp.clip(jax.nn.sigmoid(logits) + jnp.exp(0.5 * logvar) * noise, 0.0, 1.0)


def _logistic_mean(logits, channels, num_mixtures):
    del num_mixtures
    return discretized.logistic_mean_image(logits, channels)


def _logistic_sample(key, logits, logvar, channels, num_mixtures):
    del logvar, num_mixtures
    return discretized.logistic_sample_image(key, logits, channels)


def _mixture_mean(logits, channels, num_mixtures):
    return discretized.mixture_mean_image(logits, channels, num_mixtures)


def _mixture_sample(key, logits, logvar, channels, num_mixtures):
    del logvar
    return discretized.mixture_sample_image(key, logits, channels, num_mixtures)


IMAGES = {  # likelihood -> (mean image, sample image)
    "bernoulli": (_sigmoid_mean, _bernoulli_sample),
    "gaussian": (_sigmoid_mean, _gaussian_sample),
    "gaussian_learned": (_sigmoid_mean, _gaussian_sample),
    "discretized_logistic": (_logistic_mean, _logistic_sample),
    "discretized_logistic_mixture": (_mixture_mean, _mixture_sample),
}


def make_mean_image(likelihood: str, channels: int,
                    num_mixtures: int = 1) -> Callable[[jax.Array], jax.Array]:
    """logits [..., H, W, likelihood_channels] -> the likelihood's mean image E[x | logits]
    [..., H, W, channels] in [0, 1]: what figures, reconstructions and denoising show."""
    mean = IMAGES[likelihood][0]
    return lambda logits: mean(logits, channels, num_mixtures)


def make_sample_image(likelihood: str, pixel_std: float, channels: int,
                      num_mixtures: int = 1) -> Callable[..., jax.Array]:
    """(key, logits, x_logvar=None) -> one draw of x ~ p(x | logits) [..., H, W, channels] in
    [0, 1]. `x_logvar` is gaussian_learned's parameter; `pixel_std` the fixed Gaussian's."""
    sample = IMAGES[likelihood][1]
    fixed_logvar = 2.0 * math.log(pixel_std)

    def sample_image(key, logits, x_logvar=None):
        if likelihood == "gaussian_learned" and x_logvar is None:
            raise ValueError("gaussian_learned draws with its learned x_logvar: pass it")
        logvar = fixed_logvar if likelihood == "gaussian" else x_logvar
        return sample(key, logits, logvar, channels, num_mixtures)

    return sample_image


def check_binarization(config) -> None:
    """The discretised likelihoods model the 256 pixel values: binarised data cannot work."""
    if config.likelihood in DISCRETIZED and (config.binarization != "none"
                                             or config.dataset == "binarized_mnist"):
        raise ConfigError(
            f"likelihood={config.likelihood} models 8-bit pixel values; the data must not be "
            f"binarised (binarization={config.binarization!r}, dataset={config.dataset!r}): "
            "set --config.binarization=none")


def bits_per_dim(nats: jax.Array, image_shape) -> jax.Array:
    """Nats per image -> bits per dimension (per pixel channel)."""
    return nats / (math.prod(image_shape) * math.log(2.0))


def reconstruction_nll(log_likelihood, x: jax.Array, outputs: dict) -> jax.Array:
    """-log p(x | z) per example, [batch], for x [batch, ...] and the decoder's `outputs`."""
    # Over flat pixels: every likelihood sums over all of them, and XLA:CPU runs the sum and
    # its gradient over [B, 784] faster than over [B, 28, 28, 1] (an MLP epoch ~1.1x,
    # eval/nll 2x: docs/performance.md), with bit-identical results; only a learned pixel
    # variance's gradient sums in another order (round-off).
    batch = x.shape[0]
    per_example = {"logits": outputs["logits"].reshape(batch, -1)}
    # A learned pixel log-variance is a parameter, not a per-example output: it stays out of
    # the vmapped axis.
    shared = {"x_logvar": outputs["x_logvar"].reshape(-1)} if "x_logvar" in outputs else {}
    return -jax.vmap(lambda xi, oi: log_likelihood(xi, {**oi, **shared}))(
        x.reshape(batch, -1), per_example)


def decoder_log_likelihood(model, log_likelihood, params):
    """log_px_z(x [B,...], z [S,B,L]) = log p(x | z_s) for every sample s, [S, B]."""
    # A learned pixel log-variance is a parameter shared by every sample and example.
    shared = {"x_logvar": params["x_logvar"]} if "x_logvar" in params else {}

    def log_px_z(x, z):
        logits = model.apply({"params": params}, z, method="decode")
        return jax.vmap(lambda sample_logits: -reconstruction_nll(
            log_likelihood, x, {"logits": sample_logits, **shared}))(logits)

    return log_px_z
