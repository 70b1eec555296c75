"""The autoencoder family: denoising, sparse, contractive, IWAE, beta-TCVAE and KL schedules.

Each objective is checked against a case computed by hand (numpy, one example at a time)
and, in test_variant_configs_train, by a short run of its config on real MNIST / sprites.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from configs import test as test_config
from tests.known_answers import bernoulli_nll as _bernoulli_nll
from tests.known_answers import log_normal as _log_normal
from tests.known_answers import small_model
from vae_jax import hparams, load_run, objectives, run
from vae_jax.data import corruption
from vae_jax.errors import ConfigError
from vae_jax.objectives import penalties


def _setup(model="vae", **fields):
    config = test_config.get_config()
    config.model, config.hidden, config.latents = model, (16,), 3
    return small_model(config, fields)


# ------------------------------------------------------------------------------ corruption
def test_corruptions_change_the_stated_fraction_of_pixels():
    x = jnp.full((200, 28, 28, 1), 0.5)
    key = jax.random.key(0)
    salted = corruption.corrupt(jax.random.clone(key), x, "salt_pepper", 0.3)
    changed = np.asarray(salted != 0.5)
    assert changed.mean() == pytest.approx(0.3, abs=0.01)
    assert set(np.unique(np.asarray(salted)[changed])) == {0.0, 1.0}
    assert np.asarray(salted == 1.0).sum() / changed.sum() == pytest.approx(0.5, abs=0.02)
    masked = corruption.corrupt(jax.random.clone(key), x, "mask", 0.25)
    assert np.asarray(masked == 0).mean() == pytest.approx(0.25, abs=0.01)
    noisy = corruption.corrupt(jax.random.clone(key), x, "gaussian", 0.1)
    assert float(jnp.std(noisy - x)) == pytest.approx(0.1, rel=0.02)
    assert float(noisy.min()) >= 0 and float(noisy.max()) <= 1
    np.testing.assert_array_equal(corruption.corrupt(key, x, "mask", 0.0), x)


def test_psnr_by_hand():
    clean = jnp.zeros((4, 4, 1))
    other = clean.at[0, 0, 0].set(0.5)
    assert float(corruption.psnr(clean, other)) == pytest.approx(-10 * math.log10(0.25 / 16))


def test_denoising_loss_encodes_the_corrupted_input_and_scores_the_clean_one():
    config, net, params, x = _setup("ae", corruption="salt_pepper", noise_level=0.4)
    loss_fn = objectives.build(config, net)
    key = jax.random.key(5)
    loss, _ = loss_fn(params, x, jax.random.clone(key), hparams.from_config(config))
    noise_key, _ = jax.random.split(jax.random.clone(key))
    noisy = corruption.corrupt(noise_key, x, "salt_pepper", 0.4)
    assert not np.array_equal(noisy, x)
    logits = net.apply({"params": params}, noisy)["logits"]
    np.testing.assert_allclose(loss, _bernoulli_nll(x, logits).mean(), rtol=1e-5)


# ------------------------------------------------------------------------------- sparse AE
def test_sparse_l1_loss_by_hand():
    config, net, params, x = _setup("ae", objective="sparse_l1", penalty_weight=0.3)
    loss, metrics = objectives.build(config, net)(params, x, None, hparams.from_config(config))
    out = net.apply({"params": params}, x)
    z = np.asarray(out["z"], np.float64)
    recon = _bernoulli_nll(x, out["logits"])
    np.testing.assert_allclose(loss, recon.mean() + 0.3 * np.abs(z).sum(axis=1).mean(), rtol=1e-5)
    assert float(metrics["mean_activation"]) == pytest.approx(np.abs(z).mean(), rel=1e-5)


def test_sparse_kl_loss_by_hand():
    config, net, params, x = _setup("ae", objective="sparse_kl", code_activation="sigmoid",
                                    penalty_weight=2.0, sparsity_target=0.1)
    loss, metrics = objectives.build(config, net)(params, x, None, hparams.from_config(config))
    out = net.apply({"params": params}, x)
    z = np.asarray(out["z"], np.float64)
    assert ((z > 0) & (z < 1)).all()
    rho, rho_hat = 0.1, z.mean(axis=0)
    kl = np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
    np.testing.assert_allclose(metrics["penalty"], kl, rtol=1e-5)
    np.testing.assert_allclose(loss, _bernoulli_nll(x, out["logits"]).mean() + 2.0 * kl,
                               rtol=1e-5)


# -------------------------------------------------------------------------- contractive AE
def test_jacobian_penalty_matches_the_closed_form_of_a_sigmoid_layer():
    # Rifai et al. (2011): for h = sigmoid(W x + b), ||J||_F^2 = sum_j (h_j (1 - h_j))^2 |W_j|^2.
    w = jax.random.normal(jax.random.key(0), (7, 5))
    b = jax.random.normal(jax.random.key(1), (5,))
    x = jax.random.uniform(jax.random.key(2), (7,))
    penalty = penalties.jacobian_frobenius_sq(lambda v: jax.nn.sigmoid(v @ w + b), x)
    h = np.asarray(jax.nn.sigmoid(x @ w + b), np.float64)
    closed = np.sum((h * (1 - h)) ** 2 * np.sum(np.asarray(w, np.float64) ** 2, axis=0))
    np.testing.assert_allclose(penalty, closed, rtol=1e-5)


def test_contractive_loss_matches_a_finite_difference_jacobian():
    config, net, params, x = _setup("ae", objective="contractive", penalty_weight=0.5,
                                    activation="tanh")
    loss, metrics = objectives.build(config, net)(params, x, None, hparams.from_config(config))

    def encode(v):
        return np.asarray(net.apply({"params": params}, jnp.asarray(v, jnp.float32)[None],
                                    method="encode").mean[0], np.float64)

    eps, total = 1e-2, 0.0
    for xi in np.asarray(x):
        flat = xi.reshape(-1)
        for p in range(flat.size):  # central differences, one pixel at a time
            up, down = flat.copy(), flat.copy()
            up[p] += eps
            down[p] -= eps
            column = (encode(up.reshape(xi.shape)) - encode(down.reshape(xi.shape))) / (2 * eps)
            total += np.sum(column**2)
    np.testing.assert_allclose(metrics["penalty"], total / len(x), rtol=2e-3)
    recon = _bernoulli_nll(x, net.apply({"params": params}, x)["logits"]).mean()
    np.testing.assert_allclose(loss, recon + 0.5 * total / len(x), rtol=1e-4)


# ---------------------------------------------------------------------------------- IWAE
def _iwae_by_hand(net, params, x, key, k):
    mean, logvar = (np.asarray(a, np.float64)
                    for a in net.apply({"params": params}, x, method="encode"))
    eps = np.asarray(jax.random.normal(key, (k, *mean.shape)), np.float64)
    z = mean + np.exp(0.5 * logvar) * eps
    logits = net.apply({"params": params}, jnp.asarray(z, jnp.float32), method="decode")
    log_px_z = np.stack([-_bernoulli_nll(x, logits[s]) for s in range(k)])
    log_w = log_px_z + _log_normal(z, 0.0, 0.0) - _log_normal(z, mean, logvar)
    return logsumexp(log_w, axis=0) - np.log(k), log_w


@pytest.mark.parametrize("k", [1, 5])
def test_iwae_loss_by_hand(k):
    config, net, params, x = _setup("vae", objective="iwae", iwae_samples=k)
    key = jax.random.key(7)
    loss, metrics = objectives.build(config, net)(params, x, jax.random.clone(key),
                                                  hparams.from_config(config))
    bound, log_w = _iwae_by_hand(net, params, x, key, k)
    np.testing.assert_allclose(loss, -bound.mean(), rtol=1e-5)
    if k == 1:  # the k = 1 bound is the single-sample Monte-Carlo ELBO
        np.testing.assert_allclose(loss, -log_w.mean(), rtol=1e-5)


def test_iwae_bound_rises_with_k_and_k1_matches_the_analytic_elbo_on_average():
    config, net, params, x = _setup("vae", objective="iwae")
    base = hparams.from_config(config)
    values = {}
    for k in (1, 5, 50):
        config.iwae_samples = k
        fn = jax.jit(objectives.build(config, net))
        values[k] = np.array([float(fn(params, x, jax.random.key(s), base)[0])
                              for s in range(400)])
    assert values[1].mean() > values[5].mean() > values[50].mean()
    config.objective, config.iwae_samples = "elbo", 1
    fn = jax.jit(objectives.build(config, net))
    analytic = np.array([float(fn(params, x, jax.random.key(s), base)[0]) for s in range(400)])
    # Same expectation; the sampled KL only adds variance. Four standard errors of the gap.
    gap = values[1] - analytic
    assert abs(gap.mean()) < 4 * gap.std() / np.sqrt(len(gap))


# ---------------------------------------------------------------------------- beta-TCVAE
def _posterior_batch(seed: int, batch: int, latents: int):
    """(z, mean, logvar) of a random batch of diagonal Gaussian posteriors, z drawn from them."""
    rng = np.random.default_rng(seed)
    mean, logvar = rng.normal(size=(batch, latents)), rng.normal(size=(batch, latents)) * 0.3
    return mean + np.exp(0.5 * logvar) * rng.normal(size=(batch, latents)), mean, logvar


def _pairwise_log_normal(z, mean, logvar):
    """[i, j, d]: log q(z_i,d | x_j)."""
    return -0.5 * (np.log(2 * np.pi) + logvar[None] + (z[:, None] - mean[None]) ** 2
                   / np.exp(logvar[None]))


def _tc_parts(z, mean, logvar, n, **kwargs):
    return penalties.tc_decomposition(*(jnp.asarray(a, jnp.float32) for a in (z, mean, logvar)),
                                      dataset_size=n, **kwargs)


def test_tc_decomposition_by_hand_and_it_sums_to_the_sampled_kl():
    z, mean, logvar = _posterior_batch(0, 5, 3)
    n = 1000
    parts = _tc_parts(z, mean, logvar, n)
    per_dim = _pairwise_log_normal(z, mean, logvar)
    log_qz = logsumexp(per_dim.sum(-1), axis=1) - np.log(5 * n)
    log_prod = np.sum(logsumexp(per_dim, axis=1) - np.log(5 * n), axis=-1)
    log_qz_x = _log_normal(z, mean, logvar)
    log_pz = _log_normal(z, 0.0, 0.0)
    np.testing.assert_allclose(parts["mi"], log_qz_x - log_qz, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(parts["tc"], log_qz - log_prod, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(parts["dwkl"], log_prod - log_pz, rtol=1e-4, atol=1e-4)
    total = parts["mi"] + parts["tc"] + parts["dwkl"]
    np.testing.assert_allclose(total, log_qz_x - log_pz, rtol=1e-4, atol=1e-4)


def test_tc_estimators_on_identical_posteriors_mss_exact_mws_biased_by_log_n():
    # Every posterior is N(0, I): q(z) = p(z) = prod_d q(z_d), so MI = TC = DWKL = 0 exactly.
    batch, latents, n = 64, 10, 10_000
    z = jax.random.normal(jax.random.key(0), (batch, latents))
    zeros = jnp.zeros_like(z)
    for estimator in ("mss", "mss_even"):
        mss = penalties.tc_decomposition(z, zeros, zeros, n, estimator=estimator)
        for name in ("mi", "tc", "dwkl"):
            np.testing.assert_allclose(mss[name], 0.0, atol=2e-4)
    mws = penalties.tc_decomposition(z, zeros, zeros, n, estimator="mws")
    np.testing.assert_allclose(mws["tc"], (latents - 1) * np.log(n), rtol=1e-5)
    np.testing.assert_allclose(mws["dwkl"], -latents * np.log(n), rtol=1e-5)


def test_mss_log_weights_are_chen_et_al_s_by_hand():
    # B = 4, N = 10, M = B - 1 = 3: own 1/N = 1/10; the next example (N - M)/(N M) = 7/30;
    # the remaining two 1/M = 1/3 (each row sums to 3/30 + 7/30 + 20/30 = 1).
    a, b, c = 1 / 10, 7 / 30, 1 / 3
    expected = np.log([[a, b, c, c],
                       [c, a, b, c],
                       [c, c, a, b],
                       [b, c, c, a]])
    np.testing.assert_allclose(penalties.tc_log_weights(4, 10, "mss"), expected, rtol=1e-6)
    # mss_even: own 1/10, the three others share 9/10 evenly.
    even = np.full((4, 4), np.log(3 / 10))
    np.fill_diagonal(even, np.log(1 / 10))
    np.testing.assert_allclose(penalties.tc_log_weights(4, 10, "mss_even"), even, rtol=1e-6)
    np.testing.assert_allclose(penalties.tc_log_weights(4, 10, "mws"), np.log(1 / 40),
                               rtol=1e-6)
    with pytest.raises(ConfigError, match="2 <= batch size <= dataset size"):
        penalties.tc_log_weights(1, 10, "mss")


@pytest.mark.parametrize("estimator", ["mss", "mss_even"])
def test_mss_decomposition_uses_its_weights_by_hand(estimator):
    z, mean, logvar = _posterior_batch(1, 4, 2)
    n = 50
    parts = _tc_parts(z, mean, logvar, n, estimator=estimator)
    density = np.exp(_pairwise_log_normal(z, mean, logvar))  # [i, j, d]
    if estimator == "mss":
        weights = np.full((4, 4), 1 / 3)
        weights[np.arange(4), (np.arange(4) + 1) % 4] = (n - 3) / (n * 3)
    else:
        weights = np.full((4, 4), (n - 1) / (n * 3))
    np.fill_diagonal(weights, 1 / n)
    log_qz = np.log(np.sum(weights * density.prod(-1), axis=1))
    log_prod = np.sum(np.log(np.sum(weights[:, :, None] * density, axis=1)), axis=-1)
    np.testing.assert_allclose(parts["tc"], log_qz - log_prod, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(parts["mi"], _log_normal(z, mean, logvar) - log_qz,
                               rtol=1e-4, atol=1e-4)


def test_tcvae_with_unit_weights_is_the_sampled_elbo():
    config, net, params, x = _setup("vae", objective="tcvae", beta=1.0)
    key = jax.random.key(3)
    loss, metrics = objectives.build(config, net, dataset_size=100)(
        params, x, jax.random.clone(key), hparams.from_config(config))
    out = net.apply({"params": params}, x, jax.random.clone(key))
    z, m, lv = (np.asarray(out[k], np.float64) for k in ("z", "mean", "logvar"))
    expected = _bernoulli_nll(x, out["logits"]) + _log_normal(z, m, lv) - _log_normal(z, 0, 0)
    np.testing.assert_allclose(loss, expected.mean(), rtol=1e-4)
    assert {"mi", "tc", "dwkl"} <= set(metrics)
    with pytest.raises(ConfigError, match="training-set size"):
        objectives.build(config, net)


# --------------------------------------------------------------------------- KL schedules
def _vae_terms(net, params, x, key):
    out = net.apply({"params": params}, x, key)
    recon = _bernoulli_nll(x, out["logits"])
    m, lv = np.asarray(out["mean"], np.float64), np.asarray(out["logvar"], np.float64)
    return recon, 0.5 * (np.exp(lv) + m**2 - 1 - lv)  # [B], [B, latents]


def _loss_at(config, net, params, x, key, step):
    return float(objectives.build(config, net)(params, x, jax.random.clone(key),
                                               hparams.from_config(config), step)[0])


def test_kl_warmup_ramps_beta_linearly():
    config, net, params, x = _setup("vae", beta=2.0, kl_warmup_steps=100.0)
    key = jax.random.key(4)
    recon, kl = _vae_terms(net, params, x, jax.random.clone(key))
    for step, weight in ((0, 0.0), (25, 0.25), (100, 1.0), (500, 1.0)):
        assert _loss_at(config, net, params, x, key, step) == pytest.approx(
            (recon + 2.0 * weight * kl.sum(1)).mean(), rel=1e-5)


def test_free_bits_floor_each_latents_batch_mean_kl():
    config, net, params, x = _setup("vae", free_bits=0.5)
    key = jax.random.key(4)
    recon, kl = _vae_terms(net, params, x, jax.random.clone(key))
    expected = recon.mean() + np.maximum(kl.mean(axis=0), 0.5).sum()
    assert _loss_at(config, net, params, x, key, 0) == pytest.approx(expected, rel=1e-5)
    # Latents below the floor get no gradient from the KL term: only the reconstruction's.
    config.free_bits = 1e3
    loss_fn = objectives.build(config, net)
    grads = [jax.grad(lambda p, name=name: loss_fn(p, x, jax.random.clone(key),
                                                   hparams.from_config(config))[1][name])(params)
             for name in ("loss", "recon")]
    jax.tree.map(np.testing.assert_allclose, *grads)


def test_capacity_annealing_is_the_distance_to_a_growing_target():
    config, net, params, x = _setup("vae", beta=10.0, capacity_max=25.0, capacity_steps=1000.0)
    key = jax.random.key(4)
    recon, kl = _vae_terms(net, params, x, jax.random.clone(key))
    for step in (0, 400, 5000):
        capacity = 25.0 * min(step / 1000, 1.0)
        expected = recon.mean() + 10.0 * abs(kl.sum(1).mean() - capacity)
        assert _loss_at(config, net, params, x, key, step) == pytest.approx(expected, rel=1e-5)


@pytest.mark.real_data
def test_kl_schedules_config_ramps_end_at_their_epochs_on_the_data_loaded(data_dir):
    """configs/kl_schedules.py gives its ramps in epochs: on 1,024 images (8 steps of 128 per
    epoch) the warm-up ends at step 40 (epoch 5) and the capacity ramp at step 80 (epoch 10)."""
    from configs import kl_schedules as kl_config
    from vae_jax import data
    from vae_jax.objectives import kl_schedules
    from vae_jax.train import population as population_lib

    config = kl_config.get_config()
    config.data_dir, config.num_train, config.num_test = data_dir, 1024, 256
    dataset = data.load(config)
    (population,) = population_lib.split(config)
    setup = run.Setup(population.static_config, dataset)
    assert setup.steps_per_epoch == 8
    _, _, hp, _ = run.init_population(setup, population, dataset)
    warmup = jax.tree.map(lambda a: a[1], hp)
    assert float(warmup.kl_warmup_steps) == 40.0
    assert float(kl_schedules.kl_weight(warmup, jnp.float32(39))) == pytest.approx(39 / 40)
    assert float(kl_schedules.kl_weight(warmup, jnp.float32(40))) == 1.0
    np.testing.assert_array_equal(hp.capacity_steps, [0.0, 0.0, 0.0, 80.0])
    np.testing.assert_array_equal(hp.kl_warmup_steps, [0.0, 40.0, 0.0, 0.0])
    # The logged labels are the steps the members trained with.
    labels = population_lib.in_steps(population, setup.steps_per_epoch).member_labels()
    assert [label["kl_warmup_steps"] for label in labels] == [0.0, 40.0, 0.0, 0.0]


def test_a_ramp_in_both_steps_and_epochs_is_refused():
    config = test_config.get_config()
    config.kl_warmup_steps, config.kl_warmup_epochs = 100.0, 2.0
    from vae_jax.train import population as population_lib

    with pytest.raises(ConfigError, match="kl_warmup_epochs=2.0 and kl_warmup_steps=100.0"):
        population_lib.split(config)


def test_schedules_off_give_the_plain_beta_elbo_bitwise():
    config, net, params, x = _setup("vae", beta=3.0)
    key = jax.random.key(4)
    loss = objectives.build(config, net)(params, x, jax.random.clone(key),
                                         hparams.from_config(config), 123)[0]
    out = net.apply({"params": params}, x, jax.random.clone(key))
    recon = objectives.reconstruction_nll(objectives.make_log_likelihood("bernoulli", 0.1), x,
                                          out)
    kl = jax.vmap(objectives.kl_to_standard_normal)(out["mean"], out["logvar"])
    assert float(loss) == float((recon + 3.0 * kl).mean())


# ------------------------------------------------------------------------ configs, smoke runs
VARIANT_CONFIGS = ("denoising_ae", "sparse_ae", "contractive_ae", "iwae", "beta_tcvae",
                   "kl_schedules")


@pytest.mark.real_data
@pytest.mark.parametrize("name", VARIANT_CONFIGS)
def test_variant_configs_train(name, data_dir, tmp_path):
    import importlib

    config = importlib.import_module(f"configs.{name}").get_config()
    config.data_dir = data_dir
    config.num_train, config.num_test, config.num_epochs = 512, 256, 1
    if name == "denoising_ae":  # 32 steps: the denoised images beat the noisy ones (by ~3 dB)
        config.num_train = 2048
    config.batch_size = min(config.batch_size, 64)
    config.figures, config.progress = False, False
    config.eval_batch_size = 128
    config.evals = tuple(e for e in config.evals if e not in ("factor_vae", "beta_vae"))
    config.final_evals = ()
    result = run.train_and_evaluate(config, str(tmp_path))
    finished = load_run(str(tmp_path))
    coin_flip = math.prod(finished.dataset.test_images.shape[1:]) * math.log(2)
    for records in result.values():
        for record in records:
            # Trained, the Bernoulli decoder beats the coin flip of its untrained start (log 2
            # nats a pixel: 543 an MNIST image, where these few steps reach ~200).
            assert record["eval/recon"] < 0.8 * coin_flip, record
            if "denoising" in config.evals:  # the AE removes noise, even this early
                assert record["eval/psnr_denoised"] > record["eval/psnr_noisy"] + 1.0
    if "sparsity" in config.evals:
        # The evaluator's two statistics, recomputed in numpy from the member's test codes:
        # mean |z| and the share of (image, unit) pairs with |z| < NEAR_ZERO.
        (record,) = [r for records in result.values() for r in records]
        codes = np.abs(np.asarray(finished.member(0).encode(finished.dataset.test_images),
                                  np.float64))
        assert record["eval/mean_activation"] == pytest.approx(codes.mean(), rel=1e-5)
        assert record["eval/near_zero"] == pytest.approx(
            (codes < penalties.NEAR_ZERO).mean(), abs=2 / codes.size)
