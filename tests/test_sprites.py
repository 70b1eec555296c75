"""Tests for vae_jax.data.sprites: API contract, factor semantics, geometry and input errors."""

import hashlib

import numpy as np
import pytest
import scipy.stats

from vae_jax.data import sprites

SQUARE, ELLIPSE, HEART = 0, 1, 2
MID = 15  # a central position index


def _factors(*rows: tuple[int, int, int, int, int]) -> np.ndarray:
    return np.array(rows, dtype=np.int32)


def _mask(image: np.ndarray) -> np.ndarray:
    return image[..., 0] > 0


def _centroid(image: np.ndarray) -> tuple[float, float]:
    """(row, column) centre of mass of the foreground."""
    rows, cols = np.nonzero(_mask(image))
    return rows.mean(), cols.mean()


def _principal_angle(image: np.ndarray) -> float:
    """Angle (rad, counterclockwise from the x axis, y up) of the major axis."""
    rows, cols = np.nonzero(_mask(image))
    x, y = cols - cols.mean(), rows.mean() - rows  # flip rows so y points up
    return 0.5 * np.arctan2(2 * np.mean(x * y), np.mean(x * x) - np.mean(y * y))


def _angle_gap(a: float, b: float, period: float) -> float:
    """Smallest |a - b| modulo `period`."""
    return abs((a - b + period / 2) % period - period / 2)


def test_load_shapes_dtypes_and_values():
    data = sprites.load(num_train=50, num_test=20, seed=0)
    assert set(data) == {"train_images", "train_factors", "test_images", "test_factors"}
    for split, num in (("train", 50), ("test", 20)):
        images, factors = data[f"{split}_images"], data[f"{split}_factors"]
        assert images.shape == (num, *sprites.IMAGE_SHAPE) and images.dtype == np.uint8
        assert factors.shape == (num, 5) and factors.dtype == np.int32
        assert set(np.unique(images)) == {0, 255}
        assert (factors >= 0).all() and (factors < np.array(sprites.FACTOR_SIZES)).all()
        assert (_mask(images).sum(axis=(1, 2)) > 0).all()  # every image shows a shape


def test_load_is_deterministic_in_seed():
    first, again = sprites.load(40, 10, seed=3), sprites.load(40, 10, seed=3)
    other = sprites.load(40, 10, seed=4)
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])
    assert not np.array_equal(first["train_factors"], other["train_factors"])
    assert not np.array_equal(first["train_images"], other["train_images"])
    # The split's own tagged stream: one permutation of the distinct tuples, train first.
    order = np.random.default_rng([sprites.SPLIT_STREAM, 3]).permutation(sprites.NUM_DISTINCT)
    np.testing.assert_array_equal(first["train_factors"], sprites.distinct_factors(order[:40]))
    untagged = np.random.default_rng(3).permutation(sprites.NUM_DISTINCT)
    assert not np.array_equal(first["train_factors"], sprites.distinct_factors(untagged[:40]))


def _folded(factors: np.ndarray) -> set[tuple[int, ...]]:
    """Factor tuples with orientation 39 (2 pi) written as 0 (the same angle)."""
    factors = factors.copy()
    factors[factors[:, 2] == 39, 2] = 0
    return set(map(tuple, factors.tolist()))


def _image_hashes(images: np.ndarray) -> set[str]:
    return {hashlib.sha256(row.tobytes()).hexdigest() for row in images.reshape(len(images), -1)}


@pytest.fixture(scope="module")
def large_split():
    return sprites.load(num_train=100_000, num_test=10_000, seed=0)  # renders 110,000 images, once


