"""scikit-learn internals vae_jax needs: the fitted trees of HistGradientBoostingClassifier.

Its estimator has no public `feature_importances_` and no public view of its trees; DCI's
`hist_gradient_boosting` importance sums the split gains of those trees
(`metrics.importance`). Checked on use: a scikit-learn that moved them raises a clear error.
"""

from __future__ import annotations

import numpy as np
import sklearn

TESTED = "1.9"  # the scikit-learn series this was written against


def split_gains(model, num_features: int) -> np.ndarray:
    """Split gain of every internal node of a fitted HistGradientBoostingClassifier's trees,
    summed per feature (unnormalised) [num_features]."""
    gains = np.zeros(num_features)
    try:
        iterations = model._predictors  # [iterations][trees per iteration (one per class, or 1)]
        for trees in iterations:
            for tree in trees:
                nodes = tree.nodes[tree.nodes["is_leaf"] == 0]
                np.add.at(gains, nodes["feature_idx"], np.maximum(nodes["gain"], 0.0))
    except (AttributeError, KeyError, ValueError, TypeError) as e:
        raise RuntimeError(
            "dci_importance_model=hist_gradient_boosting reads the trees of scikit-learn's "
            f"HistGradientBoostingClassifier, which this scikit-learn ({sklearn.__version__}) "
            f"keeps elsewhere ({type(e).__name__}: {e}); vae_jax is tested with scikit-learn "
            f"{TESTED}.x. Use dci_importance_model=gradient_boosting or random_forest, or "
            "install the pinned scikit-learn") from e
    return gains
