"""VQ-VAE: quantisation, loss and gradients against numpy, the EMA codebook, the codebook
evaluator, figures without samples, populations."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import test as test_config
from tests.known_answers import bernoulli_nll as _bernoulli_nll
from tests.known_answers import small_model
from vae_jax import hparams, load_run, objectives, run, train
from vae_jax.metrics import codebook
from vae_jax.report import logs


def _setup(**fields):
    config = test_config.get_config()
    config.model, config.hidden, config.latents = "vq_vae", (16,), 3
    config.codebook_size, config.code_dim = 5, 2
    return small_model(config, fields)


def _by_hand(net, params, x):
    """(z_e, nearest indices, e at them) by numpy."""
    z_e = np.asarray(net.apply({"params": params}, x, method="encode_continuous"), np.float64)
    e = np.asarray(params["quantizer"]["embedding"], np.float64)
    distances = ((z_e[..., None, :] - e) ** 2).sum(-1)  # [B, latents, K]
    indices = distances.argmin(-1)
    return z_e, indices, e[indices]


def test_vq_loss_by_hand():
    config, net, params, x = _setup(commitment_beta=0.4)
    loss, metrics = objectives.build(config, net)(params, x, jax.random.key(3),
                                                  hparams.from_config(config))
    z_e, indices, z_q = _by_hand(net, params, x)
    np.testing.assert_array_equal(net.apply({"params": params}, x)["indices"], indices)
    logits = net.apply({"params": params}, jnp.asarray(z_q.reshape(6, -1), jnp.float32),
                       method="decode")
    recon = _bernoulli_nll(x, logits)
    distance = ((z_e - z_q) ** 2).sum(axis=(1, 2))
    np.testing.assert_allclose(metrics["recon"], recon.mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics["codebook"], distance.mean(), rtol=1e-5)
    np.testing.assert_allclose(loss, (recon + 1.4 * distance).mean(), rtol=1e-5)


def test_straight_through_gradients_and_the_codebook_gradient_by_hand():
    config, net, params, x = _setup(commitment_beta=0.0)
    grads, _ = jax.grad(objectives.build(config, net), has_aux=True)(
        params, x, jax.random.key(3), hparams.from_config(config))
    z_e, indices, z_q = _by_hand(net, params, x)
    # Only ||sg[z_e] - e||^2 reaches the codebook: d/de_k = 2 sum_{assigned} (e_k - z_e) / B.
    expected = np.zeros((5, 2))
    np.add.at(expected, indices.reshape(-1), 2 * (z_q - z_e).reshape(-1, 2) / len(x))
    np.testing.assert_allclose(grads["quantizer"]["embedding"], expected, rtol=1e-4, atol=1e-6)
    # The decoder's gradient reaches the encoder through the quantiser (straight through). With
    # commitment_beta = 0 it is the encoder's only gradient: a quantiser that cut it (no
    # straight-through estimator) leaves this kernel's gradient exactly 0.
    assert np.abs(np.asarray(grads["pre_quant"]["kernel"])).sum() > 0


def test_an_ema_step_moves_the_codebook_by_the_moving_averages():
    config, net, params, x = _setup(vq_ema=True, vq_ema_decay=0.9)
    loss_fn = objectives.build(config, net)
    grads, _ = jax.grad(loss_fn, has_aux=True)(params, x, jax.random.key(3),
                                               hparams.from_config(config))
    np.testing.assert_array_equal(grads["quantizer"]["embedding"], 0)  # no codebook loss
    tx = train.make_optimizer(config)
    state = train.TrainState(step=jnp.zeros((), jnp.int32), params=params,
                             opt_state=tx.init(params))
    new, metrics = train.train_step(state, x, jax.random.key(4), hparams.from_config(config),
                                    loss_fn=loss_fn, tx=tx, schedule=lambda step: 1.0)
    assert "state_updates" not in metrics
    z_e, indices, _ = _by_hand(net, params, x)
    counts = np.bincount(indices.reshape(-1), minlength=5)
    sums = np.zeros((5, 2))
    np.add.at(sums, indices.reshape(-1), z_e.reshape(-1, 2))
    size = 0.9 * 1.0 + 0.1 * counts
    embed_sum = 0.9 * np.asarray(params["quantizer"]["embedding"]) + 0.1 * sums
    smoothed = (size + 1e-5) / (size.sum() + 5e-5) * size.sum()
    quantizer = new.params["quantizer"]
    np.testing.assert_allclose(quantizer["ema_cluster_size"], size, rtol=1e-6)
    np.testing.assert_allclose(quantizer["ema_embed_sum"], embed_sum, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(quantizer["embedding"], embed_sum / smoothed[:, None],
                               rtol=1e-5, atol=1e-7)
    assert not np.allclose(new.params["pre_quant"]["kernel"], params["pre_quant"]["kernel"])


def test_codebook_usage_metrics_by_hand():
    out = codebook.usage_metrics(np.array([[3, 3, 0, 0], [1, 1, 1, 1], [5, 0, 0, 0]]))
    np.testing.assert_allclose(out["eval/codebook_perplexity"], [2, 4, 1])
    np.testing.assert_allclose(out["eval/codebook_used"], [0.5, 1, 0.25])


def test_codebook_evaluator_needs_a_vq_vae(tiny_config):
    from vae_jax import validation
    from vae_jax.errors import ConfigError

    tiny_config.evals = ("elbo", "codebook")
    with pytest.raises(ConfigError, match="needs model=vq_vae"):
        validation.check(tiny_config, log_warnings=False)


def _small(data_dir, **fields):
    config = test_config.get_config()
    config.data_dir, config.model = data_dir, "vq_vae"
    config.codebook_size, config.code_dim = 16, 4
    config.num_train, config.num_test, config.batch_size = 256, 64, 32
    config.num_epochs, config.member_map = 1, "map"
    config.evals = ("elbo", "codebook", "active_units", "linear_probe")
    for name, value in fields.items():
        config[name] = value
    return config


@pytest.mark.real_data
@pytest.mark.parametrize("ema", [False, True])
def test_vq_run_and_a_two_member_sweep_equals_lone_runs(data_dir, tmp_path, ema):
    sweep = _small(data_dir, vq_ema=ema, figures=False)
    sweep.sweep.commitment_beta = (0.25, 1.0)
    run.train_and_evaluate(sweep, str(tmp_path / "sweep"))
    run.train_and_evaluate(_small(data_dir, vq_ema=ema, commitment_beta=1.0),
                           str(tmp_path / "alone"))
    swept = [r for r in logs.read_metrics(str(tmp_path / "sweep"))
             if r["hparams"]["commitment_beta"] == 1.0]
    lone = logs.read_metrics(str(tmp_path / "alone"))
    for name in ("train/loss", "eval/recon", "eval/mse", "eval/codebook_perplexity",
                 "eval/codebook_used", "eval/active_units", "eval/linear_probe"):
        assert swept[0][name] == lone[0][name]
    # The codebook evaluator against a numpy recomputation: the member's code indices on the
    # (grey-level) test images, counted over images and positions; perplexity = exp(entropy).
    record, member = lone[-1], load_run(str(tmp_path / "alone")).member(0)
    images = member.run.dataset.test_images
    indices = np.asarray(member.model.apply({"params": member.params},
                                            jnp.asarray(images, jnp.float32) / 255)["indices"])
    counts = np.bincount(indices.reshape(-1), minlength=16).astype(np.float64)
    probs = counts[counts > 0] / counts.sum()
    assert record["eval/codebook_perplexity"] == pytest.approx(
        np.exp(-(probs * np.log(probs)).sum()), rel=1e-6)
    assert record["eval/codebook_used"] == (counts > 0).mean()
    figures = tmp_path / "alone" / "figures"
    assert (figures / "reconstructions.png").exists() and not (figures / "samples.png").exists()


@pytest.mark.real_data
def test_vq_figures_on_sprites(tmp_path):
    config = _small("", dataset="sprites", num_train=128, num_test=64)
    config.evals = ("elbo", "codebook")
    run.train_and_evaluate(config, str(tmp_path))
    assert sorted(os.listdir(tmp_path / "figures")) == sorted(
        ["curves.png", "interpolations.png", "latents.png", "reconstructions.png",
         "traversals.png"])