@pytest.mark.parametrize("sizes", ["compare", "large"])
def test_splits_share_no_tuple_and_no_image(sizes, request):
    # configs/compare.py's 10,000 / 2,000 and 100,000 / 10,000; with factors drawn with
    # replacement 1.3% and 12.5% of the test tuples were training tuples. At 100,000 about 1%
    # of the distinct test tuples render a training image (no test of tuples alone sees it).
    if sizes == "compare":
        split = sprites.load(num_train=10_000, num_test=2_000, seed=0)
    else:
        split = request.getfixturevalue("large_split")
    num_train, num_test = {"compare": (10_000, 2_000), "large": (100_000, 10_000)}[sizes]
    assert len(split["train_factors"]) == num_train and len(split["test_factors"]) == num_test
    train, test = _folded(split["train_factors"]), _folded(split["test_factors"])
    assert not train & test
    assert not _image_hashes(split["train_images"]) & _image_hashes(split["test_images"])
    assert len(train) == num_train and len(test) == num_test  # distinct within each split too
    np.testing.assert_array_equal(split["test_images"], sprites.render(split["test_factors"]))


def test_distinct_factors_enumerate_every_distinct_tuple_once():
    # A uniform permutation of these indices is then uniform over the distinct tuples.
    factors = sprites.distinct_factors(np.arange(sprites.NUM_DISTINCT))
    assert sprites.NUM_DISTINCT == 3 * 6 * 39 * 32 * 32 == 718_848
    assert len(np.unique(factors, axis=0)) == sprites.NUM_DISTINCT
    for column, size in enumerate(sprites.FACTOR_SIZES):
        expected = np.arange(39 if column == 2 else size)  # orientation 39 is orientation 0
        np.testing.assert_array_equal(np.unique(factors[:, column]), expected)


def test_training_factors_are_uniform(large_split):
    # Chi-square goodness of fit of each factor's marginal against the uniform one.
    factors = large_split["train_factors"]
    for column, size in enumerate(sprites.FACTOR_SIZES):
        size = 39 if column == 2 else size
        counts = np.bincount(factors[:, column], minlength=size)
        assert len(counts) == size
        assert scipy.stats.chisquare(counts).pvalue > 1e-4, (column, counts)


def test_load_refuses_more_sprites_than_there_are():
    with pytest.raises(ValueError, match="718848 distinct sprites"):
        sprites.load(num_train=700_000, num_test=18_849)


def test_render_is_deterministic():
    factors = sprites.sample_factors(np.random.default_rng(1), 200)
    np.testing.assert_array_equal(sprites.render(factors), sprites.render(factors))


def test_sample_factors_covers_every_value():
    factors = sprites.sample_factors(np.random.default_rng(0), 5000)
    assert factors.shape == (5000, 5) and factors.dtype == np.int32
    for column, size in enumerate(sprites.FACTOR_SIZES):
        np.testing.assert_array_equal(np.unique(factors[:, column]), np.arange(size))


def test_constants():
    assert sprites.FACTOR_NAMES == ("shape", "scale", "orientation", "position_x", "position_y")
    assert sprites.FACTOR_SIZES == (3, 6, 40, 32, 32)
    assert np.prod(sprites.FACTOR_SIZES) == 737_280
    assert sprites.IMAGE_SHAPE == (64, 64, 1)


def test_shapes_are_pairwise_different():
    for orientation in (0, 7):
        images = sprites.render(_factors(*[(s, 5, orientation, MID, MID) for s in range(3)]))
        for a in range(3):
            for b in range(a + 1, 3):
                differing = (images[a] != images[b]).sum()
                assert differing > 20, (orientation, a, b, differing)


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART])
def test_pixel_count_grows_with_scale(shape):
    images = sprites.render(_factors(*[(shape, s, 3, MID, MID) for s in range(6)]))
    counts = _mask(images).sum(axis=(1, 2))
    assert (np.diff(counts) > 0).all(), counts
    # Area goes with scale squared: scale 1 vs 0.5 is about 4x.
    assert 3.6 < counts[-1] / counts[0] < 4.4, counts


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART])
@pytest.mark.parametrize("orientation", [0, 13, 26])
def test_centroid_follows_position(shape, orientation):
    positions = range(32)
    expected = 10 + 43 * np.linspace(0, 1, 32)  # centre pixel index, 10 .. 53
    along_x = sprites.render(_factors(*[(shape, 5, orientation, p, 20) for p in positions]))
    along_y = sprites.render(_factors(*[(shape, 5, orientation, 20, p) for p in positions]))
    rows_x, cols_x = np.array([_centroid(image) for image in along_x]).T
    rows_y, cols_y = np.array([_centroid(image) for image in along_y]).T
    assert (np.diff(cols_x) > 0).all() and (np.diff(rows_y) > 0).all()
    # The other coordinate stays put (only pixel-grid jitter).
    assert np.ptp(rows_x) < 0.6 and np.ptp(cols_y) < 0.6
    np.testing.assert_allclose(cols_x, expected, atol=0.5)
    np.testing.assert_allclose(rows_y, expected, atol=0.5)


