"""DCI's importance matrix: one tree-ensemble classifier per factor, the factors fitted in parallel.

Models, by name (`MODELS`):

* `gradient_boosting`: disentanglement_lib's model, sklearn's `GradientBoostingClassifier()` with
  every default (100 stages of depth-3 regression trees, one tree per class per stage, learning
  rate 0.1, friedman_mse splits); importance = its impurity `feature_importances_`. The published
  DCI numbers are this model. `random_state=seed` only breaks ties between equal splits.
* `hist_gradient_boosting`: `HistGradientBoostingClassifier` set up like that model (100
  iterations of depth-3 trees, learning rate 0.1, leaves of >= 1 sample, no l2, no early
  stopping); importance = the split gains of every tree, summed per latent and normalised. A
  different model (256-bin features, Newton gains): faster, agreement in docs/evaluators.md.
* `random_forest`: 25 trees, every latent considered at every split, leaves of >= 20 samples.
  The fastest; its D and C read higher than the boosted trees' (docs/evaluators.md).

Factors are fitted in threads (`n_jobs`), largest factor first so the workers stay balanced: the
trees are built in scikit-learn's C code without the GIL, and threads skip the start-up of worker
processes. Each fit is the same as a sequential one (same model, same seed): parallel and
sequential give equal matrices.
"""

from __future__ import annotations

import os

import numpy as np
from joblib import Parallel, delayed
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from threadpoolctl import threadpool_limits

from vae_jax.compat import sklearn as compat_sklearn

MODELS = ("gradient_boosting", "hist_gradient_boosting", "random_forest")


def check_model(name: str) -> None:
    """The one check of a model's name: at the public entry, `disentanglement.dci`."""
    if name not in MODELS:
        raise ValueError(
            f"importance_model must be one of {', '.join(map(repr, MODELS))}, got {name!r}"
        )


def make_model(name: str, seed: int):
    """A fresh, unfitted classifier `name`, one of MODELS (see the module docstring)."""
    if name == "gradient_boosting":  # disentanglement_lib: GradientBoostingClassifier()
        return GradientBoostingClassifier(random_state=seed)
    if name == "hist_gradient_boosting":
        return HistGradientBoostingClassifier(
            learning_rate=0.1, max_iter=100, max_depth=3, max_leaf_nodes=None,
            min_samples_leaf=1, l2_regularization=0.0, early_stopping=False, random_state=seed,
        )
    # All features at every split (as boosting does) and leaves of >= 20 samples: without them
    # fully grown trees split on noise latents deep down and spread importance there.
    return RandomForestClassifier(
        n_estimators=25, max_features=None, min_samples_leaf=20, random_state=seed, n_jobs=1
    )


def _split_gains(model: HistGradientBoostingClassifier, num_latents: int) -> np.ndarray:
    """Split gains of every tree of a fitted HistGradientBoostingClassifier, summed per latent and
    normalised to sum 1 (all zero without splits): the analogue of `feature_importances_`."""
    gains = compat_sklearn.split_gains(model, num_latents)
    total = gains.sum()
    return gains / total if total > 0 else gains


def _fit_factor(name, seed, codes_train, labels_train, codes_test, labels_test):
    """-> (importance of each latent [L], test accuracy) of one factor's classifier."""
    # One OpenMP thread per fit (HistGradientBoosting's): the factors are the parallel part, and
    # OpenMP threads on a busy 2-core machine made a test of sequential fits ~5x slower.
    with threadpool_limits(limits=1, user_api="openmp"):
        model = make_model(name, seed).fit(codes_train, labels_train)
    if name == "hist_gradient_boosting":
        importance = _split_gains(model, codes_train.shape[1])
    else:
        importance = np.abs(model.feature_importances_)
    return importance, float(np.mean(model.predict(codes_test) == labels_test))


def importance_matrix(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    model: str = "gradient_boosting",
    seed: int = 0,
    n_jobs: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Importance of each latent for each factor, and each factor's classifier's test accuracy.

    Args:
        codes_train, codes_test: float [N, L].
        factors_train, factors_test: class indices int [N, F].
        model: one of `MODELS` (checked by `disentanglement.dci`).
        seed: random_state of every classifier.
        n_jobs: factors fitted at once (threads); None: min(F, CPU count).

    Returns:
        importance float [L, F] (each non-zero column sums to 1), test accuracy float [F].
    """
    num_factors = factors_train.shape[1]
    n_jobs = min(num_factors, os.cpu_count() or 1) if n_jobs is None else n_jobs
    # Trees work in float32 anyway; one contiguous copy instead of one per fit.
    codes_train = np.ascontiguousarray(codes_train, dtype=np.float32)
    codes_test = np.ascontiguousarray(codes_test, dtype=np.float32)
    order = sorted(range(num_factors), key=lambda j: -len(np.unique(factors_train[:, j])))
    fits = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_fit_factor)(model, seed, codes_train, factors_train[:, j], codes_test,
                             factors_test[:, j])
        for j in order
    )
    by_factor = dict(zip(order, fits, strict=True))
    importance = np.stack([by_factor[j][0] for j in range(num_factors)], axis=1)
    return importance, np.array([by_factor[j][1] for j in range(num_factors)])
