"""Input checks shared by the metrics computed on codes (probes, disentanglement)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def check_codes(codes: ArrayLike, name: str = "codes") -> np.ndarray:
    """codes as float64 [num_samples, num_latents], or a ValueError naming `name`."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D [num_samples, num_latents], got shape {codes.shape}; "
            "for a single latent pass codes[:, None]"
        )
    if not np.all(np.isfinite(codes)):
        raise ValueError(
            f"{name} contain NaN or inf (a diverged model?); metrics need finite codes"
        )
    return codes
