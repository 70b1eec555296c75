"""dataset=image_folder: a folder of PNG / JPEG images (`config.data_path`, searched
recursively), decoded once into a uint8 `.npy` cache that later runs memory-map.

* Labels: when every image lies in a first-level sub-folder, the sub-folders are the classes
  (sorted names -> 0, 1, ...); images at the top level mean no labels.
* Splits: `train/` and `test/` sub-folders are the given splits (their own sub-folders are the
  classes); otherwise a fixed fraction (`test_fraction`) is held out by a fixed seed, the same
  for every run whatever its seeds.
* Size: `image_size` > 0 centre-crops every image to a square and resizes it to
  `image_size` x `image_size` with PIL's antialiased Lanczos filter. `image_size` = 0 keeps the
  images' own size, which must then be the same for all (else a DataError asks for
  `image_size`): silently resizing images of different shapes would change the data.
* Channels: `image_channels` 3 (RGB) or 1 (ITU-R 601 luma); palettes, alpha and 16-bit
  images are converted by PIL.
* Unreadable files are listed; `on_bad_image=skip` leaves them out, `error` stops.
* Cache: `<cache dir>/image_folder/<key>.npy` (+ `.json`: the split and labels), the key a hash
  of the folder's path, every file's name, size and mtime, and the options above, so a changed
  folder is decoded again. The cache holds train rows then test rows: both splits are views.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from vae_jax.data import cache as cache_lib
from vae_jax.errors import DataError

EXTENSIONS = (".png", ".jpg", ".jpeg")
ON_BAD_IMAGE = ("skip", "error")
# The held-out split of a folder without train/ and test/ (independent of the run's seeds).
SPLIT_SEED = 20261202


def list_images(root: str) -> list[str]:
    """Image files under `root`, recursively, as sorted paths relative to it."""
    found = []
    for directory, subdirs, files in os.walk(root):
        subdirs.sort()
        found += [os.path.relpath(os.path.join(directory, f), root) for f in files
                  if f.lower().endswith(EXTENSIONS)]
    return sorted(found)


def _class_of(relpath: str) -> str | None:
    parts = relpath.split(os.sep)
    return parts[0] if len(parts) > 1 else None


def plan_splits(root: str, files: list[str], test_fraction: float):
    """-> (ordered files, number of train files, labels [N] or None, class names)."""
    given = {f.split(os.sep)[0] for f in files} == {"train", "test"}
    if given:
        train = [f for f in files if f.startswith("train" + os.sep)]
        test = [f for f in files if f.startswith("test" + os.sep)]
        within = [f.split(os.sep, 1)[1] for f in train + test]
    else:
        if not 0 < test_fraction < 1:
            raise DataError(f"test_fraction must lie in (0, 1), got {test_fraction}")
        order = np.random.default_rng(SPLIT_SEED).permutation(len(files))
        num_test = max(1, round(test_fraction * len(files)))
        if num_test >= len(files):
            raise DataError(f"{root}: {len(files)} image(s) cannot make a train and a test split")
        test = [files[i] for i in sorted(order[:num_test])]
        train = [files[i] for i in sorted(order[num_test:])]
        within = train + test
    classes = [_class_of(f) for f in within]
    if any(c is None for c in classes):
        return train + test, len(train), None, ()
    names = tuple(sorted(set(classes)))
    return train + test, len(train), np.array([names.index(c) for c in classes], np.int32), names


def read_image(path: str, image_size: int, channels: int) -> np.ndarray:
    """One image file as uint8 [S, S, C] (see `fit_image`)."""
    from PIL import Image  # imported lazily: only image folders need it

    with Image.open(path) as image:
        return fit_image(image, image_size, channels)


def fit_image(image, image_size: int, channels: int) -> np.ndarray:
    """A PIL image as uint8 [S, S, C]: converted to RGB or grey, and when image_size > 0
    centre-cropped to a square and resized with the antialiased Lanczos filter."""
    from PIL import Image

    image = image.convert("RGB" if channels == 3 else "L")
    width, height = image.size
    if image_size and (width, height) != (image_size, image_size):
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        image = image.resize((image_size, image_size), Image.Resampling.LANCZOS,
                             box=(left, top, left + side, top + side), reducing_gap=None)
    pixels = np.asarray(image, np.uint8)
    return pixels[..., None] if pixels.ndim == 2 else pixels


def _native_shape(root: str, files: list[str], bad: dict) -> tuple[int, int]:
    """The one (height, width) of all images (header reads), else a DataError."""
    from PIL import Image

    sizes = {}
    for f in files:
        try:
            with Image.open(os.path.join(root, f)) as image:
                sizes.setdefault(image.size[::-1], []).append(f)
        except Exception as e:  # PIL raises many kinds for damaged files
            bad[f] = f"{type(e).__name__}: {e}"
    if len(sizes) > 1:
        seen = ", ".join(f"{h}x{w} ({len(fs)}, e.g. {fs[0]})" for (h, w), fs in sizes.items())
        raise DataError(f"{root}: images of different sizes ({seen}); set "
                        "--config.image_size=S to centre-crop and resize them all to SxS")
    if not sizes:
        return 0, 0
    return next(iter(sizes))


def _bad_images_error(root: str, bad: dict) -> DataError:
    listed = "; ".join(f"{f} ({why})" for f, why in list(bad.items())[:10])
    more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
    return DataError(f"{root}: {len(bad)} unreadable image(s): {listed}{more}. Remove or "
                     "re-export them, or set --config.on_bad_image=skip to leave them out")


def _decode_all(root, files, shape, channels, image_size, path, bad) -> np.ndarray:
    """Decodes `files` into a new .npy at `path` (rows of failed files stay zero, listed in
    `bad`), two threads (PIL releases the GIL while decoding)."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8,
                                    shape=(len(files), *shape, channels))

    def fill(i):
        if files[i] in bad:
            return
        try:
            out[i] = read_image(os.path.join(root, files[i]), image_size, channels)
        except Exception as e:  # noqa: BLE001 - any decoding failure is the file's
            bad[files[i]] = f"{type(e).__name__}: {e}"

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(fill, range(len(files))))
    out.flush()
    return out


