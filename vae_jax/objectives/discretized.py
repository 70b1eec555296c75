"""Discretised logistic likelihoods of 8-bit pixels (PixelCNN++, Salimans et al. 2017; VDVAE).

A pixel value k in 0..255 is the bin [(2k - 256)/255, (2k - 254)/255] of a logistic on the
[-1, 1] scale; bins 0 and 255 extend to -inf and +inf, so the 256 probabilities sum to 1.

Numerics: the bin edges are computed straight from k, so neighbouring bins share the very same
float edge and the CDFs telescope (edges from `x = 2k/255 - 1` and then `x +- 1/255` leave gaps
of ~6e-8 that put the sum off by ~4e-6 in float32). An interior bin's log-probability is
`log(sigmoid(a) - sigmoid(b)) = log_sigmoid(a) + log_sigmoid(-b) + log(-expm1(b - a))`, exact in
both tails, with no threshold or density fallback (PixelCNN++'s thresholded form is off by
~6.5e-6 in total mass, a modelling error). Every branch is finite, so gradients are too.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# The smallest log-scale a decoder can ask for (PixelCNN++'s floor): a sharper logistic puts
# all its mass on one bin already, and its gradients only grow.
MIN_LOG_SCALE = -7.0


def logistic_logpmf(k: jax.Array, mean: jax.Array, log_scale: jax.Array) -> jax.Array:
    """log P(k | mean, log_scale) elementwise, for integer bins k in 0..255 and a logistic of
    location `mean` (on the [-1, 1] scale) and scale exp(log_scale)."""
    k = jnp.asarray(k).astype(jnp.int32)
    dtype = jnp.result_type(mean, log_scale)
    inv_scale = jnp.exp(-log_scale)
    upper = inv_scale * ((2 * k - 254).astype(dtype) / 255.0 - mean)
    lower = inv_scale * ((2 * k - 256).astype(dtype) / 255.0 - mean)
    interior = (jax.nn.log_sigmoid(upper) + jax.nn.log_sigmoid(-lower)
                + jnp.log(-jnp.expm1(lower - upper)))
    return jnp.where(k == 0, jax.nn.log_sigmoid(upper),
                     jnp.where(k == 255, jax.nn.log_sigmoid(-lower), interior))


def mixture_params_per_component(channels: int) -> int:
    """A component's outputs per pixel: its weight logit, a mean and a log-scale per channel,
    and one coefficient per pair of channels (channel c's mean moves with channels j < c)."""
    return 1 + 2 * channels + channels * (channels - 1) // 2


def pixel_bins(x: jax.Array) -> jax.Array:
    """Pixels in [0, 1] (uint8 / 255) -> their integer bins 0..255."""
    return jnp.round(x * 255.0).astype(jnp.int32)


def logistic_log_likelihood(x: jax.Array, outputs: jax.Array, channels: int) -> jax.Array:
    """log p(x) summed over the pixels of one example: x flat [P * C] in [0, 1], outputs flat
    [P * 2C] (per pixel: C means, then C log-scales)."""
    k = pixel_bins(x).reshape(-1, channels)
    params = outputs.reshape(k.shape[0], 2 * channels)
    mean, log_scale = params[:, :channels], params[:, channels:]
    return jnp.sum(logistic_logpmf(k, mean, jnp.maximum(log_scale, MIN_LOG_SCALE)))


def mixture_logpmf(k: jax.Array, logit_probs: jax.Array, means: jax.Array,
                   log_scales: jax.Array, coeffs: jax.Array | None = None) -> jax.Array:
    """log P(pixel k [..., C]) under a mixture over the last axis of `logit_probs` [..., M],
    `means`, `log_scales` [..., C, M] and, for C > 1, `coeffs` [..., C(C-1)/2, M] in (-1, 1):
    the mean of channel c moves by coeff * (the pixel's channel j on the [-1, 1] scale), j < c,
    in the order (1,0), (2,0), (2,1), ... (PixelCNN++'s RGB coupling for C = 3)."""
    channels = k.shape[-1]
    x = (2.0 * k.astype(means.dtype) / 255.0 - 1.0)[..., None]  # [..., C, 1]
    shifted, pair = [], 0
    for c in range(channels):
        mean = means[..., c, :]
        for j in range(c):
            mean = mean + coeffs[..., pair, :] * x[..., j, :]
            pair += 1
        shifted.append(mean)
    shifted = jnp.stack(jnp.broadcast_arrays(*shifted), axis=-2)  # [..., C, M]
    per_channel = logistic_logpmf(k[..., None], shifted, log_scales)
    return jax.nn.logsumexp(jax.nn.log_softmax(logit_probs, axis=-1)
                            + per_channel.sum(axis=-2), axis=-1)


def mixture_log_likelihood(x: jax.Array, outputs: jax.Array, channels: int,
                           num_mixtures: int) -> jax.Array:
    """log p(x) summed over the pixels of one example: x flat [P * C] in [0, 1], outputs flat
    [P * M * mixture_params_per_component(C)], per pixel laid out as M weight logits, C x M
    means, C x M log-scales, C(C-1)/2 x M coupling coefficients (through tanh)."""
    k = pixel_bins(x).reshape(-1, channels)
    params = outputs.reshape(k.shape[0], -1)
    m, c, pairs = num_mixtures, channels, channels * (channels - 1) // 2
    logit_probs = params[:, :m]
    means = params[:, m:m + c * m].reshape(-1, c, m)
    log_scales = params[:, m + c * m:m + 2 * c * m].reshape(-1, c, m)
    coeffs = jnp.tanh(params[:, m + 2 * c * m:].reshape(-1, pairs, m)) if pairs else None
    return jnp.sum(mixture_logpmf(k, logit_probs, means,
                                  jnp.maximum(log_scales, MIN_LOG_SCALE), coeffs))


# ------------------------------------------------------------------------- images in [0, 1]
def logistic_bin_mean(mean: jax.Array, log_scale: jax.Array) -> jax.Array:
    """E[k] / 255 in [0, 1] for the discretised logistic of `mean` and `log_scale` (elementwise):
    E[k] = sum_{j=1..255} P(k >= j) = sum_j sigmoid((mean - lower edge of bin j) / scale),
    exact (the clamped end bins included); XLA fuses the sum, nothing [..., 255] is held."""
    edges = (2.0 * jnp.arange(1, 256, dtype=mean.dtype) - 256.0) / 255.0
    inv_scale = jnp.exp(-jnp.maximum(log_scale, MIN_LOG_SCALE))[..., None]
    return jnp.sum(jax.nn.sigmoid(inv_scale * (mean[..., None] - edges)), axis=-1) / 255.0


def _logistic_draw(key: jax.Array, mean: jax.Array, log_scale: jax.Array) -> jax.Array:
    """Integer bins k ~ the discretised logistic (a logistic draw, then its bin)."""
    u = jax.random.uniform(key, mean.shape, mean.dtype, 1e-5, 1.0 - 1e-5)
    x = mean + jnp.exp(jnp.maximum(log_scale, MIN_LOG_SCALE)) * (jnp.log(u) - jnp.log1p(-u))
    # Bin k covers [(2k - 256)/255, (2k - 254)/255]; the end bins take the tails.
    return jnp.clip(jnp.floor((255.0 * x + 256.0) / 2.0), 0, 255)


def logistic_mean_image(outputs: jax.Array, channels: int) -> jax.Array:
    """outputs [..., 2C] (C means, then C log-scales per pixel) -> E[x] [..., C] in [0, 1]."""
    return logistic_bin_mean(outputs[..., :channels], outputs[..., channels:2 * channels])


def logistic_sample_image(key: jax.Array, outputs: jax.Array, channels: int) -> jax.Array:
    """outputs [..., 2C] -> a draw of x [..., C], pixel values k / 255."""
    return _logistic_draw(key, outputs[..., :channels], outputs[..., channels:2 * channels]) / 255.0


def _mixture_params(outputs: jax.Array, channels: int, num_mixtures: int):
    """outputs [..., M * per component] -> weight logits [..., M], means and log-scales
    [..., C, M], coupling coefficients [..., C(C-1)/2, M] (the likelihood's layout)."""
    m, c = num_mixtures, channels
    batch = outputs.shape[:-1]
    means = outputs[..., m:m + c * m].reshape(*batch, c, m)
    log_scales = outputs[..., m + c * m:m + 2 * c * m].reshape(*batch, c, m)
    coeffs = jnp.tanh(outputs[..., m + 2 * c * m:].reshape(*batch, -1, m))
    return outputs[..., :m], means, log_scales, coeffs


def mixture_mean_image(outputs: jax.Array, channels: int, num_mixtures: int) -> jax.Array:
    """outputs [..., M * per component] -> E[x] [..., C] in [0, 1]: the weighted means of the
    components. Exact for one channel; with the coupling of C > 1 channels, channel c's
    location moves with the component's mean of the channels before it (E[x_j] in place of
    x_j, exact when the coefficients are 0)."""
    logit_probs, means, log_scales, coeffs = _mixture_params(outputs, channels, num_mixtures)
    expected, pair = [], 0  # per channel [..., M], on the [0, 1] scale
    for c in range(channels):
        location = means[..., c, :]
        for j in range(c):
            location = location + coeffs[..., pair, :] * (2.0 * expected[j] - 1.0)
            pair += 1
        expected.append(logistic_bin_mean(location, log_scales[..., c, :]))
    weights = jax.nn.softmax(logit_probs, axis=-1)[..., None, :]
    return jnp.sum(weights * jnp.stack(expected, axis=-2), axis=-1)


def mixture_sample_image(key: jax.Array, outputs: jax.Array, channels: int,
                         num_mixtures: int) -> jax.Array:
    """outputs [..., M * per component] -> a draw of x [..., C]: a component per pixel, then
    its channels in order, each moved by the coupling with the drawn channels before it."""
    logit_probs, means, log_scales, coeffs = _mixture_params(outputs, channels, num_mixtures)
    component_key, *channel_keys = jax.random.split(key, channels + 1)
    chosen = jax.random.categorical(component_key, logit_probs)[..., None, None]
    pick = lambda a: jnp.take_along_axis(a, chosen, axis=-1)[..., 0]  # noqa: E731
    means, log_scales, coeffs = pick(means), pick(log_scales), pick(coeffs)
    drawn, pair = [], 0  # per channel [...], bins 0..255
    for c in range(channels):
        location = means[..., c]
        for j in range(c):
            location = location + coeffs[..., pair] * (2.0 * drawn[j] / 255.0 - 1.0)
            pair += 1
        drawn.append(_logistic_draw(channel_keys[c], location, log_scales[..., c]))
    return jnp.stack(drawn, axis=-1) / 255.0
