"""Evaluators inside a run: held-out-class data, anomaly AUCs, final-only evaluators."""

import jax
import numpy as np
import pytest
import scipy.special
from sklearn.ensemble import GradientBoostingClassifier

import vae_jax
from vae_jax import data, models, run, train, validation
from vae_jax.errors import ConfigError, DataError
from vae_jax.metrics import evaluators, per_example, probes
from vae_jax.report import logs
from vae_jax.train import population as population_lib

pytestmark = pytest.mark.real_data


def test_excluded_labels_leave_training_but_stay_in_the_test_set(tiny_config):
    tiny_config.exclude_train_labels = (3, 7)
    dataset = data.load(tiny_config)
    assert not np.isin(dataset.train_labels, (3, 7)).any()
    assert len(dataset.train_images) == len(dataset.train_labels) == tiny_config.num_train
    assert np.isin(dataset.test_labels, (3, 7)).any()


def test_excluding_a_class_that_does_not_exist_is_refused(tiny_config):
    tiny_config.exclude_train_labels = (12,)
    with pytest.raises(DataError, match=r"no class \[12\]"):
        data.load(tiny_config)


def test_anomaly_needs_a_held_out_class_and_nll_needs_a_vae(tiny_config):
    """Rules of the config alone: the validation pass's, before any data is loaded."""
    tiny_config.evals = ("elbo", "anomaly")
    with pytest.raises(ConfigError, match="'anomaly' .*exclude_train_labels"):
        validation.check(tiny_config, log_warnings=False)
    tiny_config.evals, tiny_config.final_evals, tiny_config.model = ("elbo",), ("nll",), "ae"
    with pytest.raises(ConfigError, match="evaluator 'nll' .*needs one of vae"):
        validation.check(tiny_config, log_warnings=False)
    tiny_config.model = "vae"
    dataset = data.load(tiny_config)
    assert evaluators.validate(tiny_config, dataset) == ("elbo",)
    assert evaluators.validate(tiny_config, dataset, final=True) == ("elbo", "nll")


