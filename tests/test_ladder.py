"""The Ladder VAE: the precision-weighted posterior, ELBO, IWAE bound and likelihood against
numpy, the bounds' order on a trained model, populations, figures."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from configs import test as test_config
from tests.known_answers import bernoulli_nll as _bernoulli_nll
from tests.known_answers import likelihood_run_config, member_and_lone_run, small_model
from tests.known_answers import log_normal as _log_normal
from vae_jax import data, hparams, load_run, objectives, streams
from vae_jax.metrics import per_example
from vae_jax.models import ladder
from vae_jax.objectives import hierarchical


def _setup(**fields):
    config = test_config.get_config()
    config.model, config.hidden, config.latents = "ladder_vae", (16,), 3
    config.top_hidden, config.top_latents, config.activation = (8,), 2, "tanh"
    return small_model(config, fields)


def _combine_by_hand(mean_a, logvar_a, mean_b, logvar_b):
    """The precision-weighted Gaussian in float64, written with precisions."""
    precision_a, precision_b = np.exp(-logvar_a), np.exp(-logvar_b)
    var = 1.0 / (precision_a + precision_b)
    return (mean_a * precision_a + mean_b * precision_b) * var, np.log(var)


def _log_weights_by_hand(net, params, x, eps, eps_top):
    """(log p(x|z1), log p(z1,z2) - log q(z2|x) q(z1|z2,x)) [S, B] by numpy from the noise."""
    f64 = lambda a: np.asarray(a, np.float64)  # noqa: E731
    apply = lambda v, method: jax.tree.map(f64, net.apply(  # noqa: E731
        {"params": params}, jnp.asarray(v, jnp.float32), method=method))
    (hat_mean, hat_logvar), (top_mean, top_logvar) = apply(x, "bottom_up")
    z_top = top_mean + np.exp(0.5 * top_logvar) * eps_top
    prior_mean, prior_logvar = apply(z_top, "prior_bottom")
    mean, logvar = _combine_by_hand(hat_mean, hat_logvar, prior_mean, prior_logvar)
    z = mean + np.exp(0.5 * logvar) * eps
    logits = net.apply({"params": params}, jnp.asarray(z, jnp.float32), method="decode")
    log_px = np.stack([-_bernoulli_nll(x, logits[s]) for s in range(len(z))])
    log_ratio = (_log_normal(z, prior_mean, prior_logvar) + _log_normal(z_top, 0.0, 0.0)
                 - _log_normal(z, mean, logvar) - _log_normal(z_top, top_mean, top_logvar))
    return log_px, log_ratio


def _noise(key, k):
    """z1's and z2's standard-normal noise [k, 6, .] as the library draws it from `key`."""
    bottom_key, top_key = jax.random.split(key)
    return (np.asarray(jax.random.normal(bottom_key, (k, 6, 3)), np.float64),
            np.asarray(jax.random.normal(top_key, (k, 6, 2)), np.float64))


def test_precision_weighting_by_hand_and_the_code_it_gives():
    rng = np.random.default_rng(0)
    mean_a, mean_b = rng.normal(size=(2, 50))
    logvar_a, logvar_b = rng.uniform(-6, 6, size=(2, 50))
    mean, logvar = ladder.precision_weighted(*(jnp.asarray(a, jnp.float32) for a in
                                               (mean_a, logvar_a, mean_b, logvar_b)))
    want_mean, want_logvar = _combine_by_hand(mean_a, logvar_a, mean_b, logvar_b)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logvar, want_logvar, rtol=1e-5, atol=1e-6)
    assert np.all(logvar < np.minimum(logvar_a, logvar_b))  # more certain than either
    assert np.all((mean - np.minimum(mean_a, mean_b) >= -1e-6)
                  & (np.maximum(mean_a, mean_b) - mean >= -1e-6))
    # Precisions of e^{+-100} overflow float32; the log-space form does not.
    mean, logvar = ladder.precision_weighted(jnp.array([1.0, 1.0]), jnp.array([-100.0, 100.0]),
                                             jnp.array([0.0, 0.0]), jnp.array([0.0, 0.0]))
    np.testing.assert_allclose(mean, [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(logvar, [-100.0, 0.0], atol=1e-5)
    # encode: z1's posterior at z2 = mu_hat_2, the code the evaluators and figures read.
    _, net, params, x = _setup()
    assert params["q_top"]["Dense_0"]["kernel"].shape == (16, 8)  # q(z2|x) reads d1, not z1
    apply = lambda v, method: jax.tree.map(  # noqa: E731
        lambda a: np.asarray(a, np.float64), net.apply({"params": params}, v, method=method))
    (hat_mean, hat_logvar), (top_mean, _) = apply(x, "bottom_up")
    prior = apply(jnp.asarray(top_mean, jnp.float32), "prior_bottom")
    np.testing.assert_allclose(apply(x, "encode"),
                               _combine_by_hand(hat_mean, hat_logvar, *prior), rtol=1e-5,
                               atol=1e-6)


def test_ladder_elbo_by_hand():
    config, net, params, x = _setup(beta=0.5)
    key = jax.random.key(7)
    loss, metrics = objectives.build(config, net)(params, x, jax.random.clone(key),
                                                  hparams.from_config(config))
    eps, eps_top = _noise(key, 1)
    log_px, log_ratio = _log_weights_by_hand(net, params, x, eps, eps_top)
    np.testing.assert_allclose(metrics["kl"], -log_ratio.mean(), rtol=1e-4)
    np.testing.assert_allclose(metrics["nelbo"], -(log_px + log_ratio).mean(), rtol=1e-5)
    np.testing.assert_allclose(loss, -(log_px + 0.5 * log_ratio).mean(), rtol=1e-5)


def test_ladder_iwae_loss_and_likelihood_by_hand():
    k = 4
    config, net, params, x = _setup(objective="iwae", iwae_samples=k)
    key = jax.random.key(9)
    loss, _ = objectives.build(config, net)(params, x, jax.random.clone(key),
                                            hparams.from_config(config))
    log_px, log_ratio = _log_weights_by_hand(net, params, x, *_noise(key, k))
    np.testing.assert_allclose(loss, -(logsumexp(log_px + log_ratio, axis=0) - np.log(k)).mean(),
                               rtol=1e-5)
    # The likelihood evaluator draws its one chunk of k samples from fold_in(key, 0).
    nll = per_example.make_nll(net, objectives.make_log_likelihood("bernoulli", 0.1), k, k)
    eval_key = jax.random.key(11)
    log_px, log_ratio = _log_weights_by_hand(net, params, x,
                                             *_noise(jax.random.fold_in(eval_key, 0), k))
    np.testing.assert_allclose(nll(params, x, eval_key)["nll"],
                               -(logsumexp(log_px + log_ratio, axis=0) - np.log(k)), rtol=1e-5)


@pytest.mark.real_data
def test_ladder_population_equals_lone_runs_and_its_bounds_are_ordered(data_dir, tmp_path):
    config = likelihood_run_config(data_dir, model="ladder_vae", top_hidden=(16,),
                                   top_latents=2, activation="tanh", objective="iwae",
                                   iwae_samples=3)
    # beta is an Hparams array: one program for both members.
    swept, lone = member_and_lone_run(config, tmp_path, "beta", (1.0, 0.5), 0.5)
    for name in ("train/loss", "train/iwae", "eval/nelbo", "eval/nll", "eval/active_units"):
        assert swept[0][name] == lone[0][name]
    assert lone[0]["eval/nll"] < lone[0]["eval/nelbo"]
    assert (tmp_path / "alone" / "figures" / "samples.png").exists()

    # On the trained member: IWAE (k = 50) >= ELBO, by more than the Monte-Carlo error of
    # the ELBO's 50 draws a test image (independent draws: not Jensen's inequality on one set).
    member = load_run(str(tmp_path / "alone")).member()
    x = data.to_float(jnp.asarray(member.run.dataset.test_images), None)  # binarised at load
    log_likelihood = objectives.make_log_likelihood("bernoulli", 0.1)
    log_weights = jax.jit(hierarchical.log_weights(member.model, log_likelihood, member.params),
                          static_argnums=2)
    elbo_key, iwae_key = jax.random.split(jax.random.key(0))
    log_w = np.asarray(log_weights(x, elbo_key, 50), np.float64)
    elbo, elbo_error = log_w.mean(), log_w.std() / np.sqrt(log_w.size)
    iwae = (logsumexp(np.asarray(log_weights(x, iwae_key, 50), np.float64), axis=0)
            - np.log(50)).mean()
    assert iwae > elbo + 3 * elbo_error
    assert member.encode(member.run.dataset.test_images[:4]).shape == (4, 4)
    # Samples come from the hierarchical prior p(z2) p(z1 | z2), not from N(0, I) on z1.
    z1 = member.model.apply({"params": member.params}, streams.api_sample_key(5), 3,
                            method="sample_prior")
    np.testing.assert_allclose(member.sample(3, seed=5), member.decode(np.asarray(z1)),
                               rtol=1e-5, atol=1e-6)  # jitted vs eager draws: float32 round-off
    assert not np.allclose(member.sample(3, seed=5),
                           member.decode(np.asarray(jax.random.normal(jax.random.key(5), (3, 4)))))
