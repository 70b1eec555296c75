"""Discretised logistic likelihoods: known answers (the 256 bins sum to 1, limit cases) and
their use by the models, the losses and the importance-sampled likelihood."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import expit

from configs import test as test_config
from vae_jax import hparams, models, objectives
from vae_jax.errors import ConfigError
from vae_jax.metrics import per_example
from vae_jax.objectives import discretized

BINS = jnp.arange(256)


@pytest.mark.parametrize("mean,log_scale", list(itertools.product(
    (-20.0, -1.5, -1.0, -0.3, 0.0, 0.0039, 1.0, 5.0), (-9.0, -5.0, -3.0, 0.0, 3.0, 8.0))))
def test_logistic_bins_sum_to_one(mean, log_scale):
    log_p = discretized.logistic_logpmf(BINS, jnp.float32(mean), jnp.float32(log_scale))
    assert bool(jnp.all(jnp.isfinite(log_p)))
    # float32 round-off of 256 terms; PixelCNN++'s thresholded form is off by ~6.5e-6.
    assert abs(float(jnp.sum(jnp.exp(log_p))) - 1.0) < 1e-6


@pytest.mark.parametrize("k", [0, 1, 100, 254, 255])
def test_a_tiny_scale_puts_all_mass_on_the_nearest_bin(k):
    centre = (2 * k - 255) / 255  # the middle of bin k on the [-1, 1] scale
    log_p = discretized.logistic_logpmf(BINS, jnp.float32(centre + 0.3 / 255), jnp.float32(-12))
    assert int(jnp.argmax(log_p)) == k
    assert float(log_p[k]) > -1e-6
    assert float(jnp.max(jnp.delete(log_p, k))) < -50


def test_far_tail_is_exact_not_minus_infinity():
    # P(200 | mean=-1, s=e^-7) = e^{-a}(1 - e^{-d}) with a = lower edge * e^7 in closed form.
    lower = ((2 * 200 - 256) / 255 + 1) * math.exp(7)
    width = 2 / 255 * math.exp(7)
    expected = -lower + math.log(-math.expm1(-width))
    got = float(discretized.logistic_logpmf(jnp.array(200), jnp.float32(-1), jnp.float32(-7)))
    assert got == pytest.approx(expected, rel=1e-5)


def test_gradients_are_finite_at_extremes():
    grad = jax.grad(lambda m, s: jnp.sum(discretized.logistic_logpmf(BINS, m, s)), (0, 1))
    for mean, log_scale in [(0.0, -9.0), (5.0, -7.0), (-1.0, 8.0), (0.0039, -9.0)]:
        assert all(np.isfinite(g) for g in grad(jnp.float32(mean), jnp.float32(log_scale)))


def test_mixture_of_one_is_the_plain_logistic():
    key = jax.random.key(0)
    mean_key, scale_key, logit_key = jax.random.split(key, 3)
    means = jax.random.uniform(mean_key, (256, 1, 1), minval=-1.5, maxval=1.5)
    log_scales = jax.random.uniform(scale_key, (256, 1, 1), minval=-7, maxval=2)
    logits = jax.random.normal(logit_key, (256, 1))
    mixture = discretized.mixture_logpmf(BINS[:, None], logits, means, log_scales)
    plain = discretized.logistic_logpmf(BINS, means[:, 0, 0], log_scales[:, 0, 0])
    np.testing.assert_allclose(mixture, plain, atol=1e-6)


def test_coupled_two_channel_mixture_sums_to_one_over_all_pixel_values():
    m = 3
    rng = np.random.default_rng(1)
    logits = jnp.asarray(rng.normal(0, 2, m), jnp.float32)
    means = jnp.asarray(rng.uniform(-1.2, 1.2, (2, m)), jnp.float32)
    log_scales = jnp.asarray(rng.uniform(-6, 0, (2, m)), jnp.float32)
    coeffs = jnp.tanh(jnp.asarray(rng.normal(0, 1, (1, m)), jnp.float32))
    pixels = jnp.stack(jnp.meshgrid(BINS, BINS, indexing="ij"), axis=-1).reshape(-1, 2)
    log_p = discretized.mixture_logpmf(pixels, logits, means, log_scales, coeffs)
    assert abs(float(jnp.sum(jnp.exp(log_p))) - 1.0) < 1e-5  # 65,536 float32 terms


def test_mixture_likelihood_reads_its_output_layout():
    c, m, pixels = 3, 2, 5
    per = m * discretized.mixture_params_per_component(c)
    assert objectives.likelihood_channels("discretized_logistic_mixture", c, m) == per == 20
    assert objectives.likelihood_channels("discretized_logistic", c) == 6
    rng = np.random.default_rng(2)
    outputs = jnp.asarray(rng.normal(0, 1, (pixels, per)), jnp.float32)
    x = jnp.asarray(rng.integers(0, 256, (pixels, c)) / 255.0, jnp.float32)
    log_lik = objectives.make_log_likelihood("discretized_logistic_mixture", 0.1, c, m)
    got = log_lik(x.reshape(-1), {"logits": outputs.reshape(-1)})
    # By hand: layout [M logits | C x M means | C x M log-scales | 3 x M coefficients].
    k = jnp.round(x * 255).astype(jnp.int32)
    expected = discretized.mixture_logpmf(
        k, outputs[:, :m], outputs[:, m:m + c * m].reshape(-1, c, m),
        jnp.maximum(outputs[:, m + c * m:m + 2 * c * m].reshape(-1, c, m), -7.0),
        jnp.tanh(outputs[:, m + 2 * c * m:].reshape(-1, 3, m))).sum()
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def _colour_setup(likelihood):
    config = test_config.get_config()
    config.likelihood, config.binarization, config.num_mixtures = likelihood, "none", 3
    shape = (8, 8, 3)
    model = models.build(config, shape, objectives.likelihood_channels(likelihood, 3, 3))
    params = model.init(jax.random.key(1), jnp.zeros((1, *shape)), jax.random.key(2))["params"]
    images = jax.random.randint(jax.random.key(3), (4, *shape), 0, 256).astype(jnp.uint8)
    return config, model, params, images


@pytest.mark.parametrize("likelihood", objectives.DISCRETIZED)
def test_vae_trains_and_is_likelihood_works_with_discretized_logistics(likelihood):
    config, model, params, images = _colour_setup(likelihood)
    loss_fn = objectives.build(config, model, 4)
    x = images.astype(jnp.float32) / 255
    hp = hparams.from_config(config)
    grads, metrics = jax.grad(loss_fn, has_aux=True)(params, x, jax.random.key(4), hp, 0)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    # A known answer: with every parameter 0, q(z|x) = N(0, I) = p(z) and the decoder emits
    # zeros (means 0, log-scales 0, equal mixture weights, coefficients tanh(0) = 0), so each
    # importance weight is p(x) exactly and -log p(x) = -sum log P(k) under one logistic(0, 1)
    # on the [-1, 1] scale: P(k) = sigmoid((2k - 254)/255) - sigmoid((2k - 256)/255), the end
    # bins open. The IS likelihood (k = 64) and the ELBO both equal it, to float32 round-off.
    zero = jax.tree.map(jnp.zeros_like, params)
    log_lik = objectives.make_log_likelihood(likelihood, 0.1, 3, 3)
    nll = per_example.make_nll(model, log_lik, 64, 16)(zero, x, jax.random.key(5))["nll"]
    terms = per_example.make_elbo_terms(model, log_lik, "vae")(zero, x, jax.random.key(6))
    k = np.asarray(images, np.float64).reshape(len(images), -1)
    p = np.where(k == 0, expit(-254 / 255), np.where(
        k == 255, expit(-254 / 255), expit((2 * k - 254) / 255) - expit((2 * k - 256) / 255)))
    expected = -np.log(p).sum(axis=1)  # ~1,200 nats for random pixels (log 256 each: 1,065)
    np.testing.assert_allclose(nll, expected, rtol=1e-6)
    np.testing.assert_allclose(terms["nelbo"], expected, rtol=1e-6)


def test_discretized_likelihoods_refuse_binarised_data():
    config = test_config.get_config()
    config.likelihood = "discretized_logistic"
    with pytest.raises(ConfigError, match="binarization=none"):
        objectives.check_binarization(config)
    config.binarization = "none"
    objectives.check_binarization(config)


def test_bits_per_dim_is_nats_over_dims_ln2():
    assert float(objectives.bits_per_dim(jnp.float32(64 * 64 * 3 * math.log(2) * 2.5),
                                         (64, 64, 3))) == pytest.approx(2.5, rel=1e-6)
