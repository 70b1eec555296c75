"""Datasets: a registry of loaders that return uint8 images (+ labels, + factors) on the host.

Images are kept as uint8 `[N, H, W, C]` until they are on the device; `to_float` turns a batch
into floats in [0, 1] inside the jitted epoch, drawing the dynamic binarisation there.

Sources:
* `mnist`, `fashion_mnist`: the standard IDX files (gzip'd or not) from `config.data_dir`, else
  `$VAE_JAX_DATA_DIR`; the directory holds the files or one folder per dataset. When no IDX files
  are found, the files an earlier run downloaded (download.py), else TFDS through
  `tfds.data_source` (no TensorFlow) if it has the dataset prepared, else a download.
* `binarized_mnist`: MNIST with one fixed (static) binarisation, seeded by `config.data_seed`.
* `sprites`: the procedurally generated dSprites-style dataset (no download), with factors.
* `image_folder`: a folder of PNG / JPEG images (`config.data_path`), see image_folder.py.
* `tfds:<name>`: any TFDS image dataset prepared locally (celeb_a, cifar10, ...), read through
  `tfds.data_source`, see tfds_images.py.
* `arrays`: the user's own arrays from an `.npz` file (`config.data_path`) with `train_images`,
  `test_images` (uint8 [N, H, W] or [N, H, W, C]; floats in [0, 1] are accepted and quantised)
  and optional `train_labels`, `test_labels`, `train_factors`, `test_factors`.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import struct
import zlib

import jax
import jax.numpy as jnp
import numpy as np

from vae_jax.data import array_checks, download
from vae_jax.errors import DataError

DATASETS = ("mnist", "fashion_mnist", "binarized_mnist", "sprites", "arrays", "image_folder",
            "tfds:<name>")
BINARIZATIONS = ("dynamic", "static", "none")
DATA_SOURCES = ("auto", "idx", "tfds")  # of mnist / fashion_mnist: IDX files, else TFDS
DATA_DIR_ENV = "VAE_JAX_DATA_DIR"
# The test set is binarised once with this key whatever the run's seeds, so that test numbers
# of different runs are computed on the very same binary images.
TEST_BINARIZATION_SEED = 20151101
_IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_IDX_UINT8 = 0x08


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Host-side uint8 images and their annotations. Labels/factors are None when unknown."""

    name: str
    train_images: np.ndarray
    test_images: np.ndarray
    train_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    train_factors: np.ndarray | None = None
    test_factors: np.ndarray | None = None
    factor_names: tuple[str, ...] = ()
    factor_sizes: tuple[int, ...] = ()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.train_images.shape[1:])


