"""Sanity cases of the disentanglement metrics, after disentanglement_lib's own tests.

Perfect codes (the factors themselves) score ~1; constant, random, permuted and duplicated codes
score low where the metric says they should.
"""

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from vae_jax.metrics import disentanglement as dis
from vae_jax.metrics import importance

SIZES = (4, 6, 8, 10, 10)  # <= 20 values, so the 20-bin histogram of MIG keeps them apart


def _factors(num, sizes=SIZES, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, s, num) for s in sizes], axis=1)


class FakeData:
    """Ground-truth data whose 'images' are the factors, so the identity encoder is perfect."""

    def __init__(self, sizes=SIZES):
        self.factor_sizes = tuple(sizes)

    def sample_factors(self, num, rng):
        return np.stack([rng.integers(0, s, num) for s in self.factor_sizes], 1).astype(np.int32)

    def images(self, factors):
        return np.asarray(factors, dtype=np.float32)


@pytest.fixture(scope="module")
def factors():
    return _factors(2000)


@pytest.fixture(scope="module")
def codes(factors):
    """Named codes of the same samples."""
    rng = np.random.default_rng(1)
    n = len(factors)
    return {
        "identity": factors.astype(np.float64),
        "constant": np.zeros((n, factors.shape[1])),
        "random": rng.normal(size=(n, factors.shape[1])),
        "duplicated": np.hstack([factors, factors]).astype(np.float64),
        "one_factor_twice": np.hstack([factors[:, :1], factors[:, :1], rng.normal(size=(n, 3))]),
        # Each sample's factors shuffled among the latents: all latents share all factors.
        "permuted": np.stack([rng.permutation(row) for row in factors.astype(np.float64)]),
    }


# --- MIG ----------------------------------------------------------------------------------------


def test_mig_identity(codes, factors):
    assert dis.mig(codes["identity"], factors) >= 0.9


@pytest.mark.parametrize("name", ["constant", "random", "duplicated", "one_factor_twice"])
def test_mig_bad_codes(codes, factors, name):
    assert dis.mig(codes[name], factors) <= 0.1


def test_mig_ignores_latent_order_and_affine_scale(codes, factors):
    code = codes["identity"] * np.array([1.0, -2.0, 3.0, 0.5, 7.0]) + 4.0
    assert dis.mig(code[:, ::-1], factors) == pytest.approx(dis.mig(codes["identity"], factors))


def test_mutual_info_matrix_matches_sklearn(codes, factors):
    info = dis.mutual_info_matrix(codes["identity"], factors, num_bins=20)
    assert info.shape == (5, 5)
    assert info[2, 2] == pytest.approx(mutual_info_score(factors[:, 2], factors[:, 2]))
    assert info[0, 1] == pytest.approx(mutual_info_score(factors[:, 1], factors[:, 0]))


def test_mig_binning_caps_factors_with_more_values_than_bins():
    factors = _factors(4000, sizes=(40, 40))
    assert dis.mig(factors.astype(float), factors, num_bins=20) < 0.85  # ~log 20 / log 40
    assert dis.mig(factors.astype(float), factors, num_bins=40) > 0.9


# --- SAP ----------------------------------------------------------------------------------------


def test_mig_of_an_encoder_that_reads_position_and_size_off_rendered_sprites():
    """The whole pipeline on a model known to disentangle: a hand-made encoder whose first
    codes are the image's centroid column, centroid row and sqrt(area), then noise. x and y
    each keep all the information 20 bins can hold (log 20 / log 32 = 0.864 of their entropy,
    less the binning's edge effects), so MIG is high (~0.6; shape and orientation score 0).
    A renderer that put the shape elsewhere than its factors say, or a MIG that read the
    wrong axis, fails it. Learned models on the same data: docs/results.md."""
    from vae_jax.data import sprites

    arrays = sprites.load(num_train=10, num_test=10_000, seed=1)
    pixels = arrays["test_images"][..., 0].astype(np.float64) / 255.0
    factors = arrays["test_factors"]
    mass = pixels.sum(axis=(1, 2))
    column = (pixels * np.arange(64)[None, None, :]).sum(axis=(1, 2)) / mass
    row = (pixels * np.arange(64)[None, :, None]).sum(axis=(1, 2)) / mass
    noise = np.random.default_rng(0).normal(size=(len(mass), 7)) * 0.01
    codes = np.column_stack([column, row, np.sqrt(mass), noise])
    shares = dis.normalized_info_matrix(codes, factors)
    cap = np.log(20) / np.log(32)
    x, y = sprites.FACTOR_NAMES.index("position_x"), sprites.FACTOR_NAMES.index("position_y")
    assert cap - 0.05 < shares[0, x] <= cap + 1e-9 and cap - 0.05 < shares[1, y] <= cap + 1e-9
    assert shares[0, y] < 0.05 and shares[1, x] < 0.05  # each centroid reads one axis only
    assert dis.mig(codes, factors) > 0.55


