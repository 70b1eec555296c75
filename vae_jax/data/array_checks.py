"""Checks of the user's own arrays (dataset=arrays), each naming the array and the fix.

An .npz with a label too many, a NaN pixel or intensities of 0-255 stored as floats would
otherwise train on garbage or fail far from the cause (a shape error inside jit, a NaN loss).
"""

from __future__ import annotations

import numpy as np

from vae_jax.errors import DataError

IMAGES = ("train_images", "test_images")
ANNOTATIONS = ("train_labels", "test_labels", "train_factors", "test_factors")
ARRAY_NAMES = IMAGES + ANNOTATIONS


def check_names(path: str, arrays: dict) -> None:
    """Only the known array names, both images present, annotations in train/test pairs."""
    unknown = sorted(set(arrays) - set(ARRAY_NAMES))
    if unknown:
        raise DataError(f"{path}: unknown array(s) {unknown}; an arrays dataset holds "
                        f"{', '.join(ARRAY_NAMES)}")
    for key in IMAGES:
        if key not in arrays:
            raise DataError(f"{path}: no array named {key!r} (have {sorted(arrays)})")
    for kind in ("labels", "factors"):
        given = [f"{split}_{kind}" for split in ("train", "test") if f"{split}_{kind}" in arrays]
        if len(given) == 1:
            raise DataError(f"{path}: {given[0]} without its pair; give train_{kind} and "
                            f"test_{kind}, or neither")


def as_uint8_images(path: str, key: str, images: np.ndarray) -> np.ndarray:
    """[N, H, W(, C)] uint8: uint8 as 0-255, any other numbers as intensities in [0, 1]
    (quantised), as the arrays dataset always read them."""
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise DataError(f"{path}: {key} has shape {images.shape}; expected [N, H, W(, C)]")
    if images.dtype == np.uint8:
        return images
    if not (np.issubdtype(images.dtype, np.number) or images.dtype == np.bool_):
        raise DataError(f"{path}: {key} has dtype {images.dtype}; use uint8 0-255 or floats in "
                        "[0, 1]")
    if np.issubdtype(images.dtype, np.inexact):
        bad = int(np.count_nonzero(~np.isfinite(images)))
        if bad:
            raise DataError(f"{path}: {key} holds {bad} NaN or Inf pixel value(s); every "
                            "pixel must be a finite intensity in [0, 1]")
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 1:
        raise DataError(f"{path}: {images.dtype} {key} must lie in [0, 1] (found {low:g} to "
                        f"{high:g}); store 0-255 intensities as uint8")
    return np.round(images * 255).astype(np.uint8)


def check_annotations(path: str, arrays: dict) -> None:
    """Labels [N] and factors [N, F] of integers, as many as the images of their split."""
    for split in ("train", "test"):
        num = len(arrays[f"{split}_images"])
        for kind, ndim in (("labels", 1), ("factors", 2)):
            key = f"{split}_{kind}"
            if key not in arrays:
                continue
            values = arrays[key]
            if values.ndim != ndim:
                shape = "[N]" if ndim == 1 else "[N, num_factors]"
                raise DataError(f"{path}: {key} has shape {values.shape}; expected {shape}")
            if len(values) != num:
                raise DataError(f"{path}: {key} has {len(values)} entries but {split}_images "
                                f"has {num} images; give one per image")
            if not np.issubdtype(values.dtype, np.integer):
                raise DataError(f"{path}: {key} has dtype {values.dtype}; expected integer "
                                f"{'class indices' if kind == 'labels' else 'factor values'}")
            if values.size and values.min() < 0:
                raise DataError(f"{path}: {key} holds negative values; expected indices >= 0")
    if "train_factors" in arrays and \
            arrays["train_factors"].shape[1] != arrays["test_factors"].shape[1]:
        raise DataError(f"{path}: train_factors and test_factors differ in their number of "
                        "factors")
