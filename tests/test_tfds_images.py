"""dataset=tfds:<name> through tfds.data_source, on TFDS's mock data (no TensorFlow)."""

import numpy as np
import pytest
from PIL import Image

from configs import test as test_config
from vae_jax import data
from vae_jax.data import image_folder
from vae_jax.errors import DataError

tfds = pytest.importorskip("tensorflow_datasets")


def _config(name, tmp_path, **overrides):
    config = test_config.get_config()
    config.dataset, config.binarization = f"tfds:{name}", "none"
    config.cache_dir = str(tmp_path / "cache")
    config.num_train = config.num_test = 0
    config.tfds_data_dir = str(tmp_path / "tfds")
    for k, v in overrides.items():
        config[k] = v
    return config


def test_cifar10_images_and_labels_come_from_the_data_source(tmp_path):
    with tfds.testing.mock_data(num_examples=6):
        dataset = data.load(_config("cifar10", tmp_path))
        source = tfds.data_source("cifar10", split="test", data_dir=str(tmp_path / "tfds"))
        expected = np.stack([source[i]["image"] for i in range(len(source))])
        expected_labels = [int(source[i]["label"]) for i in range(len(source))]
    assert dataset.train_images.shape == (6, 32, 32, 3)
    np.testing.assert_array_equal(dataset.test_images, expected)
    np.testing.assert_array_equal(dataset.test_labels, expected_labels)


def test_celeb_a_has_no_label_and_is_resized_to_grey(tmp_path):
    with tfds.testing.mock_data(num_examples=4):
        dataset = data.load(_config("celeb_a", tmp_path, image_size=16, image_channels=1))
        source = tfds.data_source("celeb_a", split="train", data_dir=str(tmp_path / "tfds"))
        first = source[0]["image"]
    assert first.shape == (218, 178, 3)
    assert dataset.train_images.shape == (4, 16, 16, 1)
    assert dataset.train_labels is None
    expected = image_folder.fit_image(Image.fromarray(first), 16, 1)
    np.testing.assert_array_equal(dataset.train_images[0], expected)


def test_an_unprepared_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="tfds_data_dir"):
        data.load(_config("cifar10", tmp_path))
