"""MNIST that fetches itself: a file:// mirror made from the real files, a damaged download
(checksum error, nothing cached), and no network (a clear error, fast)."""

import gzip
import os
import shutil
import time

import numpy as np
import pytest

from configs import test as test_config
from vae_jax import data
from vae_jax.data import download
from vae_jax.errors import DataError

pytestmark = pytest.mark.real_data


def _config(tmp_path, url, **overrides):
    config = test_config.get_config()
    empty = tmp_path / "no_idx_here"
    empty.mkdir(exist_ok=True)
    config.data_dir, config.data_source = str(empty), "idx"
    config.cache_dir, config.download_url = str(tmp_path / "cache"), url
    for k, v in overrides.items():
        config[k] = v
    return config


def test_download_from_a_mirror_is_checked_cached_and_reused(tmp_path, data_dir):
    # An absolute path: a relative one after file:// would be read as a host name.
    config = _config(tmp_path, f"file://{os.path.abspath(data_dir)}/{{dataset}}/")
    fetched = data.load(config)
    reference = test_config.get_config()
    reference.data_dir = data_dir
    expected = data.load(reference)
    np.testing.assert_array_equal(fetched.train_images, expected.train_images)
    np.testing.assert_array_equal(fetched.test_labels, expected.test_labels)
    assert sorted(os.listdir(download.cached_dir(config, "mnist"))) == sorted(
        f + ".gz" for f in download.FILES)
    # A second run finds the cached files: the (now unreachable) mirror is not asked.
    again = data.load(_config(tmp_path, "http://127.0.0.1:9/"))
    np.testing.assert_array_equal(again.train_images, expected.train_images)


def test_the_published_md5_or_the_content_sha256_admits_a_file(data_dir):
    # Our Fashion-MNIST label files are the published ones byte for byte (MD5); our MNIST
    # files were re-compressed, so their content's SHA-256 admits them.
    for name in ("fashion_mnist", "mnist"):
        for stem in download.FILES:
            download.check_file(os.path.join(data_dir, name, stem + ".gz"), name, stem)
    labels = os.path.join(data_dir, "fashion_mnist", "t10k-labels-idx1-ubyte.gz")
    assert download._md5(labels) == download.PUBLISHED_MD5["fashion_mnist"][
        "t10k-labels-idx1-ubyte"]
    with pytest.raises(DataError, match="neither"):  # another dataset's file
        download.check_file(labels, "mnist", "t10k-labels-idx1-ubyte")


def test_a_relative_file_url_is_refused_with_the_fix(tmp_path):
    with pytest.raises(DataError, match="absolute path"):
        download.base_url(_config(tmp_path, "file://../shared/data/{dataset}/"), "mnist")


def test_a_damaged_download_fails_its_checksum_and_caches_nothing(tmp_path, data_dir):
    mirror = tmp_path / "mirror"
    shutil.copytree(os.path.join(data_dir, "mnist"), mirror)
    labels = mirror / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(labels, "rb") as f:
        content = bytearray(f.read())
    content[-1] ^= 1  # one label changed
    labels.chmod(0o644)
    with gzip.open(labels, "wb") as f:
        f.write(bytes(content))
    config = _config(tmp_path, f"file://{mirror}/")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: neither the published MD5"):
        data.load(config)
    assert os.listdir(download.cached_dir(config, "mnist")) == []


def test_without_network_the_no_data_error_stays_and_comes_fast(tmp_path):
    start = time.perf_counter()
    with pytest.raises(DataError, match="no mnist data.*download failed"):
        data.load(_config(tmp_path, "http://127.0.0.1:9/"))
    assert time.perf_counter() - start < 30
    with pytest.raises(DataError, match="no mnist data") as error:
        data.load(_config(tmp_path, "http://127.0.0.1:9/", download=False))
    assert "download" not in str(error.value)