def test_anomaly_aucs_and_final_nll_in_the_log_match_a_recomputation(tiny_config, tmp_path):
    tiny_config.exclude_train_labels = (1,)
    # Decoder bias at the training images' mean: the held-out 1s score below the normal data
    # from the start (AUC 0.05 for the mean image itself), as in the README's longer runs.
    tiny_config.output_bias_init = "data_mean"
    tiny_config.evals = ("elbo", "anomaly")
    tiny_config.final_evals = ("nll",)
    tiny_config.nll_samples, tiny_config.nll_chunk = 64, 32
    run.train_and_evaluate(tiny_config, str(tmp_path))
    records = logs.read_metrics(str(tmp_path))
    first, last = records[0], records[-1]
    assert "eval/nll" not in first and "eval/nll" in last  # nll only at the end
    assert "eval/anomaly_auc_recon" in first

    # Recompute the scores from the restored member's per-example values, outside the run.
    member = vae_jax.load_run(str(tmp_path)).member(0)
    model, params, config, dataset = member.model, member.params, member.config, member.run.dataset
    setup = run.Setup(config, dataset)
    terms = per_example.make_elbo_terms(model, setup.log_likelihood, "vae")
    nll = per_example.make_nll(model, setup.log_likelihood, config.nll_samples, config.nll_chunk)
    keys = population_lib.split(config)[0].keys()  # the run's: a population of one
    key = evaluators.keys_for_epoch(keys.eval, tiny_config.num_epochs)[0]
    elbo_key, nll_key = jax.random.split(key)  # make_jitted_eval's split: a key per evaluator
    images = jax.device_put(dataset.test_images)
    scores = jax.device_get(per_example.over_images(
        terms, params, images, elbo_key, config.eval_batch_size))
    scores |= jax.device_get(per_example.over_images(
        nll, params, images, nll_key, config.nll_batch_size))
    is_one = dataset.test_labels == 1
    for name in ("recon", "nelbo"):
        expected = probes.roc_auc(scores[name], is_one)
        assert last[f"eval/anomaly_auc_{name}"] == pytest.approx(expected, abs=1e-6)
        # README (anomaly detection): a held-out 1 (few pixels) scores lower than the normal
        # data, so its AUC lies below chance.
        assert expected < 0.5
    # The logged k = 64 estimate against an independent one of the same bound: numpy draws and
    # numpy densities (Bernoulli decoder, N(0, I) prior, diagonal Gaussian posterior), only the
    # networks shared. Both estimate E[-log mean_k w_k]: their means agree up to four standard
    # errors of the per-image difference.
    x = dataset.test_images.reshape(len(is_one), -1).astype(np.float64) / 255
    mean, logvar = (np.asarray(a, np.float64) for a in model.apply(
        {"params": params}, dataset.test_images / np.float32(255), method="encode"))
    eps = np.random.default_rng(0).standard_normal((64, *mean.shape))
    z = mean + np.exp(0.5 * logvar) * eps
    logits = np.asarray(model.apply({"params": params}, z.reshape(-1, mean.shape[1]).astype(
        np.float32), method="decode"), np.float64).reshape(64, len(x), -1)
    log_px_z = -(x * np.logaddexp(0, -logits) + (1 - x) * np.logaddexp(0, logits)).sum(-1)
    log_pz = -0.5 * (z ** 2 + np.log(2 * np.pi)).sum(-1)
    log_qz = -0.5 * (eps ** 2 + logvar + np.log(2 * np.pi)).sum(-1)
    nll_numpy = np.log(64) - scipy.special.logsumexp(log_px_z + log_pz - log_qz, axis=0)
    diff = scores["nll"] - nll_numpy
    assert abs(last["eval/nll"] - nll_numpy.mean()) <= 4 * diff.std(ddof=1) / np.sqrt(len(x))
    # E[nll] <= E[-ELBO] for every image (the k = 64 bound is tighter); the logged means are
    # Monte-Carlo estimates, so the mean gap may exceed 0 by noise: by at most three standard
    # errors, std(gap) / sqrt(N) over the N test images.
    gap = scores["nll"] - scores["nelbo"]
    assert gap.mean() <= 3 * gap.std(ddof=1) / np.sqrt(len(gap))
    assert last["eval/nll"] - last["eval/nelbo"] == pytest.approx(gap.mean(), abs=1e-4)


def test_encode_images_compiles_once_per_model_and_shape(tiny_config):
    model = models.build(tiny_config, (28, 28, 1))
    tx = train.make_optimizer(tiny_config)
    states = [train.create_state(jax.random.key(seed), model, tx, (28, 28, 1)) for seed in (0, 1)]
    images = np.random.default_rng(0).integers(0, 256, (50, 28, 28, 1), dtype=np.uint8)
    per_example._encode_chunk.clear_cache()
    codes = [per_example.encode_images(model, s.params, images, chunk_size=25) for s in states]
    # Another member's parameters and another chunk: the same program (one trace, one entry).
    assert per_example._encode_chunk._cache_size() == 1
    assert not np.array_equal(codes[0], codes[1])
    # An equal model built again hashes the same and reuses it too.
    per_example.encode_images(models.build(tiny_config, (28, 28, 1)), states[0].params, images,
                              chunk_size=25)
    assert per_example._encode_chunk._cache_size() == 1
    mean, _ = model.apply({"params": states[1].params}, images[:25] / np.float32(255),
                          method="encode")
    np.testing.assert_allclose(codes[1][:25], mean, rtol=1e-6, atol=1e-6)


