"""dataset=tfds:<name>: a TFDS image dataset prepared on this machine (celeb_a, cifar10,
svhn_cropped, ...), read through `tfds.data_source` (ArrayRecord, no TensorFlow).

The image is the dataset's first `tfds.features.Image` feature, the label its first
`ClassLabel` feature if it has one (celeb_a has none). Images are fitted like an image folder's
(`image_size`, `image_channels`: image_folder.fit_image) and decoded once into a memory-mapped
uint8 `.npy` cache (train rows, then test rows) under the cache dir, keyed by the dataset, its
version, its data_dir and the options. The test split is `test`, else `validation`.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from vae_jax.data import cache as cache_lib
from vae_jax.data import image_folder
from vae_jax.errors import DataError

TEST_SPLITS = ("test", "validation")


def feature_keys(info) -> tuple[str, str | None]:
    """(image feature, label feature or None) of a TFDS dataset's info."""
    import tensorflow_datasets as tfds

    features = info.features
    images = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    labels = [k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)]
    if not images:
        raise DataError(f"TFDS dataset {info.name!r} has no image feature "
                        f"(features: {', '.join(features)})")
    return images[0], (labels[0] if labels else None)


def _sources(name: str, data_dir: str | None):
    import tensorflow_datasets as tfds

    def source(split):
        return tfds.data_source(name, split=split, data_dir=data_dir, download=False)

    try:
        info = tfds.builder(name, data_dir=data_dir).info
        sources = {"train": source("train")}
    except Exception as e:  # TFDS raises several types for "not found / not prepared here"
        raise DataError(
            f"TFDS dataset {name!r} could not be opened ({type(e).__name__}: {e}). Prepare it "
            "once on a machine with network (tfds build, or tfds.data_source with download) "
            "and point --config.tfds_data_dir at its data_dir") from e
    for split in TEST_SPLITS:  # info.splits is empty until prepared: try the names
        try:
            sources["test"] = source(split)
            return info, sources
        except Exception:  # noqa: BLE001, S112 - this split name does not exist: the next
            continue
    raise DataError(f"TFDS dataset {name!r} has neither of the splits {', '.join(TEST_SPLITS)}")


def _decode(sources, image_key, label_key, image_size, channels, path) -> dict:
    from PIL import Image

    first = image_folder.fit_image(Image.fromarray(_squeeze(sources["train"][0][image_key])),
                                   image_size, channels)
    sizes = {split: len(source) for split, source in sources.items()}
    out = np.lib.format.open_memmap(path + ".partial.npy", mode="w+", dtype=np.uint8,
                                    shape=(sum(sizes.values()), *first.shape))
    labels, row = [], 0
    for split in ("train", "test"):
        source = sources[split]
        for i in range(len(source)):  # one at a time: batched reads fail under mock_data
            example = source[i]
            image = Image.fromarray(_squeeze(np.asarray(example[image_key], np.uint8)))
            fitted = image_folder.fit_image(image, image_size, channels)
            if fitted.shape != first.shape:
                raise DataError(f"{split} example {i} has shape {fitted.shape}, the first "
                                f"{first.shape}: set --config.image_size to resize them all")
            out[row] = fitted
            if label_key is not None:
                labels.append(int(example[label_key]))
            row += 1
    out.flush()
    del out
    os.replace(path + ".partial.npy", path)
    return dict(num_train=sizes["train"], labels=labels if label_key is not None else None)


def _squeeze(pixels: np.ndarray) -> np.ndarray:
    return pixels[..., 0] if pixels.ndim == 3 and pixels.shape[-1] == 1 else pixels


def load(name: str, config) -> dict:
    """{train,test}_{images,labels} of TFDS dataset `name` (memory-mapped uint8)."""
    if config.image_channels not in (1, 3):
        raise DataError(f"image_channels must be 3 (RGB) or 1 (grey), got {config.image_channels}")
    data_dir = config.tfds_data_dir or None
    info, sources = _sources(name, data_dir)
    image_key, label_key = feature_keys(info)
    options = [name, str(info.version), os.path.abspath(data_dir or info.data_dir),
               {k: len(v) for k, v in sources.items()}, int(config.image_size),
               int(config.image_channels)]
    key = hashlib.sha256(json.dumps(options).encode()).hexdigest()[:24]
    path = os.path.join(cache_lib.cache_dir(config, "tfds"), f"{name.replace('/', '_')}_{key}.npy")
    if not (os.path.isfile(path) and os.path.isfile(path[:-4] + ".json")):
        meta = _decode(sources, image_key, label_key, int(config.image_size),
                       int(config.image_channels), path)
        with open(path[:-4] + ".json", "w") as f:
            json.dump(meta, f)
    with open(path[:-4] + ".json") as f:
        meta = json.load(f)
    images, split = np.load(path, mmap_mode="r"), meta["num_train"]
    arrays = dict(train_images=images[:split], test_images=images[split:])
    if meta["labels"] is not None:
        labels = np.array(meta["labels"], np.int32)
        arrays.update(train_labels=labels[:split], test_labels=labels[split:])
    return arrays
