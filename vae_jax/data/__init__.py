"""Data: the dataset registry (IDX, TFDS, sprites, the user's arrays), binarisation, and the
uint8 -> float conversion that runs on the device (`load(config)`, `to_float`)."""

from vae_jax.data.datasets import (
    BINARIZATIONS,
    DATA_DIR_ENV,
    DATASETS,
    TEST_BINARIZATION_SEED,
    Dataset,
    binarize,
    load,
    read_idx,
    resolve_data_dir,
    to_float,
)

__all__ = [
    "BINARIZATIONS", "DATASETS", "DATA_DIR_ENV", "TEST_BINARIZATION_SEED", "Dataset", "binarize",
    "load", "read_idx", "resolve_data_dir", "to_float",
]
