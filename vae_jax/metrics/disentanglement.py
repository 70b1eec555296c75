"""Supervised disentanglement metrics, following google-research/disentanglement_lib.

Two kinds of metric:

* On a fixed sample of codes and their ground-truth factors: `mig`, `sap`, `dci`.
  codes: float [N, num_latents] (posterior means); factors: int [N, num_factors].
* On a ground-truth dataset that renders images for chosen factors: `factor_vae_score`,
  `beta_vae_score`. The dataset is any object with `factor_sizes`, `sample_factors(num, rng)`
  and `images(factors)` (see `FactorData`, e.g. `vae_jax.data.sprites.SpritesFactors`).

Everything runs on the host in numpy / scikit-learn (these are not the hot path) and is
deterministic given its inputs (fixed `seed`s, or the `rng` passed in). Where this module departs
from disentanglement_lib the docstring of the function says so and why.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Protocol

import numpy as np
import scipy.stats
from numpy.typing import ArrayLike
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mutual_info_score
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from vae_jax.metrics import importance as dci_importance
from vae_jax.metrics.checks import check_codes

MIN_SAMPLES = 10  # below this no split / histogram / classifier means anything


class FactorData(Protocol):
    """A ground-truth dataset that renders images for chosen factor values."""

    factor_sizes: tuple[int, ...]

    def sample_factors(self, num: int, rng: np.random.Generator) -> np.ndarray:
        """Factor indices, int [num, num_factors]."""
        ...

    def images(self, factors: np.ndarray) -> np.ndarray:
        """Images [num, ...] of the given factor indices [num, num_factors]."""
        ...


EncodeFn = Callable[[np.ndarray], ArrayLike]  # images [num, ...] -> codes [num, num_latents]


# ---------------------------------------------------------------------------------------------
# Input checks


def _check_factors(factors: ArrayLike, num_samples: int, discrete: bool) -> np.ndarray:
    """-> factors as float [N, F] (continuous) or class indices 0..K-1 int [N, F] (discrete)."""
    factors = np.asarray(factors)
    if factors.dtype == bool:
        factors = factors.astype(np.int64)
    if factors.ndim != 2:
        raise ValueError(
            f"factors must be 2-D [num_samples, num_factors], got shape "
            f"{factors.shape}; for a single factor pass factors[:, None]"
        )
    if factors.shape[0] != num_samples:
        raise ValueError(
            f"codes and factors must have one row per sample, got {num_samples} rows "
            f"of codes and {factors.shape[0]} rows of factors"
        )
    if not np.issubdtype(factors.dtype, np.number):
        raise ValueError(f"factors must be numeric, got dtype {factors.dtype}")
    if not np.all(np.isfinite(factors)):
        raise ValueError("factors contain NaN or inf")
    constant = [j for j in range(factors.shape[1]) if np.ptp(factors[:, j]) == 0]
    if constant:
        raise ValueError(
            f"factor column(s) {constant} take a single value in this sample, so they "
            "carry no information and the metric is undefined for them; drop them"
        )
    if not discrete:
        return factors.astype(np.float64)
    if np.issubdtype(factors.dtype, np.floating):
        bad = [j for j, col in enumerate(factors.T) if np.any(col != np.rint(col))]
        if bad:
            raise ValueError(
                f"factor column(s) {bad} are not integer-valued, but this metric "
                "needs discrete factors (class indices); pass the integer factor "
                "indices, or for continuous factors use "
                "sap(..., continuous_factors=True)"
            )
    return np.stack([np.unique(col, return_inverse=True)[1] for col in factors.T], axis=1)


def _check_inputs(
    codes, factors, discrete: bool = True, min_latents: int = 1, min_factors: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    codes = check_codes(codes)
    factors = _check_factors(factors, codes.shape[0], discrete)
    if codes.shape[0] < MIN_SAMPLES:
        raise ValueError(
            f"too few samples: got {codes.shape[0]}, need at least {MIN_SAMPLES} "
            "(disentanglement_lib uses 10,000)"
        )
    if codes.shape[1] < min_latents:
        raise ValueError(
            f"this metric compares latents and needs at least {min_latents}, got {codes.shape[1]}"
        )
    if factors.shape[1] < min_factors:
        raise ValueError(
            f"this metric needs at least {min_factors} factors, got {factors.shape[1]}"
        )
    return codes, factors


def _split(num: int, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic random train/test split of range(num)."""
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size}")
    perm = np.random.default_rng(seed).permutation(num)
    num_test = min(max(int(round(num * test_size)), 1), num - 2)
    return perm[num_test:], perm[:num_test]


