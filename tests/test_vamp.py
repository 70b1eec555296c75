"""The VampPrior VAE: its prior, loss and likelihood against numpy, its figures, populations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from configs import test as test_config
from tests.known_answers import SHAPE, likelihood_run_config, member_and_lone_run, small_model
from tests.known_answers import bernoulli_nll as _bernoulli_nll
from tests.known_answers import log_normal as _log_normal
from vae_jax import hparams, models, objectives
from vae_jax.objectives import priors
from vae_jax.report import member_figures


def _setup(**fields):
    config = test_config.get_config()
    config.model, config.hidden, config.latents, config.vamp_components = "vamp_vae", (16,), 3, 5
    return small_model(config, fields)


def _vamp_log_prior(net, params, z):
    """log (1/K) sum_k N(z; q(.|u_k)) by numpy, u_k the clipped pseudo-inputs."""
    pseudo = np.clip(np.asarray(params["pseudo_inputs"]), 0, 1)
    mean, logvar = (np.asarray(a, np.float64) for a in net.apply(
        {"params": params}, jnp.asarray(pseudo), method="encode"))
    per_component = np.stack([_log_normal(z, mean[k], logvar[k]) for k in range(len(mean))], -1)
    return logsumexp(per_component, axis=-1) - np.log(len(mean))


def test_pseudo_inputs_are_parameters_initialised_as_in_the_paper():
    _, _, params, _ = _setup(vamp_components=400)
    pseudo = np.asarray(params["pseudo_inputs"])
    assert pseudo.shape == (400, *SHAPE)
    assert pseudo.mean() == pytest.approx(0.05, abs=0.002)
    assert pseudo.std() == pytest.approx(0.01, rel=0.05)


def test_vamp_elbo_by_hand_with_a_sampled_kl():
    config, net, params, x = _setup(beta=0.7)
    key = jax.random.key(7)
    loss, metrics = objectives.build(config, net)(params, x, jax.random.clone(key),
                                                  hparams.from_config(config))
    mean, logvar = (np.asarray(a, np.float64)
                    for a in net.apply({"params": params}, x, method="encode"))
    eps = np.asarray(jax.random.normal(key, mean.shape), np.float64)
    z = mean + np.exp(0.5 * logvar) * eps
    logits = net.apply({"params": params}, jnp.asarray(z, jnp.float32), method="decode")
    recon = _bernoulli_nll(x, logits)
    kl = _log_normal(z, mean, logvar) - _vamp_log_prior(net, params, z)
    np.testing.assert_allclose(metrics["kl"], kl.mean(), rtol=1e-4)
    np.testing.assert_allclose(metrics["nelbo"], (recon + kl).mean(), rtol=1e-5)
    np.testing.assert_allclose(loss, (recon + 0.7 * kl).mean(), rtol=1e-5)


def test_vamp_importance_weights_and_iwae_bound_use_the_mixture_prior():
    config, net, params, x = _setup(objective="iwae", iwae_samples=4)
    key = jax.random.key(3)
    loss, _ = objectives.build(config, net)(params, x, jax.random.clone(key),
                                            hparams.from_config(config))
    encode = lambda v: net.apply({"params": params}, v, method="encode")  # noqa: E731
    log_joint = objectives.vae_log_joint(net, objectives.make_log_likelihood("bernoulli", 0.1),
                                         params)
    log_w = objectives.log_importance_weights(encode, log_joint, x, jax.random.clone(key), 4)
    mean, logvar = (np.asarray(a, np.float64) for a in encode(x))
    eps = np.asarray(jax.random.normal(key, (4, *mean.shape)), np.float64)
    z = mean + np.exp(0.5 * logvar) * eps
    logits = net.apply({"params": params}, jnp.asarray(z, jnp.float32), method="decode")
    by_hand = np.stack([-_bernoulli_nll(x, logits[s]) for s in range(4)]) \
        + _vamp_log_prior(net, params, z) - _log_normal(z, mean, logvar)
    np.testing.assert_allclose(log_w, by_hand, rtol=1e-5)
    np.testing.assert_allclose(loss, -(logsumexp(by_hand, 0) - np.log(4)).mean(), rtol=1e-5)


def test_a_standard_prior_keeps_the_plain_vae_arithmetic():
    config = test_config.get_config()
    net = models.build(config, SHAPE)
    assert isinstance(priors.of(net), priors.StandardNormal)
    assert priors.of(net).log_prior({}) is objectives.gaussians.log_standard_normal


def test_prior_samples_follow_the_mixture():
    _, net, params, _ = _setup(vamp_components=2)
    z = member_figures.prior_latents(net, params, jax.random.key(5), 4000)
    mean, logvar = net.apply({"params": params}, method="prior_components")
    np.testing.assert_allclose(z.mean(0), np.asarray(mean).mean(0), atol=0.06)
    expected_var = (np.exp(logvar) + mean**2).mean(0) - np.asarray(mean).mean(0) ** 2
    np.testing.assert_allclose(z.var(0), expected_var, rtol=0.1)


@pytest.mark.real_data
def test_vamp_run_with_nll_and_figures_and_a_two_member_sweep_equals_lone_runs(data_dir,
                                                                               tmp_path):
    config = likelihood_run_config(data_dir, model="vamp_vae", vamp_components=20)
    swept, lone = member_and_lone_run(config, tmp_path, "beta", (1.0, 2.0), 2.0)
    for name in ("train/loss", "eval/nelbo", "eval/kl", "eval/nll", "eval/active_units"):
        assert swept[0][name] == lone[0][name]
    assert np.isfinite(lone[0]["eval/nll"]) and lone[0]["eval/nll"] < lone[0]["eval/nelbo"]
    assert (tmp_path / "alone" / "figures" / "samples.png").exists()