def test_sap_continuous_identity(codes, factors):
    assert dis.sap(codes["identity"], factors, continuous_factors=True) >= 0.9


@pytest.mark.parametrize("name", ["constant", "random", "duplicated", "one_factor_twice"])
def test_sap_continuous_bad_codes(codes, factors, name):
    assert dis.sap(codes[name], factors, continuous_factors=True) <= 0.2


def test_sap_linear_svm_identity_binary_factors():
    factors = _factors(1000, sizes=(2, 2, 2))
    # Best latent: accuracy 1; any other: chance 0.5. The gap is 1 - chance.
    assert dis.sap(factors.astype(float), factors) == pytest.approx(0.5, abs=0.06)


def test_sap_thresholds_identity(codes, factors):
    score = dis.sap(codes["identity"], factors, classifier="thresholds")
    expected = np.mean([1 - 1 / s for s in SIZES])  # own latent 1, best other ~ chance
    assert score == pytest.approx(expected, abs=0.06)


@pytest.mark.parametrize("classifier", ["linear_svm", "thresholds"])
@pytest.mark.parametrize("name", ["constant", "random", "duplicated"])
def test_sap_discrete_bad_codes(codes, factors, name, classifier):
    assert dis.sap(codes[name], factors, classifier=classifier) <= 0.1


def test_sap_is_deterministic(codes, factors):
    assert dis.sap(codes["random"], factors) == dis.sap(codes["random"], factors)


# --- DCI ----------------------------------------------------------------------------------------


DCI_MODELS = ("gradient_boosting", "hist_gradient_boosting", "random_forest")
# Samples per sanity case: the forest's leaves of >= 20 samples need more to tell 10 classes apart.
DCI_SAMPLES = {"gradient_boosting": 400, "hist_gradient_boosting": 400, "random_forest": 900}


@pytest.mark.parametrize("model", DCI_MODELS)
def test_dci_identity(model, codes, factors):
    num = DCI_SAMPLES[model]
    scores = dis.dci(codes["identity"][:num], factors[:num], importance_model=model)
    assert set(scores) == {"disentanglement", "completeness", "informativeness"}
    assert scores["disentanglement"] >= 0.9
    assert scores["completeness"] >= 0.9
    assert scores["informativeness"] >= 0.95


@pytest.mark.parametrize("model", DCI_MODELS)
def test_dci_permuted_is_low(model, codes, factors):
    num = DCI_SAMPLES[model]
    scores = dis.dci(codes["permuted"][:num], factors[:num], importance_model=model)
    assert scores["disentanglement"] <= 0.2
    assert scores["completeness"] <= 0.2


def test_dci_duplicated(codes, factors):
    scores = dis.dci(codes["duplicated"][:300], factors[:300])
    assert scores["disentanglement"] >= 0.9
    # Each factor split evenly over 2 of 10 latents.
    assert scores["completeness"] == pytest.approx(1 - np.log(2) / np.log(10), abs=0.1)


def test_dci_constant(codes, factors):
    scores = dis.dci(codes["constant"][:300], factors[:300])
    assert scores["disentanglement"] == 0.0 and scores["completeness"] == 0.0


def _disentanglement_lib_dci(mus_train, ys_train, mus_test, ys_test, random_state):
    """disentanglement_lib's evaluation/metrics/dci.py (compute_dci and helpers), written out:
    mus [num_codes, num_points], ys [num_factors, num_points]. It passes no random_state (which
    only breaks ties between equal splits); here the one dci() uses, so the models are equal."""
    from scipy.stats import entropy
    from sklearn.ensemble import GradientBoostingClassifier

    num_factors, num_codes = ys_train.shape[0], mus_train.shape[0]
    importance_matrix = np.zeros(shape=[num_codes, num_factors], dtype=np.float64)
    train_loss, test_loss = [], []
    for i in range(num_factors):
        model = GradientBoostingClassifier(random_state=random_state)
        model.fit(mus_train.T, ys_train[i, :])
        importance_matrix[:, i] = np.abs(model.feature_importances_)
        train_loss.append(np.mean(model.predict(mus_train.T) == ys_train[i, :]))
        test_loss.append(np.mean(model.predict(mus_test.T) == ys_test[i, :]))

    def weighted(per, axis):
        matrix = importance_matrix
        if matrix.sum() == 0.0:
            matrix = np.ones_like(matrix)
        return np.sum(per * matrix.sum(axis=axis) / matrix.sum())

    per_code = 1.0 - entropy(importance_matrix.T + 1e-11, base=importance_matrix.shape[1])
    per_factor = 1.0 - entropy(importance_matrix + 1e-11, base=importance_matrix.shape[0])
    return {"disentanglement": weighted(per_code, 1), "completeness": weighted(per_factor, 0),
            "informativeness": np.mean(test_loss)}


