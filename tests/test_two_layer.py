"""The VAE with two stochastic layers: sizes, ELBO, IWAE bound and likelihood against numpy,
populations, figures."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from configs import test as test_config
from tests.known_answers import bernoulli_nll as _bernoulli_nll
from tests.known_answers import likelihood_run_config, member_and_lone_run, small_model
from tests.known_answers import log_normal as _log_normal
from vae_jax import hparams, models, objectives
from vae_jax.metrics import per_example


def _setup(**fields):
    config = test_config.get_config()
    config.model, config.hidden, config.latents = "two_layer_vae", (16,), 3
    config.top_hidden, config.top_latents, config.activation = (8,), 2, "tanh"
    return small_model(config, fields)


def _log_weights_by_hand(net, params, x, eps, eps_top):
    """(log p(x|z1), log p(z1,z2) - log q(z1,z2|x)) [S, B] by numpy from the noise draws."""
    f64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
    apply = lambda v, method: tuple(f64(a) for a in net.apply(  # noqa: E731
        {"params": params}, jnp.asarray(v, jnp.float32), method=method))
    mean, logvar = apply(x, "encode")
    z = mean + np.exp(0.5 * logvar) * eps
    top_mean, top_logvar = apply(z, "encode_top")
    z_top = top_mean + np.exp(0.5 * top_logvar) * eps_top
    prior_mean, prior_logvar = apply(z_top, "prior_bottom")
    logits = net.apply({"params": params}, jnp.asarray(z, jnp.float32), method="decode")
    log_px = np.stack([-_bernoulli_nll(x, logits[s]) for s in range(len(z))])
    log_ratio = (_log_normal(z, prior_mean, prior_logvar) + _log_normal(z_top, 0.0, 0.0)
                 - _log_normal(z, mean, logvar) - _log_normal(z_top, top_mean, top_logvar))
    return log_px, log_ratio


def test_burda_sizes_give_the_expected_parameter_count():
    config = test_config.get_config()
    config.model, config.hidden, config.latents = "two_layer_vae", (100, 100), 100
    config.top_hidden, config.top_latents = (50, 50), 50
    net = models.build(config, (28, 28, 1))
    params = net.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)), jax.random.key(1))["params"]
    dense = lambda i, o: i * o + o  # noqa: E731
    q_z1 = dense(784, 100) + dense(100, 100) + 2 * dense(100, 100)
    q_z2 = dense(100, 50) + dense(50, 50) + 2 * dense(50, 50)
    p_z1 = dense(50, 50) + dense(50, 50) + 2 * dense(50, 100)
    p_x = dense(100, 100) + dense(100, 100) + dense(100, 784)
    assert sum(p.size for p in jax.tree.leaves(params)) == q_z1 + q_z2 + p_z1 + p_x


def test_two_layer_elbo_by_hand():
    config, net, params, x = _setup(beta=0.5)
    key = jax.random.key(7)
    loss, metrics = objectives.build(config, net)(params, x, jax.random.clone(key),
                                                  hparams.from_config(config))
    bottom_key, top_key = jax.random.split(key)
    eps = np.asarray(jax.random.normal(bottom_key, (6, 3)), np.float64)[None]
    eps_top = np.asarray(jax.random.normal(top_key, (6, 2)), np.float64)[None]
    log_px, log_ratio = _log_weights_by_hand(net, params, x, eps, eps_top)
    np.testing.assert_allclose(metrics["kl"], -log_ratio.mean(), rtol=1e-4)
    np.testing.assert_allclose(metrics["nelbo"], -(log_px + log_ratio).mean(), rtol=1e-5)
    np.testing.assert_allclose(loss, -(log_px + 0.5 * log_ratio).mean(), rtol=1e-5)


@pytest.mark.parametrize("k", [1, 4])
def test_two_layer_iwae_loss_and_likelihood_by_hand(k):
    config, net, params, x = _setup(objective="iwae", iwae_samples=k)
    key = jax.random.key(9)
    loss, _ = objectives.build(config, net)(params, x, jax.random.clone(key),
                                            hparams.from_config(config))
    bottom_key, top_key = jax.random.split(key)
    eps = np.asarray(jax.random.normal(bottom_key, (k, 6, 3)), np.float64)
    eps_top = np.asarray(jax.random.normal(top_key, (k, 6, 2)), np.float64)
    log_px, log_ratio = _log_weights_by_hand(net, params, x, eps, eps_top)
    bound = logsumexp(log_px + log_ratio, axis=0) - np.log(k)
    np.testing.assert_allclose(loss, -bound.mean(), rtol=1e-5)
    # The likelihood evaluator draws its one chunk of k samples from fold_in(key, 0).
    nll = per_example.make_nll(net, objectives.make_log_likelihood("bernoulli", 0.1), k, k)
    eval_key = jax.random.key(11)
    bottom_key, top_key = jax.random.split(jax.random.fold_in(eval_key, 0))
    eps = np.asarray(jax.random.normal(bottom_key, (k, 6, 3)), np.float64)
    eps_top = np.asarray(jax.random.normal(top_key, (k, 6, 2)), np.float64)
    log_px, log_ratio = _log_weights_by_hand(net, params, x, eps, eps_top)
    np.testing.assert_allclose(nll(params, x, eval_key)["nll"],
                               -(logsumexp(log_px + log_ratio, axis=0) - np.log(k)), rtol=1e-5)


@pytest.mark.real_data
def test_two_layer_run_with_nll_and_figures_and_a_sweep_equals_lone_runs(data_dir, tmp_path):
    config = likelihood_run_config(data_dir, model="two_layer_vae", top_hidden=(16,),
                                   top_latents=2, objective="iwae", iwae_samples=3)
    swept, lone = member_and_lone_run(config, tmp_path, "learning_rate", (1e-3, 3e-3), 3e-3)
    for name in ("train/loss", "train/iwae", "eval/nelbo", "eval/nll", "eval/active_units"):
        assert swept[0][name] == lone[0][name]
    assert lone[0]["eval/nll"] < lone[0]["eval/nelbo"]
    assert (tmp_path / "alone" / "figures" / "samples.png").exists()
