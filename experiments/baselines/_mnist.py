"""A few lines of numpy to read MNIST for standalone baseline checks (not vae_jax's loader)."""

import gzip
import os
from pathlib import Path

import numpy as np

_REPO_ROOT = Path(__file__).resolve().parents[2]
_DEFAULT_DATA_DIR = _REPO_ROOT.parent / "shared" / "data"


def load_mnist_images(path: str | os.PathLike | None = None) -> np.ndarray:
    """Reads an IDX image file (gzip) into float32 [N, 784] with values in [0, 1].

    Default: `$VAE_JAX_DATA_DIR/mnist/train-images-idx3-ubyte.gz` (`../shared/data` if unset).
    """
    if path is None:
        data_dir = Path(os.environ.get("VAE_JAX_DATA_DIR", _DEFAULT_DATA_DIR))
        path = data_dir / "mnist" / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = np.frombuffer(raw, dtype=">u4", count=4)
    if magic != 2051:
        raise ValueError(f"{path}: magic {magic}, expected 2051 (IDX uint8 images)")
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16, count=n * rows * cols)
    return pixels.reshape(n, rows * cols).astype(np.float32) / 255.0


def binarize(images: np.ndarray, seed: int = 0) -> np.ndarray:
    """One fixed Bernoulli draw per pixel ("pre-binarised" floats in {0, 1})."""
    rng = np.random.default_rng(seed)
    return (rng.random(images.shape, dtype=np.float32) < images).astype(np.float32)
