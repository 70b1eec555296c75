"""Probes: exact counts on constructed codes, ~1 on separable data, chance on random labels,
AUC equal to scikit-learn's."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from vae_jax.metrics import probes


def _clusters(num, num_classes=4, dim=6, spread=0.1, seed=0):
    """Well-separated Gaussian clusters, one per class."""
    rng = np.random.default_rng(seed)
    centres = 3.0 * np.eye(num_classes, dim)
    labels = rng.integers(0, num_classes, num)
    return centres[labels] + spread * rng.normal(size=(num, dim)), labels


# --- active units -------------------------------------------------------------------------------


def test_active_units_counts_exactly():
    signs = np.tile([1.0, -1.0], 50)[:, None]  # variance exactly 1 (over the data, ddof 0)
    scales = np.array([1.0, 0.2, 0.11, 0.09, 0.0])  # variances 1, .04, .0121, .0081, 0
    means = signs * scales + np.arange(5.0)  # offsets do not matter
    np.testing.assert_allclose(probes.unit_variances(means), scales**2, atol=1e-12)
    assert probes.active_units(means) == 3
    assert probes.active_units(means, threshold=0.02) == 2
    assert probes.active_units(means, threshold=0.0) == 4


def test_active_units_errors():
    with pytest.raises(ValueError, match="2-D"):
        probes.active_units(np.ones(10))
    with pytest.raises(ValueError, match="at least 2 samples"):
        probes.active_units(np.ones((1, 3)))


# --- linear probe and k-NN ----------------------------------------------------------------------


@pytest.mark.parametrize("probe", [probes.linear_probe_accuracy, probes.knn_accuracy])
def test_probe_separable(probe):
    x_train, y_train = _clusters(2000, seed=0)
    x_test, y_test = _clusters(500, seed=1)
    assert probe(x_train, y_train, x_test, y_test) >= 0.99


@pytest.mark.parametrize("probe", [probes.linear_probe_accuracy, probes.knn_accuracy])
def test_probe_random_labels_is_chance(probe):
    rng = np.random.default_rng(0)
    x_train, x_test = rng.normal(size=(3000, 5)), rng.normal(size=(2000, 5))
    y_train, y_test = rng.integers(0, 4, 3000), rng.integers(0, 4, 2000)
    assert probe(x_train, y_train, x_test, y_test) == pytest.approx(0.25, abs=0.04)


def test_knn_one_neighbour_recovers_training_labels():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 4)), rng.integers(0, 7, 300)
    assert probes.knn_accuracy(x, y, x, y, k=1) == 1.0


def test_linear_probe_needs_a_linear_boundary():
    # XOR of two signs: k-NN solves it, a linear probe cannot beat chance by much.
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(4000, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(int)
    assert probes.knn_accuracy(x[:3000], y[:3000], x[3000:], y[3000:]) > 0.95
    assert probes.linear_probe_accuracy(x[:3000], y[:3000], x[3000:], y[3000:]) < 0.6


@pytest.mark.parametrize("probe", [probes.linear_probe_accuracy, probes.knn_accuracy])
def test_probe_errors(probe):
    x, y = _clusters(100)
    with pytest.raises(ValueError, match="one row per sample"):
        probe(x, y[:-1], x, y)
    with pytest.raises(ValueError, match="one row per sample"):
        probe(x, y, x[:50], y)
    with pytest.raises(ValueError, match="2-D"):
        probe(x[:, 0], y, x, y)
    with pytest.raises(ValueError, match="same number of latents"):
        probe(x, y, x[:, :3], y)


def test_knn_bad_k():
    x, y = _clusters(100)
    with pytest.raises(ValueError, match="k must be"):
        probes.knn_accuracy(x, y, x, y, k=0)
    with pytest.raises(ValueError, match="exceeds"):
        probes.knn_accuracy(x, y, x, y, k=101)


def test_linear_probe_single_class():
    x, _ = _clusters(100)
    with pytest.raises(ValueError, match="single class"):
        probes.linear_probe_accuracy(x, np.zeros(100, int), x, np.zeros(100, int))


# --- ROC AUC ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_roc_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random(500) < 0.3
    scores = np.round(rng.normal(size=500) + labels, 1)  # rounding makes many ties
    assert probes.roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert probes.roc_auc(scores, labels.astype(int)) == probes.roc_auc(scores, labels)


def test_roc_auc_extremes():
    labels = np.array([0, 0, 1, 1])
    assert probes.roc_auc([0.1, 0.2, 0.8, 0.9], labels) == 1.0
    assert probes.roc_auc([0.9, 0.8, 0.2, 0.1], labels) == 0.0
    assert probes.roc_auc([0.5, 0.5, 0.5, 0.5], labels) == 0.5


def test_roc_auc_errors():
    with pytest.raises(ValueError, match="both anomalies and normal"):
        probes.roc_auc([0.1, 0.2, 0.3], [0, 0, 0])
    with pytest.raises(ValueError, match="both anomalies and normal"):
        probes.roc_auc([0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match="one entry per sample"):
        probes.roc_auc([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(ValueError, match="0/1"):
        probes.roc_auc([0.1, 0.2, 0.3], [1, 2, 1])
    with pytest.raises(ValueError, match="NaN"):
        probes.roc_auc([0.1, np.nan, 0.3], [0, 1, 1])
