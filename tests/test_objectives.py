import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from configs import vae as vae_config
from vae_jax import hparams, models, objectives
from vae_jax.objectives import gaussians


def test_kl_is_zero_at_the_prior():
    assert float(objectives.kl_to_standard_normal(jnp.zeros(5), jnp.zeros(5))) == 0.0


@pytest.mark.parametrize("mean,var", [(0.5, 0.3), (-2.0, 4.0), (1.0, 1.0)])
def test_kl_matches_numerical_integration(mean, var):
    q = stats.norm(mean, math.sqrt(var))
    p = stats.norm(0, 1)
    numeric, _ = integrate.quad(lambda z: q.pdf(z) * (q.logpdf(z) - p.logpdf(z)), -30, 30)
    closed = objectives.kl_to_standard_normal(jnp.array([mean]), jnp.log(jnp.array([var])))
    assert float(closed) == pytest.approx(numeric, rel=1e-5, abs=1e-6)


def test_bernoulli_log_likelihood_matches_scipy():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=50).astype(np.float32)
    logits = rng.normal(size=50).astype(np.float32) * 3
    expected = stats.bernoulli.logpmf(x, 1 / (1 + np.exp(-logits))).sum()
    got = objectives.bernoulli_log_likelihood(jnp.asarray(x), jnp.asarray(logits))
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_bernoulli_log_likelihood_is_stable_for_extreme_logits():
    got = objectives.bernoulli_log_likelihood(jnp.array([1.0, 0.0]), jnp.array([200.0, -200.0]))
    assert float(got) == pytest.approx(0.0, abs=1e-6)


def test_gaussian_log_likelihood_matches_scipy():
    rng = np.random.default_rng(1)
    x, mean = rng.normal(size=(2, 30))
    logvar = rng.normal(size=30)
    expected = stats.norm(mean, np.exp(0.5 * logvar)).logpdf(x).sum()
    got = objectives.gaussian_log_likelihood(jnp.asarray(x), jnp.asarray(mean), jnp.asarray(logvar))
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_diagonal_normal_log_density_matches_scipy():
    z, mean, logvar = np.array([0.3, -1.0]), np.array([0.1, 0.5]), np.array([0.2, -0.7])
    expected = stats.multivariate_normal(mean, np.diag(np.exp(logvar))).logpdf(z)
    assert float(gaussians.log_diagonal_normal(z, mean, logvar)) == pytest.approx(expected)
    assert float(gaussians.log_standard_normal(z)) == pytest.approx(
        stats.multivariate_normal(np.zeros(2), np.eye(2)).logpdf(z))


def _vae_setup(beta):
    config = vae_config.get_config()
    config.hidden, config.latents = (16,), 3
    model = models.build(config, (4, 4, 1))
    x = (jax.random.uniform(jax.random.key(0), (5, 4, 4, 1)) > 0.5).astype(jnp.float32)
    params = model.init(jax.random.key(1), x, jax.random.key(2))["params"]
    config.beta = beta
    return config, model, params, x


def test_vae_loss_is_recon_plus_beta_kl_computed_by_hand():
    config, model, params, x = _vae_setup(beta=4.0)
    loss_fn = objectives.build(config, model)
    key = jax.random.key(3)
    loss, metrics = loss_fn(params, x, jax.random.clone(key), hparams.from_config(config))
    out = model.apply({"params": params}, x, jax.random.clone(key))  # the same noise
    recon, kl = [], []
    for i in range(5):  # by hand, one example at a time, with numpy
        p = 1 / (1 + np.exp(-np.asarray(out["logits"][i], np.float64)))
        xi = np.asarray(x[i], np.float64)
        recon.append(-np.sum(xi * np.log(p) + (1 - xi) * np.log1p(-p)))
        m, lv = np.asarray(out["mean"][i], np.float64), np.asarray(out["logvar"][i], np.float64)
        kl.append(0.5 * np.sum(np.exp(lv) + m**2 - 1 - lv))
    recon, kl = np.array(recon), np.array(kl)
    np.testing.assert_allclose(metrics["recon"], recon.mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics["kl"], kl.mean(), rtol=1e-5)
    np.testing.assert_allclose(loss, (recon + 4.0 * kl).mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics["nelbo"], (recon + kl).mean(), rtol=1e-5)


def test_ae_loss_is_the_reconstruction_only():
    config, _, _, x = _vae_setup(beta=1.0)
    config.model = "ae"
    model = models.build(config, (4, 4, 1))
    params = model.init(jax.random.key(1), x)["params"]
    loss, metrics = objectives.build(config, model)(params, x, None, hparams.from_config(config))
    logits = model.apply({"params": params}, x)["logits"]
    expected = -jax.vmap(objectives.bernoulli_log_likelihood)(x, logits).mean()
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    assert set(metrics) == {"loss", "recon"}


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "gaussian_learned"])
def test_reconstruction_nll_pairs_every_pixel_with_its_own_outputs(likelihood):
    # reconstruction_nll flattens the pixels (faster on CPU): each pixel must still meet its
    # own logit and, for a learned variance, its own log-variance.
    log_likelihood = objectives.make_log_likelihood(likelihood, 0.3)
    x = jax.random.uniform(jax.random.key(0), (3, 4, 5, 2))
    outputs = {"logits": jax.random.normal(jax.random.key(1), x.shape),
               "mean": jnp.zeros((3, 2)), "logvar": jnp.zeros((3, 2))}
    if likelihood == "gaussian_learned":
        outputs["x_logvar"] = jax.random.normal(jax.random.key(2), x.shape[1:])
    expected = [-log_likelihood(x[i], {"logits": outputs["logits"][i],
                                       "x_logvar": outputs.get("x_logvar")}) for i in range(3)]
    np.testing.assert_allclose(objectives.reconstruction_nll(log_likelihood, x, outputs),
                               expected, rtol=1e-6)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "gaussian_learned"])
def test_decoder_log_likelihood_of_many_samples_equals_one_sample_at_a_time(likelihood):
    # decoder_log_likelihood vmaps the training loss's likelihood over the samples z_s.
    config = vae_config.get_config()
    config.hidden, config.latents, config.likelihood = (16,), 3, likelihood
    model = models.build(config, (4, 4, 1))
    x = jax.random.uniform(jax.random.key(0), (5, 4, 4, 1))
    params = model.init(jax.random.key(1), x, jax.random.key(2))["params"]
    if "x_logvar" in params:  # a pixel variance that is not the same everywhere
        params["x_logvar"] = jax.random.normal(jax.random.key(3), params["x_logvar"].shape)
    z = jax.random.normal(jax.random.key(4), (7, 5, 3))
    log_likelihood = objectives.make_log_likelihood(config.likelihood, config.pixel_std)
    many = objectives.decoder_log_likelihood(model, log_likelihood, params)(x, z)
    shared = {"x_logvar": params["x_logvar"]} if "x_logvar" in params else {}
    one_at_a_time = jnp.stack([-objectives.reconstruction_nll(log_likelihood, x, {
        "logits": model.apply({"params": params}, z_s, method="decode"), **shared})
        for z_s in z])
    assert many.shape == (7, 5)
    np.testing.assert_allclose(many, one_at_a_time, rtol=1e-5, atol=1e-4)