def _cache_key(root: str, files: list[str], options: dict) -> str:
    digest = hashlib.sha256(json.dumps([os.path.abspath(root), options]).encode())
    for f in files:
        stat = os.stat(os.path.join(root, f))
        digest.update(f"{f}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def _build_cache(root, config, files, num_train, labels, classes, path) -> None:
    bad = {}
    channels, size = int(config.image_channels), int(config.image_size)
    shape = (size, size) if size else _native_shape(root, files, bad)
    if bad and config.on_bad_image == "error":
        raise _bad_images_error(root, bad)
    partial = path + ".partial.npy"
    images = _decode_all(root, files, shape, channels, size, partial, bad)
    if bad and config.on_bad_image == "error":
        os.remove(partial)
        raise _bad_images_error(root, bad)
    keep = np.array([f not in bad for f in files])
    if not keep.all():  # rare: compact the good rows into the final file
        compact = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8,
                                            shape=(int(keep.sum()), *images.shape[1:]))
        compact[:] = images[keep]
        compact.flush()
        del compact
        os.remove(partial)
    else:
        os.replace(partial, path)
    meta = dict(num_train=int(keep[:num_train].sum()), classes=list(classes),
                labels=None if labels is None else labels[keep].tolist(), skipped=bad)
    if meta["num_train"] == 0 or meta["num_train"] == int(keep.sum()):
        os.remove(path)
        raise DataError(f"{root}: no readable image left in the train or the test split "
                        f"({len(bad)} skipped)")
    with open(path[:-4] + ".json", "w") as f:
        json.dump(meta, f)


def load(config) -> dict:
    """The folder `config.data_path` as {train,test}_{images,labels} (memory-mapped uint8)."""
    root = config.data_path
    if not root or not os.path.isdir(root):
        raise DataError(f"dataset 'image_folder' reads a folder of images: "
                        f"--config.data_path={root!r} is not a folder")
    if config.image_channels not in (1, 3):
        raise DataError(f"image_channels must be 3 (RGB) or 1 (grey), got {config.image_channels}")
    if config.on_bad_image not in ON_BAD_IMAGE:
        raise DataError(f"on_bad_image must be one of {', '.join(ON_BAD_IMAGE)}, "
                        f"got {config.on_bad_image!r}")
    files = list_images(root)
    if not files:
        raise DataError(f"{root}: no images (searched recursively for "
                        f"{', '.join(EXTENSIONS)})")
    files, num_train, labels, classes = plan_splits(root, files, config.test_fraction)
    options = dict(size=int(config.image_size), channels=int(config.image_channels),
                   bad=config.on_bad_image, split=[num_train, float(config.test_fraction)])
    directory = cache_lib.cache_dir(config, "image_folder")
    path = os.path.join(directory, _cache_key(root, files, options) + ".npy")
    if not (os.path.isfile(path) and os.path.isfile(path[:-4] + ".json")):
        _build_cache(root, config, files, num_train, labels, classes, path)
    with open(path[:-4] + ".json") as f:
        meta = json.load(f)
    if meta["skipped"]:
        logging.warning("%s: left out %d unreadable image(s) (on_bad_image=skip): %s", root,
                        len(meta["skipped"]), ", ".join(list(meta["skipped"])[:10]))
    images = np.load(path, mmap_mode="r")
    split = meta["num_train"]
    arrays = dict(train_images=images[:split], test_images=images[split:])
    if meta["labels"] is not None:
        all_labels = np.array(meta["labels"], np.int32)
        arrays.update(train_labels=all_labels[:split], test_labels=all_labels[split:])
    return arrays
