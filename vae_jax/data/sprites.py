"""Sprites: a procedurally rendered dSprites-style dataset that needs no download.

64x64 binary images (uint8, 0 or 255) of one white shape on black, with the five
ground-truth factors of dSprites (Matthey et al. 2017):

    shape        3   0 square, 1 ellipse, 2 heart
    scale        6   linspace(0.5, 1, 6)
    orientation 40   linspace(0, 2*pi, 40), endpoint included as in dSprites
    position_x  32   linspace(0, 1, 32) -> centre column 10 .. 53 (pixel index)
    position_y  32   linspace(0, 1, 32) -> centre row 10 .. 53 (rows grow downwards)

737,280 combinations. Geometry: every shape is drawn so that it fits a circle of
radius 9.5 px * scale around its centre (its area centroid), at every orientation.
With centres 10 px from the edge, nothing ever touches the border pixels. At scale 1
this gives a 13.4 px square, a 19 x 9.5 px ellipse (major axis horizontal at
orientation 0) and a 16.7 x 17.7 px heart pointing down at orientation 0, i.e. about
a quarter to a third of the image, as in dSprites. Orientation rotates the shape
counterclockwise on screen around its centre. Like dSprites, the square repeats
every 90 degrees and the ellipse every 180 degrees, and orientation indices 0 and 39
are the same angle.

Splits (`load`): the train and test splits share no factor tuple and no image. Only
orientations 0 and 39 are exactly one angle (4 * 360 / 39 degrees is no multiple of 90,
so no two other indices are a symmetry apart), so the tuples are drawn without
replacement from the 718,848 *distinct* tuples (orientation 39 folded into 0). Pixels
repeat more often than tuples: rendering all 737,280 tuples gives 697,440 distinct
images: small squares and ellipses a few degrees apart modulo their symmetry (up to
23 degrees for the square, mostly 2.3 modulo 90 and 4.6 modulo 180), some squares at
neighbouring scales, and small hearts at neighbouring angles rasterise to the same
pixels. No rule on the factors names these, so a test tuple whose image equals a
training image is skipped and the next one drawn. `sample_factors` (the
disentanglement metrics' fresh samples) still draws from all 737,280 combinations,
as disentanglement_lib does.

Rasterisation: each pixel centre is mapped through the inverse translation, rotation
and scale into the shape's canonical frame and tested with an implicit inside
function; numpy, float32, in chunks of 64 images so that the temporaries stay in cache
(`python -m vae_jax.data.sprites` times it; numbers in docs/performance.md).
"""

import time

import numpy as np

FACTOR_NAMES: tuple[str, ...] = ("shape", "scale", "orientation", "position_x", "position_y")
FACTOR_SIZES: tuple[int, ...] = (3, 6, 40, 32, 32)
IMAGE_SHAPE = (64, 64, 1)

SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2.0 * np.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)

# Radius (px) of the circle that holds each shape at scale 1, and the range of pixel
# indices its centre moves over. 53 = 63 - 10 keeps the range symmetric, and
# 9.5 < 10 keeps the shape off the border pixels at every position and angle.
_RADIUS_PX = 9.5
_CENTRE_MIN, _CENTRE_MAX = 10.0, 53.0

_SQUARE_HALF_SIDE = 1.0 / np.sqrt(2.0)  # corners on the unit circle
_ELLIPSE_MINOR = 0.5  # axes ratio 1 : 0.5
# The heart (u^2 + v^2 - 1)^3 - u^2 v^3 <= 0 has its area centroid at v = 0.29348
# (numerical integration on a 4001^2 grid); its farthest point from there is the tip
# at v = -1. Centring on the centroid keeps the image centroid at the stated position
# for every orientation.
_HEART_CENTROID_V = 0.29348
_HEART_RADIUS = 1.0 + _HEART_CENTROID_V

# Tags the split's numpy stream, np.random.default_rng([SPLIT_STREAM, seed]), so that it
# shares no bits with another stream seeded from the same data_seed.
SPLIT_STREAM = int.from_bytes(b"vae_jax.sprites.split", "big")
# Orientation 39 (2 pi) is orientation 0: the split draws from 39 distinct angles.
_DISTINCT_SIZES = (3, 6, 39, 32, 32)
NUM_DISTINCT = int(np.prod(_DISTINCT_SIZES))  # 718,848 distinct factor tuples

