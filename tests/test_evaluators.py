"""Evaluators inside a run: held-out-class data, anomaly AUCs, final-only evaluators."""

import jax
import numpy as np
import pytest

from vae_jax import data, run
from vae_jax.errors import ConfigError, DataError
from vae_jax.metrics import evaluators, per_example, probes
from vae_jax.report import logs

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
    dataset = data.load(tiny_config)
    tiny_config.evals = ("elbo", "anomaly")
    with pytest.raises(ConfigError, match="exclude_train_labels"):
        evaluators.validate(tiny_config, dataset)
    tiny_config.evals, tiny_config.final_evals, tiny_config.model = ("elbo",), ("nll",), "ae"
    evaluators.validate(tiny_config, dataset)  # the final set is checked on its own
    with pytest.raises(ConfigError, match="evaluator .nll. needs one of vae"):
        evaluators.validate(tiny_config, dataset, final=True)


def test_anomaly_aucs_and_final_nll_in_the_log_match_a_recomputation(tiny_config, tmp_path):
    tiny_config.exclude_train_labels = (0,)
    tiny_config.evals = ("elbo", "anomaly")
    tiny_config.final_evals = ("nll",)
    tiny_config.nll_samples, tiny_config.nll_chunk = 64, 32
    run.train_and_evaluate(tiny_config, str(tmp_path))
    records = logs.read_metrics(str(tmp_path))
    first, last = records[0], records[-1]
    assert "eval/nll" not in first and "eval/nll" in last  # nll only at the end
    assert "eval/anomaly_auc_recon" in first
    # The importance-sampled estimate (k = 64) is a tighter bound than the ELBO.
    assert last["eval/nll"] < last["eval/nelbo"]

    # Recompute the AUCs from the restored member's per-example scores, outside the run.
    model, params, config = run.load_member(str(tmp_path))
    dataset = data.load(config)
    setup = run.Setup(config, dataset)
    terms = per_example.make_elbo_terms(model, setup.log_likelihood, "vae")
    (population, _, _, keys), = run.load_trained(config, str(tmp_path), dataset)
    key = evaluators.keys_for_epoch(keys.eval, tiny_config.num_epochs)[0]
    scores = jax.device_get(per_example.over_images(
        terms, params, jax.device_put(dataset.test_images), key, config.eval_batch_size))
    is_zero = dataset.test_labels == 0
    for name in ("recon", "nelbo"):
        expected = probes.roc_auc(scores[name], is_zero)
        assert last[f"eval/anomaly_auc_{name}"] == pytest.approx(expected, abs=1e-6)
        assert 0.0 <= expected <= 1.0