def _check_train_classes(factors_train: np.ndarray) -> None:
    single = [j for j in range(factors_train.shape[1]) if np.ptp(factors_train[:, j]) == 0]
    if single:
        raise ValueError(
            f"too few samples: factor column(s) {single} have one value in the "
            "training split; pass more samples"
        )


# ---------------------------------------------------------------------------------------------
# MIG


def _histogram_discretize(codes: np.ndarray, num_bins: int) -> np.ndarray:
    """Each latent into `num_bins` equal-width bins over its range (disentanglement_lib's)."""
    out = np.empty(codes.shape, dtype=np.int64)
    for i in range(codes.shape[1]):
        edges = np.histogram(codes[:, i], num_bins)[1]
        out[:, i] = np.digitize(codes[:, i], edges[:-1])
    return out


def mutual_info_matrix(codes: ArrayLike, factors: ArrayLike, num_bins: int = 20) -> np.ndarray:
    """Discrete mutual information (nats) of histogram-binned latents and factors.

    Args:
        codes: float [N, num_latents].
        factors: discrete int [N, num_factors].
        num_bins: equal-width histogram bins per latent.

    Returns:
        float [num_latents, num_factors].
    """
    codes, factors = _check_inputs(codes, factors)
    binned = _histogram_discretize(codes, num_bins)
    return np.array(
        [
            [mutual_info_score(factors[:, j], binned[:, i]) for j in range(factors.shape[1])]
            for i in range(codes.shape[1])
        ]
    )


def factor_entropies(factors: ArrayLike) -> np.ndarray:
    """Entropy (nats) of each discrete factor column [N, F] -> [F], as MIG normalises by."""
    factors = np.asarray(factors)
    return np.array([mutual_info_score(col, col) for col in factors.T])


def normalized_info_matrix(codes: ArrayLike, factors: ArrayLike, num_bins: int = 20) -> np.ndarray:
    """`mutual_info_matrix` over each factor's entropy, [num_latents, num_factors] in [0, 1]:
    the share of a factor each latent captures (MIG is, per factor, the gap between a column's
    two largest entries)."""
    return mutual_info_matrix(codes, factors, num_bins) / factor_entropies(factors)


def mig(codes: ArrayLike, factors: ArrayLike, num_bins: int = 20) -> float:
    """Mutual Information Gap (Chen et al. 2018), as in disentanglement_lib's `compute_mig`.

    Per factor: the mutual information of the most informative latent minus that of the
    second, divided by the factor's entropy; averaged over factors. In [0, 1].

    The binning caps what a factor with more values than bins can score: a perfect code of a
    40-valued factor keeps ~log(20) / log(40) = 0.81 of its entropy with 20 bins.

    Protocol: disentanglement_lib scores 10,000 freshly sampled points with 20 equal-width bins;
    here the samples given (the `mig` evaluator: the config.num_test test images' codes).

    Args:
        codes: float [N, num_latents], N >= 10, at least 2 latents.
        factors: discrete int (or integer-valued float) [N, num_factors]; no constant column.
        num_bins: equal-width histogram bins per latent (disentanglement_lib: 20).

    Returns:
        The MIG score.
    """
    codes, factors = _check_inputs(codes, factors, min_latents=2)
    info = mutual_info_matrix(codes, factors, num_bins)  # [L, F]
    entropy = factor_entropies(factors)
    top = np.sort(info, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / entropy))


# ---------------------------------------------------------------------------------------------
# SAP


