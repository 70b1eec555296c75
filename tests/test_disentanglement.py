"""Sanity cases of the disentanglement metrics, after disentanglement_lib's own tests.

Perfect codes (the factors themselves) score ~1; constant, random, permuted and duplicated codes
score low where the metric says they should.
"""

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from vae_jax.metrics import disentanglement as dis

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


def test_dci_identity(codes, factors):
    scores = dis.dci(codes["identity"][:1000], factors[:1000])
    assert set(scores) == {"disentanglement", "completeness", "informativeness"}
    assert scores["disentanglement"] >= 0.9
    assert scores["completeness"] >= 0.9
    assert scores["informativeness"] >= 0.95


def test_dci_permuted_is_low(codes, factors):
    scores = dis.dci(codes["permuted"][:1000], factors[:1000])
    assert scores["disentanglement"] <= 0.2
    assert scores["completeness"] <= 0.2


def test_dci_duplicated(codes, factors):
    scores = dis.dci(codes["duplicated"][:1000], factors[:1000])
    assert scores["disentanglement"] >= 0.9
    # Each factor split evenly over 2 of 10 latents.
    assert scores["completeness"] == pytest.approx(1 - np.log(2) / np.log(10), abs=0.1)


def test_dci_constant(codes, factors):
    scores = dis.dci(codes["constant"][:1000], factors[:1000])
    assert scores["disentanglement"] == 0.0 and scores["completeness"] == 0.0


def test_dci_gradient_boosting_matches_on_easy_codes():
    factors = _factors(300, sizes=(2, 3))
    scores = dis.dci(factors.astype(float), factors, importance_model="gradient_boosting")
    assert scores["disentanglement"] >= 0.9 and scores["completeness"] >= 0.9


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
