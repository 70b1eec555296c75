import gzip
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import test as test_config
from vae_jax import data
from vae_jax.errors import DataError

# Published MNIST label counts (shared/data/README.md).
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def config_for(data_dir, **overrides):
    config = test_config.get_config()
    config.data_dir = str(data_dir)
    config.num_train = config.num_test = 0
    for k, v in overrides.items():
        config[k] = v
    return config


@pytest.mark.real_data
def test_idx_reader_on_the_real_mnist_files(data_dir):
    images = data.read_idx(os.path.join(data_dir, "mnist", "train-images-idx3-ubyte.gz"))
    labels = data.read_idx(os.path.join(data_dir, "mnist", "t10k-labels-idx1-ubyte.gz"))
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == MNIST_TEST_COUNTS


@pytest.mark.real_data
def test_mnist_loads_with_published_label_counts(data_dir):
    ds = data.load(config_for(data_dir, binarization="none"))
    assert ds.train_images.shape == (60000, 28, 28, 1)
    assert ds.test_images.shape == (10000, 28, 28, 1)
    assert np.bincount(ds.train_labels).tolist() == MNIST_TRAIN_COUNTS
    assert ds.image_shape == (28, 28, 1)
    assert abs(ds.train_images.mean() / 255 - 0.1307) < 1e-3  # the well-known MNIST mean


@pytest.mark.real_data
def test_fashion_mnist_statistics(data_dir):
    ds = data.load(config_for(data_dir, dataset="fashion_mnist", binarization="none"))
    x = ds.train_images / 255.0
    assert abs(x.mean() - 0.2860) < 1e-3 and abs(x.std() - 0.3528) < 1e-3
    assert np.bincount(ds.test_labels).tolist() == [1000] * 10


@pytest.mark.real_data
def test_uncompressed_files_in_a_flat_directory(tmp_path, data_dir):
    for name in os.listdir(os.path.join(data_dir, "mnist")):
        with gzip.open(os.path.join(data_dir, "mnist", name)) as src:
            (tmp_path / name.removesuffix(".gz")).write_bytes(src.read())
    ds = data.load(config_for(tmp_path, binarization="none", num_train=100, num_test=50))
    assert ds.train_images.shape == (100, 28, 28, 1) and len(ds.test_labels) == 50


@pytest.mark.real_data
def test_binarization_modes(data_dir):
    dynamic = data.load(config_for(data_dir, num_train=500, num_test=500))
    static = data.load(config_for(data_dir, binarization="static", num_train=500, num_test=500))
    static_again = data.load(config_for(data_dir, binarization="static", num_train=500,
                                        num_test=500))
    other_seed = data.load(config_for(data_dir, binarization="static", num_train=500,
                                      num_test=500, data_seed=1))
    none = data.load(config_for(data_dir, binarization="none", num_train=500, num_test=500))
    # Dynamic keeps intensities for training (sampled on the device each step).
    assert len(np.unique(dynamic.train_images)) > 2
    assert set(np.unique(static.train_images)) == {0, 255}
    np.testing.assert_array_equal(static.train_images, static_again.train_images)
    assert (static.train_images != other_seed.train_images).any()
    # The test set is binarised once with a fixed key, whatever the mode and seeds.
    np.testing.assert_array_equal(dynamic.test_images, static.test_images)
    np.testing.assert_array_equal(dynamic.test_images, other_seed.test_images)
    assert set(np.unique(dynamic.test_images)) == {0, 255}
    assert len(np.unique(none.test_images)) > 2
    # A binarised pixel is on with the probability of its intensity.
    frequency = (static.train_images > 0).mean()
    assert abs(frequency - none.train_images.mean() / 255) < 0.01


def test_dynamic_binarisation_on_the_device_is_bernoulli():
    images = np.full((200, 28, 28, 1), 64, np.uint8)
    x = data.to_float(images, jax.random.key(0))
    assert set(np.unique(np.asarray(x))) == {0.0, 1.0}
    assert abs(float(x.mean()) - 64 / 255) < 0.005
    np.testing.assert_allclose(data.to_float(images, None), 64 / 255)