_CHUNK = 64  # images per chunk: 1 MB temporaries stay in cache (4x faster than 512)
_PIXELS = np.arange(IMAGE_SHAPE[0], dtype=np.float32)


def _validate(factors: np.ndarray) -> np.ndarray:
    """Checks that `factors` is [N, 5] integer with in-range indices; returns int64."""
    factors = np.asarray(factors)
    if factors.ndim != 2 or factors.shape[1] != len(FACTOR_SIZES):
        raise ValueError(
            f"factors must have shape [N, {len(FACTOR_SIZES)}] (one column per factor "
            f"{FACTOR_NAMES}), got shape {factors.shape}"
        )
    if not np.issubdtype(factors.dtype, np.integer):
        raise ValueError(f"factors must be integer indices, got dtype {factors.dtype}")
    for column, (name, size) in enumerate(zip(FACTOR_NAMES, FACTOR_SIZES, strict=True)):
        bad = (factors[:, column] < 0) | (factors[:, column] >= size)
        if bad.any():
            value = factors[np.argmax(bad), column]
            raise ValueError(
                f"factor '{name}' (column {column}) has index {value}, "
                f"allowed range is 0..{size - 1}"
            )
    return factors.astype(np.int64)


def _canonical_coords(factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres in each shape's canonical frame, in units of its circle radius.

    Args:
      factors: validated indices [n, 5].

    Returns:
      (u, v), each float32 [n, 64, 64]; u points right and v up at orientation 0.
    """
    radius = (_RADIUS_PX * SCALES[factors[:, 1]])[:, None]
    angle = ORIENTATIONS[factors[:, 2]][:, None]
    span = _CENTRE_MAX - _CENTRE_MIN
    centre_x = (_CENTRE_MIN + span * POSITIONS[factors[:, 3]])[:, None]
    centre_y = (_CENTRE_MIN + span * POSITIONS[factors[:, 4]])[:, None]
    cos = (np.cos(angle) / radius).astype(np.float32)
    sin = (np.sin(angle) / radius).astype(np.float32)
    dx = _PIXELS - centre_x.astype(np.float32)  # [n, 64] over columns
    dy = centre_y.astype(np.float32) - _PIXELS  # [n, 64] over rows, flipped so up is +
    # Inverse rotation R(-angle) is separable into a column term plus a row term,
    # so the full [n, 64, 64] grids cost one broadcast add each.
    u = (cos * dx)[:, None, :] + (sin * dy)[:, :, None]
    v = (-sin * dx)[:, None, :] + (cos * dy)[:, :, None]
    return u, v


def _inside_square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (np.abs(u) <= _SQUARE_HALF_SIDE) & (np.abs(v) <= _SQUARE_HALF_SIDE)


def _inside_ellipse(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    v = v * np.float32(1.0 / _ELLIPSE_MINOR)
    return u * u + v * v <= 1.0


def _inside_heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # Textbook heart, tip at v = -1 (down), shifted so (0, 0) is its area centroid.
    u = u * np.float32(_HEART_RADIUS)
    v = v * np.float32(_HEART_RADIUS) + np.float32(_HEART_CENTROID_V)
    u2 = u * u
    v2 = v * v
    q = u2 + v2 - np.float32(1.0)
    # Products, not `** 3`: numpy's float power is ~20x slower than two multiplies.
    return q * q * q <= u2 * v2 * v


_INSIDE = (_inside_square, _inside_ellipse, _inside_heart)


def _render_chunk(factors: np.ndarray) -> np.ndarray:
    """Renders validated factors [n, 5] to bool masks [n, 64, 64]."""
    u, v = _canonical_coords(factors)
    masks = np.empty(u.shape, dtype=bool)
    for shape_id, inside in enumerate(_INSIDE):
        # Test each image only against its own shape: the heart is the costly one.
        rows = factors[:, 0] == shape_id
        if rows.any():
            masks[rows] = inside(u[rows], v[rows])
    return masks


def render(factors: np.ndarray) -> np.ndarray:
    """Renders factor indices to images.

    Args:
      factors: integer factor indices [N, 5], columns in `FACTOR_NAMES` order.

    Returns:
      uint8 images [N, 64, 64, 1] with values in {0, 255}. Deterministic.

    Raises:
      ValueError: if `factors` is not [N, 5] integer or an index is out of range.
    """
    factors = _validate(factors)
    images = np.zeros((len(factors), *IMAGE_SHAPE), dtype=np.uint8)
    for start in range(0, len(factors), _CHUNK):
        masks = _render_chunk(factors[start : start + _CHUNK])
        images[start : start + _CHUNK, ..., 0] = masks.view(np.uint8) * np.uint8(255)
    return images


def sample_factors(rng: np.random.Generator, num: int) -> np.ndarray:
    """Draws `num` factor combinations uniformly at random; int32 [num, 5]."""
    columns = [rng.integers(0, size, size=num) for size in FACTOR_SIZES]
    return np.stack(columns, axis=1).astype(np.int32)


def distinct_factors(index: np.ndarray) -> np.ndarray:
    """Flat indices 0 .. NUM_DISTINCT - 1 -> the distinct factor tuples, int32 [n, 5]
    (row-major over `FACTOR_SIZES` with 39 orientations; orientation 39 never occurs)."""
    return np.stack(np.unravel_index(index, _DISTINCT_SIZES), axis=1).astype(np.int32)


def _image_keys(images: np.ndarray) -> list[bytes]:
    """One exact key per {0, 255} image: its pixels packed to bits (512 bytes at 64 x 64)."""
    return [row.tobytes() for row in np.packbits(images.reshape(len(images), -1), axis=1)]


def load(num_train: int = 50_000, num_test: int = 10_000, seed: int = 0) -> dict[str, np.ndarray]:
    """Samples and renders a train and a test split that share no factor tuple and no image.

    One permutation of the distinct factor tuples (`distinct_factors`): the first
    `num_train` are the training split, the following ones the test split, skipping any whose
    rendered image equals a training image. Each split is uniform over the distinct tuples
    (the test split over those whose image is not a training image).

    Args:
      num_train: number of training images.
      num_test: number of test images.
      seed: with the tag `SPLIT_STREAM`, seeds `np.random.default_rng([SPLIT_STREAM, seed])`.

    Returns:
      dict with 'train_images', 'test_images' (uint8 [n, 64, 64, 1]) and
      'train_factors', 'test_factors' (int32 [n, 5]). Deterministic in `seed`.

    Raises:
      ValueError: if the splits ask for more than the distinct tuples or images there are.
    """
    if num_train + num_test > NUM_DISTINCT:
        raise ValueError(f"num_train + num_test = {num_train + num_test} exceeds the "
                         f"{NUM_DISTINCT} distinct sprites")
    order = np.random.default_rng([SPLIT_STREAM, seed]).permutation(NUM_DISTINCT)
    train_factors = distinct_factors(order[:num_train])
    train_images = render(train_factors)
    seen = set(_image_keys(train_images))
    test_factors = [np.zeros((0, 5), np.int32)]
    test_images = [np.zeros((0, *IMAGE_SHAPE), np.uint8)]
    start, found = num_train, 0
    while found < num_test:  # rejections are rare (~1% at 100,000 training images)
        if start >= NUM_DISTINCT:
            raise ValueError(f"only {found} sprites left whose images differ from the "
                             f"{num_train} training images; num_test={num_test}")
        factors = distinct_factors(order[start : start + num_test - found])
        images = render(factors)
        fresh = np.array([key not in seen for key in _image_keys(images)], dtype=bool)
        test_factors.append(factors[fresh])
        test_images.append(images[fresh])
        start, found = start + len(factors), found + int(fresh.sum())
    return {
        "train_images": train_images,
        "train_factors": train_factors,
        "test_images": np.concatenate(test_images),
        "test_factors": np.concatenate(test_factors),
    }


class SpritesFactors:
    """Ground-truth data interface for disentanglement metrics (FactorVAE, BetaVAE)."""

    factor_sizes: tuple[int, ...] = FACTOR_SIZES

    def sample_factors(self, num: int, rng: np.random.Generator) -> np.ndarray:
        """Uniformly random factor indices, int32 [num, 5]."""
        return sample_factors(rng, num)

    def images(self, factors: np.ndarray) -> np.ndarray:
        """Renders factor indices [N, 5] to uint8 images [N, 64, 64, 1]."""
        return render(factors)


def _benchmark(num: int = 60_000) -> None:
    """Prints the time to sample and render `num` images (the docstring's number)."""
    factors = sample_factors(np.random.default_rng(0), num)
    start = time.perf_counter()
    render(factors)
    print(f"rendered {num} images in {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    _benchmark()