def test_probes_are_fitted_on_binary_images_like_the_test_set_they_score(tiny_config, tmp_path,
                                                                          monkeypatch):
    """Dynamic binarisation: the probes' training images are one fixed binary sample (the test
    set is binary too), not the grey-level images; static and none keep the loaded images."""
    seen = []
    make_encoder = evaluators.make_population_encoder

    def spying_encoder(setup, *args):
        encode = make_encoder(setup, *args)

        def spy(params, images):
            jax.debug.callback(lambda x: seen.append(np.asarray(x)), images)
            return encode(params, images)

        return spy

    monkeypatch.setattr(evaluators, "make_population_encoder", spying_encoder)
    tiny_config.num_epochs, tiny_config.probe_train_size = 1, 300
    tiny_config.evals = ("elbo", "linear_probe")
    run.train_and_evaluate(tiny_config, str(tmp_path))
    dataset = data.load(tiny_config)
    test_seen, train_seen = seen
    np.testing.assert_array_equal(test_seen, dataset.test_images)
    assert np.isin(dataset.train_images, (0, 255)).mean() < 0.95  # grey levels were loaded
    assert np.isin(train_seen, (0, 255)).all()
    np.testing.assert_array_equal(train_seen, data.binarize(
        dataset.train_images[:300], evaluators.PROBE_BINARIZATION_SEED))
    # The same images in every run, whatever the seeds.
    tiny_config.seed, tiny_config.data_seed = 5, 6
    np.testing.assert_array_equal(evaluators.probe_train_images(dataset, tiny_config), train_seen)
    for binarization in ("static", "none"):
        tiny_config.binarization = binarization
        dataset = data.load(tiny_config)
        np.testing.assert_array_equal(evaluators.probe_train_images(dataset, tiny_config),
                                      dataset.train_images[:300])


def test_dci_records_name_the_importance_model_they_used(tiny_config):
    """The DCI scores come from config.dci_importance_model, and the record says which."""
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 3, (200, 2))
    codes = factors + 0.3 * rng.normal(size=(200, 2))
    dataset = data.Dataset("arrays", np.zeros((1, 2, 2, 1), np.uint8),
                           np.zeros((200, 2, 2, 1), np.uint8), test_factors=factors)
    tiny_config.dci_importance_model = "gradient_boosting"
    out = evaluators.code_metrics(("dci",), {"test": codes}, dataset, None, tiny_config)
    assert out["dci_importance_model"] == "gradient_boosting"
    # disentanglement_lib's DCI recomputed here: a 2:1 random split (seed 0), one
    # GradientBoostingClassifier per factor, its feature_importances_ a column of R [L, F];
    # D = sum_i rho_i (1 - H_F(R_i. / R_i.sum)), C the same over latents, I the test accuracy.
    perm = np.random.default_rng(0).permutation(200)
    test, train_ = perm[:67], perm[67:]
    fits = [GradientBoostingClassifier(random_state=0).fit(
        codes[train_].astype(np.float32), factors[train_, j]) for j in range(2)]
    matrix = np.stack([f.feature_importances_ for f in fits], axis=1)

    def one_minus_entropy(r):  # over the rows of r, in base r.shape[1], weighted by row totals
        p = r / r.sum(1, keepdims=True)
        entropy = -np.sum(p * np.log(np.where(p > 0, p, 1)), 1) / np.log(r.shape[1])
        return float(np.sum((1 - entropy) * r.sum(1) / r.sum()))

    accuracy = [np.mean(f.predict(codes[test].astype(np.float32)) == factors[test, j])
                for j, f in enumerate(fits)]
    expected = dict(disentanglement=one_minus_entropy(matrix),
                    completeness=one_minus_entropy(matrix.T), informativeness=np.mean(accuracy))
    for k, v in expected.items():
        assert out[f"eval/dci_{k}"] == pytest.approx(v, abs=1e-9), k
    from vae_jax.metrics import disentanglement

    forest = disentanglement.dci(codes, factors, importance_model="random_forest")
    assert forest != {k: out[f"eval/dci_{k}"] for k in forest}  # the label matters


def test_dci_importance_model_is_checked_before_training(tiny_config):
    from vae_jax.metrics import importance

    assert evaluators.DCI_IMPORTANCE_MODELS == importance.MODELS
    tiny_config.update(dataset="sprites", binarization="none", num_train=64, num_test=32,
                       evals=("elbo", "dci"), dci_importance_model="gbt")
    with pytest.raises(ConfigError, match="unknown dci_importance_model 'gbt'"):
        validation.check(tiny_config, log_warnings=False)
    tiny_config.dci_importance_model = "random_forest"
    validation.check(tiny_config, log_warnings=False)
    assert evaluators.validate(tiny_config, data.load(tiny_config)) == ("elbo", "dci")