def test_dynamic_binarisation_draws_what_jax_draws_for_the_image_shaped_batch():
    # to_float draws over flat pixels (faster on CPU); the sample must be the one jax gives
    # for [B, H, W, C] probabilities, so runs reproduce from before that change.
    images = jax.random.randint(jax.random.key(1), (6, 28, 28, 1), 0, 256).astype(jnp.uint8)
    key = jax.random.key(2)
    expected = jax.random.bernoulli(jax.random.clone(key), images / 255.0).astype(jnp.float32)
    got = data.to_float(images, key)
    assert got.shape == images.shape
    np.testing.assert_array_equal(got, expected)


def _write_idx(path, payload: bytes):
    with open(path, "wb") as f:
        f.write(payload)


def test_truncated_idx_file(tmp_path):
    header = bytes([0, 0, 8, 3]) + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    _write_idx(tmp_path / "x", header + bytes(28 * 28 * 3))
    with pytest.raises(DataError, match="truncated or corrupt"):
        data.read_idx(str(tmp_path / "x"))


def test_truncated_gzip_file(tmp_path):
    payload = gzip.compress(bytes([0, 0, 8, 1]) + (1000).to_bytes(4, "big") + bytes(1000))
    _write_idx(tmp_path / "x.gz", payload[: len(payload) // 2])
    with pytest.raises(DataError, match="damaged or truncated"):
        data.read_idx(str(tmp_path / "x.gz"))


def test_wrong_magic(tmp_path):
    _write_idx(tmp_path / "x", b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(DataError, match="not an IDX file"):
        data.read_idx(str(tmp_path / "x"))
    _write_idx(tmp_path / "y", bytes([0, 0, 0x0D, 1]) + (1).to_bytes(4, "big") + bytes(4))
    with pytest.raises(DataError, match="not unsigned-byte"):
        data.read_idx(str(tmp_path / "y"))


def test_missing_data_directory(tmp_path):
    with pytest.raises(DataError, match="does not exist.*VAE_JAX_DATA_DIR"):
        data.load(config_for(tmp_path / "nowhere", data_source="idx"))


def test_directory_without_the_files(tmp_path):
    with pytest.raises(DataError, match="no mnist data"):
        data.load(config_for(tmp_path, data_source="idx"))


@pytest.mark.real_data
def test_directory_with_some_files_missing(tmp_path, data_dir):
    shutil.copy(os.path.join(data_dir, "mnist", "train-images-idx3-ubyte.gz"), tmp_path)
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte"):
        data.load(config_for(tmp_path))


def test_unknown_dataset_and_binarization(tmp_path):
    with pytest.raises(DataError, match="unknown dataset 'cifar'.*--config.dataset"):
        data.load(config_for(tmp_path, dataset="cifar"))
    with pytest.raises(DataError, match="unknown binarization"):
        data.load(config_for(tmp_path, binarization="sometimes"))


def test_tfds_path_under_mock_data(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=12):
        ds = data.load(config_for("", data_source="tfds"))
    assert ds.train_images.shape == (12, 28, 28, 1) and ds.train_images.dtype == np.uint8
    assert ds.train_labels.shape == (12,)
    assert set(np.unique(ds.test_images)) <= {0, 255}  # test set binarised as usual


def test_user_arrays(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    np.savez(path, train_images=rng.random((40, 8, 8)).astype(np.float32),
             test_images=rng.random((10, 8, 8)).astype(np.float32),
             train_labels=rng.integers(0, 3, 40), test_labels=rng.integers(0, 3, 10))
    ds = data.load(config_for("", dataset="arrays", data_path=str(path), binarization="none"))
    assert ds.train_images.shape == (40, 8, 8, 1) and ds.train_images.dtype == np.uint8
    assert ds.image_shape == (8, 8, 1)
    np.savez(path, train_images=rng.random((4, 8, 8)) * 3, test_images=rng.random((2, 8, 8)))
    with pytest.raises(DataError, match=r"must lie in \[0, 1\]"):
        data.load(config_for("", dataset="arrays", data_path=str(path)))
    with pytest.raises(DataError, match="is not a file"):
        data.load(config_for("", dataset="arrays", data_path=str(tmp_path / "none.npz")))


def test_sprites_dataset_carries_its_factors():
    ds = data.load(config_for("", dataset="sprites", num_train=300, num_test=100))
    assert ds.image_shape == (64, 64, 1)
    assert ds.train_factors.shape == (300, 5) and ds.factor_sizes == (3, 6, 40, 32, 32)
    np.testing.assert_array_equal(ds.train_labels, ds.train_factors[:, 0])