def test_ellipse_major_axis_rotates_by_the_orientation():
    images = sprites.render(_factors(*[(ELLIPSE, 5, o, MID, MID) for o in range(40)]))
    angles = np.linspace(0, 2 * np.pi, 40)
    for image, angle in zip(images, angles, strict=True):
        measured = _principal_angle(image)
        assert _angle_gap(measured, angle, np.pi) < np.deg2rad(3), np.rad2deg([measured, angle])
    # Orientation 10 (~92 degrees) stands the ellipse up: a different image.
    assert (images[0] != images[10]).sum() > 50


def test_heart_points_down_and_turns_counterclockwise():
    images = sprites.render(_factors(*[(HEART, 5, o, MID, MID) for o in (0, 10, 20, 29)]))

    def tip_reach(image: np.ndarray) -> tuple[float, float, float, float]:
        """Extent of the foreground beyond the centroid: (down, right, up, left)."""
        rows, cols = np.nonzero(_mask(image))
        row, col = rows.mean(), cols.mean()
        return rows.max() - row, cols.max() - col, row - rows.min(), col - cols.min()

    # ~0, 92, 185, 268 degrees counterclockwise move the tip down -> right -> up -> left.
    # The tip reaches farther from the centroid than the lobes on the opposite side
    # (the lobes are wide, so compare opposite sides only).
    for image, direction in zip(images, range(4), strict=True):
        reach = tip_reach(image)
        assert reach[direction] - reach[(direction + 2) % 4] > 1.0, (direction, reach)
    assert (images[0] != images[1]).sum() > 30


@pytest.mark.parametrize("shape", [SQUARE, ELLIPSE, HEART])
def test_full_turn_gives_the_same_image(shape):
    images = sprites.render(_factors((shape, 5, 0, 7, 24), (shape, 5, 39, 7, 24)))
    assert (images[0] != images[1]).sum() <= 2


def test_shape_never_touches_the_border():
    corners = [(0, 0), (0, 31), (31, 0), (31, 31)]
    factors = _factors(*[(s, 5, o, x, y) for s in range(3) for o in range(40) for x, y in corners])
    masks = _mask(sprites.render(factors))
    border = np.concatenate(
        [masks[:, 0, :], masks[:, -1, :], masks[:, :, 0], masks[:, :, -1]], axis=1
    )
    assert not border.any()
    assert masks.sum(axis=(1, 2)).min() > 30  # and the shapes are really there


@pytest.mark.parametrize(
    ("factors", "message"),
    [
        (np.zeros(5, dtype=np.int32), r"shape \[N, 5\]"),
        (np.zeros((2, 4), dtype=np.int32), r"shape \[N, 5\]"),
        (np.zeros((2, 5, 1), dtype=np.int32), r"shape \[N, 5\]"),
        (np.zeros((2, 5), dtype=np.float32), "integer"),
        (np.array([[3, 0, 0, 0, 0]]), r"'shape'.*index 3.*0\.\.2"),
        (np.array([[0, 0, 0, 0, -1]]), r"'position_y'.*index -1.*0\.\.31"),
        (np.array([[0, 0, 40, 0, 0]]), r"'orientation'.*index 40.*0\.\.39"),
    ],
)
def test_render_rejects_bad_factors(factors, message):
    with pytest.raises(ValueError, match=message):
        sprites.render(factors)


def test_sprites_factors_interface():
    data = sprites.SpritesFactors()
    assert data.factor_sizes == sprites.FACTOR_SIZES
    factors = data.sample_factors(16, np.random.default_rng(0))
    np.testing.assert_array_equal(factors, sprites.sample_factors(np.random.default_rng(0), 16))
    np.testing.assert_array_equal(data.images(factors), sprites.render(factors))