@pytest.mark.parametrize("case", ["identity", "entangled", "noise"])
def test_dci_default_is_disentanglement_lib(case):
    """The default importance model IS disentanglement_lib's: equal scores on the same points."""
    sizes, num = (3, 5, 8), 120  # small, so that the reference runs in seconds
    factors = _factors(num, sizes=sizes, seed=3)
    rng = np.random.default_rng(4)
    scaled = factors / (np.array(sizes) - 1.0)
    codes = rng.normal(size=(num, 5))
    if case == "identity":
        codes[:, :3] = scaled + 0.05 * rng.normal(size=(num, 3))
    elif case == "entangled":
        codes[:, :3] = scaled @ rng.normal(size=(3, 3)) + 0.05 * rng.normal(size=(num, 3))
    train, test = dis._protocol_split(num, 1 / 3, 0, 10_000, 5_000)
    expected = _disentanglement_lib_dci(codes[train].T, factors[train].T, codes[test].T,
                                        factors[test].T, random_state=0)
    assert dis.dci(codes, factors, seed=0) == pytest.approx(expected, abs=1e-9)


def test_dci_caps_samples_at_the_protocol():
    """At most num_train / num_test points (disentanglement_lib: 10,000 / 5,000), no overlap."""
    train, test = dis._protocol_split(20_000, 1 / 3, 0, 10_000, 5_000)
    assert (len(train), len(test)) == (10_000, 5_000)
    assert len(np.intersect1d(train, test)) == 0
    factors = _factors(900, sizes=(3, 4))
    codes = factors + np.random.default_rng(5).normal(size=factors.shape)
    train, test = dis._protocol_split(900, 1 / 3, 0, 200, 100)
    matrix, accuracy = importance.importance_matrix(
        codes[train], factors[train], codes[test], factors[test], "random_forest", seed=0)
    capped = dis.dci(codes, factors, num_train=200, num_test=100, importance_model="random_forest")
    assert capped == pytest.approx({"disentanglement": dis.dci_disentanglement(matrix),
                                    "completeness": dis.dci_completeness(matrix),
                                    "informativeness": accuracy.mean()}, abs=1e-12)


def test_dci_factors_in_parallel_equal_sequential(codes, factors):
    args = (codes["random"][:200], factors[:200, :2], codes["random"][200:260],
            factors[200:260, :2])
    for model in DCI_MODELS:
        parallel = importance.importance_matrix(*args, model=model, n_jobs=2)
        sequential = importance.importance_matrix(*args, model=model, n_jobs=1)
        np.testing.assert_array_equal(parallel[0], sequential[0])
        np.testing.assert_array_equal(parallel[1], sequential[1])


def test_dci_scores_of_importance_matrices():
    diag = np.diag(5.0 * np.ones(5))
    assert dis.dci_disentanglement(diag) == pytest.approx(1.0)
    assert dis.dci_completeness(diag) == pytest.approx(1.0)
    assert dis.dci_disentanglement(np.zeros((10, 10))) == pytest.approx(0.0)
    assert dis.dci_completeness(np.zeros((10, 10))) == pytest.approx(0.0, abs=1e-7)
    empty_code = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    assert dis.dci_disentanglement(empty_code) == pytest.approx(1.0)
    assert dis.dci_completeness(empty_code) == pytest.approx(1.0)
    redundant = np.vstack([diag, diag])
    assert dis.dci_disentanglement(redundant) == pytest.approx(1.0)
    assert dis.dci_completeness(redundant) == pytest.approx(1 - np.log(2) / np.log(10))
    two_factors = np.hstack([diag, diag])
    assert dis.dci_disentanglement(two_factors) == pytest.approx(1 - np.log(2) / np.log(10))
    assert dis.dci_completeness(two_factors) == pytest.approx(1.0)


# --- FactorVAE and BetaVAE scores ---------------------------------------------------------------

SMALL = dict(num_train=1000, num_eval=500)


def _random_encoder(seed=0):
    rng = np.random.default_rng(seed)
    return lambda images: rng.normal(size=images.shape)


def test_factor_vae_identity():
    score = dis.factor_vae_score(
        lambda x: x, FakeData(), np.random.default_rng(0), **SMALL, num_variance_estimate=1000
    )
    assert score >= 0.9


def test_factor_vae_constant_and_random():
    rng = np.random.default_rng(0)
    assert dis.factor_vae_score(np.zeros_like, FakeData(), rng, **SMALL) == 0.0
    score = dis.factor_vae_score(_random_encoder(), FakeData(), rng, **SMALL)
    assert score <= 1 / len(SIZES) + 0.1


