"""The `codebook` evaluator of a VQ-VAE: how many codebook entries the test set uses.

perplexity = exp(entropy of the code usage over all test images and code positions): K if
every entry is used equally often, 1 if one entry takes everything; `codebook_used` is the
fraction of entries used at least once. Both need counts over the whole test set, not a mean
of per-example values, so the jitted evaluation returns the counts (`code_counts`, [K] per
member) and `usage_metrics` turns them into the two numbers. `mse` is the per-example mean
squared error of the likelihood's mean image (objectives.make_mean_image), in [0, 1]^2 pixels.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def make_usage(model, codebook_size: int, mean_image):
    """(params, x, key unused) -> per-example `code_counts` [B, K] and `mse` [B];
    `mean_image(logits)` is the likelihood's mean image."""

    def usage(params, x, key):
        del key  # deterministic
        outputs = model.apply({"params": params}, x)
        counts = jax.nn.one_hot(outputs["indices"], codebook_size).sum(axis=-2)
        image = mean_image(outputs["logits"])
        if image.shape != x.shape:  # never compare images by broadcasting
            raise ValueError(f"mean image {image.shape} is not shaped like the data {x.shape}")
        mse = jnp.mean((image - x) ** 2, axis=tuple(range(1, x.ndim)))
        return dict(code_counts=counts, mse=mse)

    return usage


def usage_metrics(counts: np.ndarray) -> dict[str, np.ndarray]:
    """{'eval/codebook_perplexity', 'eval/codebook_used'} per member from counts [M, K]."""
    counts = np.asarray(counts, np.float64)
    probs = counts / counts.sum(axis=-1, keepdims=True)
    entropy = -np.sum(np.where(probs > 0, probs * np.log(np.where(probs > 0, probs, 1)), 0),
                      axis=-1)
    return {"eval/codebook_perplexity": np.exp(entropy),
            "eval/codebook_used": (counts > 0).mean(axis=-1)}