def _sap_matrix_continuous(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Squared correlation of each latent with each factor; 0 for a constant latent."""
    cz = codes - codes.mean(0)
    cy = factors - factors.mean(0)
    cov = cz.T @ cy / (len(codes) - 1)
    var_z, var_y = cz.var(0, ddof=1), cy.var(0, ddof=1)
    live = var_z > 1e-12
    out = np.zeros_like(cov)
    out[live] = cov[live] ** 2 / (var_z[live, None] * var_y[None, :])
    return out


def _sap_matrix_discrete(codes, factors, train, test, classifier: str, seed: int) -> np.ndarray:
    """Test accuracy of a classifier of each factor from each single latent."""
    _check_train_classes(factors[train])
    out = np.zeros((codes.shape[1], factors.shape[1]))
    for i in range(codes.shape[1]):
        for j in range(factors.shape[1]):
            if classifier == "linear_svm":
                model = LinearSVC(C=0.01, class_weight="balanced", random_state=seed)
            else:  # one threshold per class boundary: a 1-D tree with a leaf per class
                model = DecisionTreeClassifier(
                    max_leaf_nodes=int(factors[:, j].max()) + 1,
                    class_weight="balanced",
                    random_state=seed,
                )
            with warnings.catch_warnings():  # C=0.01 on raw codes: liblinear may stop early
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(codes[train, i : i + 1], factors[train, j])
            out[i, j] = np.mean(model.predict(codes[test, i : i + 1]) == factors[test, j])
    return out


def sap(
    codes: ArrayLike,
    factors: ArrayLike,
    continuous_factors: bool = False,
    *,
    classifier: str = "linear_svm",
    test_size: float = 0.5,
    seed: int = 0,
) -> float:
    """Separated Attribute Predictability (Kumar et al. 2018), as in disentanglement_lib.

    Scores every (latent, factor) pair, then averages over factors the gap between the best and
    the second-best latent.

    * discrete factors: test accuracy of a classifier of the factor from that one latent, fitted
      on a deterministic random train split. `classifier="linear_svm"` is disentanglement_lib's
      `LinearSVC(C=0.01, class_weight="balanced")`. A linear one-vs-rest classifier of a single
      number can only pick out the classes at the ends of its range, so a perfect code of a
      40-valued factor scores far below 1; `classifier="thresholds"` is the paper's classifier
      (thresholds fitted on the latent: a 1-D decision tree with one leaf per class), scored by
      plain accuracy like the SVM (the paper's balanced accuracy is the same in expectation for
      uniformly sampled factors).
    * continuous factors: squared correlation of latent and factor (disentanglement_lib's
      formula), here on all N samples rather than a train part, since nothing is fitted.

    Protocol: disentanglement_lib fits on 10,000 and scores on 5,000 freshly sampled points;
    here one deterministic split of the samples given (`test_size`; the `sap` evaluator: the
    config.num_test test images' codes, halved).

    Args:
        codes: float [N, num_latents], N >= 10, at least 2 latents.
        factors: [N, num_factors]; discrete int unless `continuous_factors`.
        continuous_factors: score with squared correlation instead of a classifier.
        classifier: "linear_svm" (disentanglement_lib) or "thresholds" (Kumar et al.).
        test_size: fraction of samples held out to score the classifiers.
        seed: seed of the train/test split and the classifiers.

    Returns:
        The SAP score, in [0, 1].
    """
    if classifier not in ("linear_svm", "thresholds"):
        raise ValueError(f"classifier must be 'linear_svm' or 'thresholds', got {classifier!r}")
    codes, factors = _check_inputs(codes, factors, discrete=not continuous_factors, min_latents=2)
    if continuous_factors:
        scores = _sap_matrix_continuous(codes, factors)
    else:
        train, test = _split(len(codes), test_size, seed)
        scores = _sap_matrix_discrete(codes, factors, train, test, classifier, seed)
    top = np.sort(scores, axis=0)
    return float(np.mean(top[-1] - top[-2]))


# ---------------------------------------------------------------------------------------------
# DCI


def dci_disentanglement(importance: ArrayLike) -> float:
    """Disentanglement of an importance matrix [num_latents, num_factors] (Eastwood & Williams).

    1 - entropy (base num_factors) of each latent's importance over factors, weighted by the
    latent's share of the total importance; 0 for an all-zero matrix (rounding clipped at 0).
    """
    importance = np.asarray(importance, dtype=np.float64)
    per_latent = 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=importance.shape[1])
    if importance.sum() == 0.0:
        importance = np.ones_like(importance)
    return max(0.0, float(np.sum(per_latent * importance.sum(1) / importance.sum())))


def dci_completeness(importance: ArrayLike) -> float:
    """Completeness of an importance matrix [num_latents, num_factors]: the same over latents."""
    importance = np.asarray(importance, dtype=np.float64)
    per_factor = 1.0 - scipy.stats.entropy(importance + 1e-11, base=importance.shape[0])
    if importance.sum() == 0.0:
        importance = np.ones_like(importance)
    return max(0.0, float(np.sum(per_factor * importance.sum(0) / importance.sum())))


def _protocol_split(num: int, test_size: float, seed: int, num_train: int, num_test: int):
    """`_split`, then at most `num_train` / `num_test` of each part (the published protocol's)."""
    train, test = _split(num, test_size, seed)
    return train[:num_train], test[:num_test]


def dci(
    codes: ArrayLike,
    factors: ArrayLike,
    *,
    importance_model: str = "gradient_boosting",
    test_size: float = 1 / 3,
    num_train: int = 10_000,
    num_test: int = 5_000,
    seed: int = 0,
    n_jobs: int | None = None,
) -> dict[str, float]:
    """Disentanglement, completeness, informativeness (Eastwood & Williams 2018), as published.

    One tree-ensemble classifier per factor, fitted on all latents of a train split; its
    feature importances form a column of the importance matrix [num_latents, num_factors]
    (`vae_jax.metrics.importance`), scored by `dci_disentanglement` / `dci_completeness`.

    The default, `importance_model="gradient_boosting"`, is disentanglement_lib's computation
    (`GradientBoostingClassifier()` per factor, every default; disentanglement_lib's protocol:
    10,000 train / 5,000 test points), so its numbers are the published DCI's. The factors are
    fitted in parallel threads (the same matrix as one after another), and the train/test points
    are one deterministic random split of the given samples (2:1 by default, at most 10,000 /
    5,000) where disentanglement_lib draws fresh samples of the ground-truth data. Faster,
    labelled options: `"hist_gradient_boosting"` (boosting on binned latents: D, C and I within
    0.02 of the default on synthetic sprites-like codes at 2,000 / 1,000 points; on trained
    VAEs' codes D and C within 0.004, I 0.04 high) and `"random_forest"` (25 trees: D and C up
    to 0.22 high on the synthetic codes, ~0.03 on the VAEs'); docs/evaluators.md.

    Args:
        codes: float [N, num_latents], N >= 10, at least 2 latents.
        factors: discrete int [N, num_factors], at least 2 factors.
        importance_model: "gradient_boosting" (disentanglement_lib), "hist_gradient_boosting"
            or "random_forest".
        test_size: fraction of samples held out for informativeness.
        num_train, num_test: caps on the two parts (disentanglement_lib: 10,000 / 5,000).
        seed: seed of the split and random_state of the classifiers.
        n_jobs: factors fitted at once (threads); None: as many as CPUs.

    Returns:
        {"disentanglement", "completeness", "informativeness"}; informativeness is the test
        accuracy of the classifiers, averaged over factors (disentanglement_lib's
        informativeness_test).
    """
    codes, factors = _check_inputs(codes, factors, min_latents=2, min_factors=2)
    dci_importance.check_model(importance_model)  # fail on a bad name before any fitting
    _check_counts(num_train=num_train, num_test=num_test)
    train, test = _protocol_split(len(codes), test_size, seed, num_train, num_test)
    _check_train_classes(factors[train])
    matrix, accuracy = dci_importance.importance_matrix(
        codes[train], factors[train], codes[test], factors[test], importance_model, seed, n_jobs
    )
    return {
        "disentanglement": dci_disentanglement(matrix),
        "completeness": dci_completeness(matrix),
        "informativeness": float(np.mean(accuracy)),
    }


# ---------------------------------------------------------------------------------------------
# FactorVAE and BetaVAE scores: render images for chosen factors, encode, vote / classify.


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        least = 2 if name in ("batch_size", "num_variance_estimate") else 1
        if int(value) != value or value < least:
            raise ValueError(
                f"{name} must be an integer >= {least} (variances need two samples), got {value}"
            )


def _sample(data: FactorData, num: int, rng: np.random.Generator) -> np.ndarray:
    factors = np.array(data.sample_factors(num, rng))  # a writable copy: callers fix columns
    if factors.shape != (num, len(data.factor_sizes)):
        raise ValueError(
            f"data.sample_factors({num}, rng) must return [{num}, "
            f"{len(data.factor_sizes)}] factor indices, got shape {factors.shape}"
        )
    return factors


def _encode(
    encode_fn: EncodeFn, data: FactorData, factors: np.ndarray, chunk_size: int
) -> np.ndarray:
    """Codes [M, L] of the images of `factors` [M, F], encoded `chunk_size` at a time.

    The last chunk is padded to `chunk_size` so a jitted encoder compiles one shape only.
    """
    codes = []
    for start in range(0, len(factors), chunk_size):
        part = factors[start : start + chunk_size]
        size = len(part)
        if len(factors) > chunk_size and size < chunk_size:
            part = np.concatenate([part, np.repeat(part[-1:], chunk_size - size, axis=0)])
        out = np.asarray(encode_fn(data.images(part)), dtype=np.float64)
        if out.ndim != 2 or len(out) != len(part):
            raise ValueError(
                f"encode_fn must return codes [num_images, num_latents]; for "
                f"{len(part)} images it returned shape {out.shape}"
            )
        codes.append(out[:size])
    codes = np.concatenate(codes)
    if not np.all(np.isfinite(codes)):
        raise ValueError("encode_fn returned NaN or inf codes (a diverged model?)")
    return codes


def _factor_vae_votes(
    encode_fn, data, rng, batch_size, num_points, global_var, active, chunk_size
) -> np.ndarray:
    """Votes [num_factors, num_latents]: per point, the fixed factor and the latent whose
    variance (relative to its global variance) is smallest over a batch sharing that factor."""
    num_factors = len(data.factor_sizes)
    fixed = rng.integers(num_factors, size=num_points)
    factors = _sample(data, num_points * batch_size, rng).reshape(num_points, batch_size, -1)
    rows = np.arange(num_points)
    factors[rows, :, fixed] = factors[rows, 0, fixed][:, None]
    codes = _encode(encode_fn, data, factors.reshape(num_points * batch_size, -1), chunk_size)
    local_var = codes.reshape(num_points, batch_size, -1).var(axis=1, ddof=1)
    latent = np.flatnonzero(active)[np.argmin(local_var[:, active] / global_var[active], axis=1)]
    votes = np.zeros((num_factors, len(global_var)), dtype=np.int64)
    np.add.at(votes, (fixed, latent), 1)
    return votes


def factor_vae_score(
    encode_fn: EncodeFn,
    data: FactorData,
    rng: np.random.Generator | int,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    *,
    prune_threshold: float = 0.05,
    chunk_size: int = 4096,
) -> float:
    """FactorVAE disentanglement score (Kim & Mnih 2018), as in disentanglement_lib.

    Latents whose global standard deviation (over `num_variance_estimate` random images) is
    below `prune_threshold` count as collapsed and are dropped (disentanglement_lib's configs
    use 0.05). Each vote fixes one random factor over `batch_size` images and names the active
    latent of least variance relative to its global variance; a majority-vote classifier maps
    each latent to a factor on `num_train` votes and is scored on `num_eval` fresh ones.
    All images of a step are sampled at once and encoded in chunks (disentanglement_lib encodes
    one batch per vote; the distribution is the same, the random streams differ).
    The defaults are disentanglement_lib's protocol (batches of 64, 10,000 / 5,000 votes, 10,000
    images for the variances); the `factor_vae` evaluator uses config.disentanglement_votes
    training votes, half as many evaluation votes and as many images for the variances.

    Args:
        encode_fn: images [num, ...] -> codes [num, num_latents] (posterior means).
        data: a `FactorData` (factor_sizes, sample_factors, images).
        rng: numpy Generator (or seed) for all sampling.
        batch_size: images per vote.
        num_train: votes to fit the classifier.
        num_eval: votes to score it.
        num_variance_estimate: images for the global variances.
        prune_threshold: minimum global standard deviation of an active latent.
        chunk_size: images per `encode_fn` call.

    Returns:
        Evaluation accuracy in [0, 1]; 0 when every latent is collapsed.
    """
    _check_counts(
        batch_size=batch_size,
        num_train=num_train,
        num_eval=num_eval,
        num_variance_estimate=num_variance_estimate,
        chunk_size=chunk_size,
    )
    rng = np.random.default_rng(rng)
    codes = _encode(encode_fn, data, _sample(data, num_variance_estimate, rng), chunk_size)
    global_var = codes.var(axis=0, ddof=1)
    active = np.sqrt(global_var) >= prune_threshold
    if not active.any():
        return 0.0
    args = (encode_fn, data, rng, batch_size)
    train_votes = _factor_vae_votes(*args, num_train, global_var, active, chunk_size)
    eval_votes = _factor_vae_votes(*args, num_eval, global_var, active, chunk_size)
    factor_of_latent = np.argmax(train_votes, axis=0)
    correct = eval_votes[factor_of_latent, np.arange(eval_votes.shape[1])].sum()
    return float(correct / eval_votes.sum())


def _beta_vae_points(
    encode_fn, data, rng, batch_size, num_points, chunk_size
) -> tuple[np.ndarray, np.ndarray]:
    """Features [num_points, L]: mean |z1 - z2| over pairs sharing one factor; labels: which."""
    fixed = rng.integers(len(data.factor_sizes), size=num_points)
    factors1 = _sample(data, num_points * batch_size, rng).reshape(num_points, batch_size, -1)
    factors2 = _sample(data, num_points * batch_size, rng).reshape(num_points, batch_size, -1)
    rows = np.arange(num_points)
    factors2[rows, :, fixed] = factors1[rows, :, fixed]
    z1, z2 = (
        _encode(encode_fn, data, f.reshape(num_points * batch_size, -1), chunk_size)
        for f in (factors1, factors2)
    )
    features = np.abs(z1 - z2).reshape(num_points, batch_size, -1).mean(axis=1)
    return features, fixed


def beta_vae_score(
    encode_fn: EncodeFn,
    data: FactorData,
    rng: np.random.Generator | int,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    *,
    chunk_size: int = 4096,
) -> float:
    """BetaVAE disentanglement score (Higgins et al. 2017), as disentanglement_lib's sklearn one.

    Each point fixes one random factor across `batch_size` pairs of images; its feature is the
    mean absolute difference of the pairs' codes, its label the fixed factor. A logistic
    regression (sklearn defaults, as disentanglement_lib; max_iter raised to 1000 so it
    converges) is fitted on `num_train` points and scored on `num_eval`.
    The defaults are disentanglement_lib's protocol (batches of 64 pairs, 10,000 / 5,000
    points); the `beta_vae` evaluator uses config.disentanglement_votes / half as many.

    Args:
        encode_fn: images [num, ...] -> codes [num, num_latents] (posterior means).
        data: a `FactorData` (factor_sizes, sample_factors, images).
        rng: numpy Generator (or seed) for all sampling.
        batch_size: image pairs per point.
        num_train: points to fit the classifier.
        num_eval: points to score it.
        chunk_size: images per `encode_fn` call.

    Returns:
        Evaluation accuracy in [0, 1]; chance is ~1 / num_factors.
    """
    _check_counts(
        batch_size=batch_size, num_train=num_train, num_eval=num_eval, chunk_size=chunk_size
    )
    rng = np.random.default_rng(rng)
    x_train, y_train = _beta_vae_points(encode_fn, data, rng, batch_size, num_train, chunk_size)
    x_eval, y_eval = _beta_vae_points(encode_fn, data, rng, batch_size, num_eval, chunk_size)
    if len(np.unique(y_train)) < 2:
        raise ValueError(
            f"too few points: the {num_train} training points fix only one factor; raise num_train"
        )
    # One BLAS thread: multithreaded BLAS on these small matrices is slower, much slower on a
    # loaded machine.
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(max_iter=1000, random_state=0).fit(x_train, y_train)
    return float(np.mean(model.predict(x_eval) == y_eval))