def test_factor_vae_deterministic_and_chunked():
    # A chunk size that does not divide the image count pads the last chunk; same result.
    enc = lambda x: x @ np.arange(10.0).reshape(5, 2) + x[:, :2] ** 2
    a = dis.factor_vae_score(enc, FakeData(), 3, **SMALL, num_variance_estimate=500)
    b = dis.factor_vae_score(enc, FakeData(), 3, **SMALL, num_variance_estimate=500, chunk_size=777)
    assert a == b


def test_factor_vae_drops_collapsed_latents():
    # Latent 1 is a tiny-variance copy of factor 1: pruned, so factor 1 has no latent of its own.
    enc = lambda x: np.stack([x[:, 0], 1e-3 * x[:, 1]], axis=1)
    score = dis.factor_vae_score(enc, FakeData(sizes=(5, 5)), 0, **SMALL)
    assert score == pytest.approx(0.5, abs=0.1)


def test_beta_vae_identity():
    assert dis.beta_vae_score(lambda x: x, FakeData(), np.random.default_rng(0), **SMALL) >= 0.9


def test_beta_vae_constant_and_random():
    chance = 1 / len(SIZES)
    assert dis.beta_vae_score(np.zeros_like, FakeData(), 0, **SMALL) <= chance + 0.1
    assert dis.beta_vae_score(_random_encoder(), FakeData(), 0, **SMALL) <= chance + 0.1


# --- Errors -------------------------------------------------------------------------------------

METRICS = [dis.mig, dis.sap, dis.dci]


@pytest.mark.parametrize("metric", METRICS)
def test_length_mismatch(metric, codes, factors):
    with pytest.raises(ValueError, match="one row per sample"):
        metric(codes["identity"][:100], factors[:99])


@pytest.mark.parametrize("metric", METRICS)
def test_codes_not_2d(metric, factors):
    with pytest.raises(ValueError, match="2-D"):
        metric(factors[:, 0].astype(float), factors)


@pytest.mark.parametrize("metric", METRICS)
def test_continuous_factor_rejected(metric, codes, factors):
    continuous = factors + np.random.default_rng(0).uniform(0, 0.5, factors.shape)
    with pytest.raises(ValueError, match="not integer-valued"):
        metric(codes["identity"], continuous)


def test_continuous_factor_accepted_by_continuous_sap(codes, factors):
    continuous = factors + np.random.default_rng(0).uniform(0, 0.5, factors.shape)
    assert dis.sap(continuous, continuous, continuous_factors=True) > 0.9


def test_integer_valued_float_and_bool_factors_accepted(codes, factors):
    assert dis.mig(codes["identity"], factors.astype(float)) == dis.mig(codes["identity"], factors)
    binary = factors % 2 == 1
    assert dis.mig(binary.astype(float), binary) == dis.mig(binary.astype(float), binary * 1)


@pytest.mark.parametrize("metric", METRICS)
def test_too_few_samples(metric, codes, factors):
    with pytest.raises(ValueError, match="too few samples"):
        metric(codes["identity"][:5], factors[:5])


@pytest.mark.parametrize("metric", METRICS)
def test_constant_factor_rejected(metric, codes, factors):
    bad = factors.copy()
    bad[:, 3] = 7
    with pytest.raises(ValueError, match=r"\[3\] take a single value"):
        metric(codes["identity"], bad)


@pytest.mark.parametrize("metric", METRICS)
def test_nonfinite_codes(metric, codes, factors):
    bad = codes["identity"].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metric(bad, factors)


def test_one_latent_rejected(codes, factors):
    with pytest.raises(ValueError, match="at least 2"):
        dis.mig(codes["identity"][:, :1], factors)


def test_bad_options(codes, factors):
    with pytest.raises(ValueError, match="classifier"):
        dis.sap(codes["identity"], factors, classifier="svm")
    with pytest.raises(ValueError, match="importance_model"):
        dis.dci(codes["identity"], factors, importance_model="gbt")
    with pytest.raises(ValueError, match="test_size"):
        dis.sap(codes["identity"], factors, test_size=1.5)


def test_score_argument_errors():
    with pytest.raises(ValueError, match="batch_size"):
        dis.factor_vae_score(lambda x: x, FakeData(), 0, batch_size=1)
    with pytest.raises(ValueError, match="num_train"):
        dis.beta_vae_score(lambda x: x, FakeData(), 0, num_train=0)
    with pytest.raises(ValueError, match="encode_fn must return"):
        dis.beta_vae_score(lambda x: x[:, 0], FakeData(), 0, **SMALL)

    class BadData(FakeData):
        def sample_factors(self, num, rng):
            return super().sample_factors(num, rng)[:, :2]

    with pytest.raises(ValueError, match="sample_factors"):
        dis.factor_vae_score(lambda x: x, BadData(), 0, **SMALL)