# ------------------------------------------------------------------------------------ IDX files
def read_idx(path: str) -> np.ndarray:
    """Reads one IDX file (optionally gzip'd) of unsigned bytes into an array of its shape."""
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(
            f"{path}: cannot read ({e}); the file is damaged or truncated - download it again"
        ) from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(
            f"{path}: not an IDX file (the magic number must start with two zero bytes, got "
            f"{raw[:4].hex() or 'an empty file'}); point data_dir at the original MNIST-format "
            "files"
        )
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code != _IDX_UINT8 or ndim == 0:
        raise DataError(
            f"{path}: IDX magic {raw[:4].hex()} is not unsigned-byte data with >= 1 dimension "
            "(expected 00000801 for labels or 00000803 for images)"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated inside its header; download the file again")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: header announces shape {dims} ({expected} bytes) but the file holds "
            f"{len(raw) - header} bytes of data; the file is truncated or corrupt - download it "
            "again"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _find_idx_file(directory: str, name: str, stem: str) -> str | None:
    for folder in (os.path.join(directory, name), directory):
        for candidate in (stem, stem + ".gz"):
            path = os.path.join(folder, candidate)
            if os.path.isfile(path):
                return path
    return None


def _load_idx(name: str, directory: str) -> dict[str, np.ndarray] | None:
    """The four standard files of `name` under `directory`, or None when none is there."""
    paths = {key: _find_idx_file(directory, name, stem) for key, stem in _IDX_NAMES.items()}
    if not any(paths.values()):
        return None
    missing = [_IDX_NAMES[k] for k, p in paths.items() if p is None]
    if missing:
        raise DataError(
            f"{directory}: found some {name} IDX files but not {', '.join(missing)} (.gz or not)"
        )
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(
                f"{directory}: {split} images {images.shape} and labels {labels.shape} do not "
                "match (expected [N, H, W] images and N labels)"
            )
        arrays[f"{split}_images"] = images[..., None]
    return arrays


def _load_tfds(name: str, data_dir: str | None) -> dict[str, np.ndarray]:
    import tensorflow_datasets as tfds  # imported lazily: slow, and only this path needs it

    arrays = {}
    for split, tfds_split in (("train", "train"), ("test", "test")):
        # download=False: offline machines must fail fast, not try to fetch and prepare.
        source = tfds.data_source(name, split=tfds_split, data_dir=data_dir, download=False)
        examples = [source[i] for i in range(len(source))]
        arrays[f"{split}_images"] = np.stack([e["image"] for e in examples]).astype(np.uint8)
        arrays[f"{split}_labels"] = np.array([e["label"] for e in examples], np.int32)
    return arrays


def resolve_data_dir(config) -> str:
    return config.data_dir or os.environ.get(DATA_DIR_ENV, "")


def _load_labelled(name: str, config) -> dict[str, np.ndarray]:
    directory = resolve_data_dir(config)
    if config.data_source in ("auto", "idx") and directory:
        if not os.path.isdir(directory):
            raise DataError(
                f"data directory {directory!r} does not exist; set --config.data_dir or "
                f"${DATA_DIR_ENV} to the folder holding the {name} IDX files (e.g. ../shared/data)"
            )
        arrays = _load_idx(name, directory)
        if arrays is not None:
            return arrays
    if config.data_source in ("auto", "idx"):  # downloaded by an earlier run
        arrays = _load_idx(name, download.cached_dir(config, name))
        if arrays is not None:
            return arrays
    tfds_error = download_error = None
    if config.data_source in ("auto", "tfds"):
        try:
            return _load_tfds(name, config.tfds_data_dir or None)
        except Exception as e:  # TFDS raises several types for "not prepared here"
            tfds_error = e
    if config.data_source in ("auto", "idx") and config.download:
        try:
            return _load_idx(name, download.download(config, name))
        except DataError as e:
            download_error = e
    raise DataError(
        f"no {name} data: no IDX files under data_dir={directory!r} (set --config.data_dir or "
        f"${DATA_DIR_ENV} to a folder with train-images-idx3-ubyte[.gz] etc., or one folder per "
        f"dataset like ../shared/data)"
        + (f", and TFDS could not load it ({type(tfds_error).__name__}: {tfds_error})"
           if tfds_error else "")
        + (f", and the download failed: {download_error}" if download_error else "")
    )


def _load_arrays(config) -> dict[str, np.ndarray]:
    path = config.data_path
    if not path or not os.path.isfile(path):
        raise DataError(
            f"dataset 'arrays' reads an .npz file: --config.data_path={path!r} is not a file"
        )
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    array_checks.check_names(path, arrays)
    for key in array_checks.IMAGES:
        arrays[key] = array_checks.as_uint8_images(path, key, arrays[key])
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise DataError(f"{path}: train and test images differ in shape")
    array_checks.check_annotations(path, arrays)
    return arrays


def _load_sprites(config) -> dict:
    from vae_jax.data import sprites

    num_train = config.num_train or 50_000
    num_test = config.num_test or 10_000
    arrays = sprites.load(num_train=num_train, num_test=num_test, seed=config.data_seed)
    return dict(
        arrays,
        # The shape is the sprites' natural class label (for probes and latent-map colours).
        train_labels=arrays["train_factors"][:, 0],
        test_labels=arrays["test_factors"][:, 0],
        factor_names=sprites.FACTOR_NAMES,
        factor_sizes=sprites.FACTOR_SIZES,
    )


def binarize(images: np.ndarray, seed: int) -> np.ndarray:
    """One Bernoulli sample of uint8 intensities, as uint8 {0, 255} (on the host, once)."""
    uniform = np.random.default_rng(seed).random(images.shape, dtype=np.float32)
    return (uniform * 255.0 < images).astype(np.uint8) * 255


def _subsample(arrays: dict, num_train: int, num_test: int) -> dict:
    out = dict(arrays)
    for split, num in (("train", num_train), ("test", num_test)):
        if num:
            for key in [k for k in arrays if k.startswith(split + "_")]:
                out[key] = arrays[key][:num]
    return out


def _exclude_train_labels(arrays: dict, excluded: tuple[int, ...], name: str) -> dict:
    """Drops the training examples of `excluded` classes (the test split keeps every class):
    the setting of anomaly detection, where the held-out class is the anomaly."""
    labels = arrays.get("train_labels")
    if labels is None:
        raise DataError(f"exclude_train_labels needs labels; dataset {name!r} has none")
    unknown = sorted(set(excluded) - set(np.unique(labels).tolist()))
    if unknown:
        raise DataError(f"exclude_train_labels: no class {unknown} in {name!r} (its classes are "
                        f"{np.unique(labels).tolist()})")
    keep = ~np.isin(labels, excluded)
    return {k: (v[keep] if k.startswith("train_") else v) for k, v in arrays.items()}


def load(config) -> Dataset:
    """`config.dataset` as host uint8 arrays, binarised as `config.binarization` says."""
    if config.dataset not in DATASETS[:-1] and not config.dataset.startswith("tfds:"):
        raise DataError(
            f"unknown dataset {config.dataset!r}; choose one of {', '.join(DATASETS)} "
            "(--config.dataset=...)"
        )
    if config.binarization not in BINARIZATIONS:
        raise DataError(
            f"unknown binarization {config.binarization!r}; choose one of "
            f"{', '.join(BINARIZATIONS)} (--config.binarization=...)"
        )
    if config.dataset in ("mnist", "fashion_mnist"):
        arrays = _load_labelled(config.dataset, config)
    elif config.dataset == "binarized_mnist":
        arrays = _load_labelled("mnist", config)
    elif config.dataset == "sprites":
        arrays = _load_sprites(config)
    elif config.dataset == "image_folder":
        from vae_jax.data import image_folder

        arrays = image_folder.load(config)
    elif config.dataset.startswith("tfds:"):
        from vae_jax.data import tfds_images

        arrays = tfds_images.load(config.dataset[len("tfds:"):], config)
    else:
        arrays = _load_arrays(config)
    if config.exclude_train_labels:
        arrays = _exclude_train_labels(arrays, tuple(config.exclude_train_labels), config.dataset)
    if config.dataset != "sprites":
        arrays = _subsample(arrays, config.num_train, config.num_test)
    binarization = "static" if config.dataset == "binarized_mnist" else config.binarization
    if binarization != "none":
        # Dynamic binarisation draws training samples on the device each step; the test set is
        # binarised once, with a fixed key, in both modes.
        arrays["test_images"] = binarize(arrays["test_images"], TEST_BINARIZATION_SEED)
    if binarization == "static":
        arrays["train_images"] = binarize(arrays["train_images"], config.data_seed)
    return Dataset(name=config.dataset, **arrays)


def to_float(images: jax.Array, key: jax.Array | None) -> jax.Array:
    """uint8 images -> float32 in [0, 1]; with a key, a fresh Bernoulli sample of them
    (dynamic binarisation)."""
    # Over flat pixels, then back: XLA:CPU fuses the draw, the compare and the conversion when
    # the pixels are [B, 784]; over [B, 28, 28, 1] it stored the compare's booleans and
    # converted them in a separate pass (~5% of an MNIST VAE step). The random bits are drawn
    # flat and reshaped either way, so the samples are the same.
    probs = images.reshape(images.shape[0], -1).astype(jnp.float32) / 255.0
    if key is not None:
        probs = jax.random.bernoulli(key, probs).astype(jnp.float32)
    return probs.reshape(images.shape)
