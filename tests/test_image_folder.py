"""dataset=image_folder: labels from sub-folders, splits, resizing, bad files, the cache, and a
host-fed colour run with a discretised likelihood."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from scipy.special import expit

import vae_jax
from configs import test as test_config
from vae_jax import data, run, train
from vae_jax.data import image_folder
from vae_jax.errors import DataError
from vae_jax.hparams import from_config
from vae_jax.metrics import evaluators
from vae_jax.train import population


def _write(path, pixels, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image = Image.fromarray(pixels)
    if mode:
        image = image.convert(mode)
    image.save(path)


def _classes_folder(root, per_class=10, size=8):
    rng = np.random.default_rng(0)
    for c, name in enumerate(("cats", "dogs")):
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size, 3), np.uint8)
            pixels[..., 0] = 40 * c  # the class shows in the red channel
            _write(os.path.join(root, name, f"{i}.png"), pixels, "RGBA" if i == 0 else None)
    return root


def _config(root, tmp_path, **overrides):
    config = test_config.get_config()
    config.dataset, config.data_path = "image_folder", str(root)
    config.cache_dir = str(tmp_path / "cache")
    config.binarization = "none"
    config.num_train = config.num_test = 0
    config.figures = False
    for k, v in overrides.items():
        config[k] = v
    return config


def test_sub_folders_are_labels_and_a_fixed_test_split_is_held_out(tmp_path):
    root = _classes_folder(tmp_path / "imgs")
    dataset = data.load(_config(root, tmp_path, test_fraction=0.2))
    assert dataset.train_images.shape == (16, 8, 8, 3)
    assert dataset.test_images.shape == (4, 8, 8, 3)
    assert isinstance(dataset.train_images, np.memmap)
    # Labels follow the pixels: class c has red channel 40 * c everywhere.
    for images, labels in ((dataset.train_images, dataset.train_labels),
                           (dataset.test_images, dataset.test_labels)):
        np.testing.assert_array_equal(images[..., 0].max(axis=(1, 2)), 40 * labels)
    again = data.load(_config(root, tmp_path, test_fraction=0.2, seed=5, data_seed=9))
    np.testing.assert_array_equal(again.test_images, dataset.test_images)


def test_cache_is_reused_and_rebuilt_when_a_file_changes(tmp_path, monkeypatch):
    root = _classes_folder(tmp_path / "imgs")
    first = data.load(_config(root, tmp_path))
    def no_decoding(*args):
        raise AssertionError("decoded again although nothing changed")
    monkeypatch.setattr(image_folder, "read_image", no_decoding)
    np.testing.assert_array_equal(data.load(_config(root, tmp_path)).train_images,
                                  first.train_images)
    monkeypatch.undo()
    _write(os.path.join(root, "cats", "0.png"), np.full((8, 8, 3), 7, np.uint8))
    changed = data.load(_config(root, tmp_path))
    assert len(os.listdir(tmp_path / "cache" / "image_folder")) == 4  # two .npy + two .json
    assert (changed.train_images == 7).all(axis=(1, 2, 3)).sum() + \
        (changed.test_images == 7).all(axis=(1, 2, 3)).sum() == 1


def test_train_and_test_sub_folders_are_the_given_splits(tmp_path):
    root = tmp_path / "imgs"
    for split, n in (("train", 5), ("test", 3)):
        for c in ("a", "b"):
            for i in range(n):
                _write(str(root / split / c / f"{i}.jpg"), np.zeros((6, 6, 3), np.uint8))
    dataset = data.load(_config(root, tmp_path))
    assert len(dataset.train_images) == 10 and len(dataset.test_images) == 6
    np.testing.assert_array_equal(dataset.test_labels, [0, 0, 0, 1, 1, 1])


def test_mixed_sizes_need_image_size_then_are_resized_with_antialiasing(tmp_path):
    root = tmp_path / "imgs"
    checker = (np.indices((32, 32)).sum(0) % 2 * 255).astype(np.uint8)
    for i in range(4):
        _write(str(root / f"big{i}.png"), np.stack([checker] * 3, -1))
        _write(str(root / f"wide{i}.png"), np.full((10, 20, 3), 200, np.uint8))
    with pytest.raises(DataError, match="image_size"):
        data.load(_config(root, tmp_path))
    dataset = data.load(_config(root, tmp_path, image_size=8, image_channels=1))
    images = np.concatenate([dataset.train_images, dataset.test_images])
    assert images.shape == (8, 8, 8, 1)
    checkers = images[images.std(axis=(1, 2, 3)) > 0]
    flat = images[images.std(axis=(1, 2, 3)) == 0]
    # A 1-pixel checkerboard shrunk 4x averages to grey (nearest-neighbour would alias).
    assert all(abs(float(c.mean()) - 127.5) < 4 and float(c.std()) < 4 for c in checkers)
    assert len(flat) == 4 and (flat == 200).all()


def test_empty_folder_and_bad_files_give_clear_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no images"):
        data.load(_config(empty, tmp_path))
    root = _classes_folder(tmp_path / "imgs", per_class=4)
    (root / "dogs" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match=r"1 unreadable image\(s\): dogs/broken.png"):
        data.load(_config(root, tmp_path, image_size=8))
    dataset = data.load(_config(root, tmp_path, image_size=8, on_bad_image="skip",
                                test_fraction=0.25))
    assert len(dataset.train_images) + len(dataset.test_images) == 8


@pytest.mark.parametrize("input_mode", ["host"])
def test_colour_folder_trains_with_a_discretised_likelihood(tmp_path, input_mode):
    root = _classes_folder(tmp_path / "imgs", per_class=40)
    config = _config(root, tmp_path, likelihood="discretized_logistic_mixture", num_mixtures=2,
                     input=input_mode, num_epochs=1, batch_size=16, host_chunk_steps=2,
                     final_evals=("nll",), nll_samples=8, nll_chunk=4)
    record = run.train_and_evaluate(config, str(tmp_path / "work"))["main"][0]
    assert math.isfinite(record["eval/bpd"]) and math.isfinite(record["eval/nll_bpd"])
    dims_ln2 = 8 * 8 * 3 * math.log(2)
    assert record["eval/bpd"] == pytest.approx(record["eval/nelbo"] / dims_ln2, rel=1e-5)
    assert record["eval/nll_bpd"] == pytest.approx(record["eval/nll"] / dims_ln2, rel=1e-5)
    # A known answer through the run's own evaluation program: with every parameter 0,
    # q(z|x) = p(z) and the decoder emits zeros (equal mixture weights, means 0, log-scales 0,
    # coefficients 0), so p(x | z) = p(x) is a product of logistic(0, 1) bins on the [-1, 1]
    # scale, P(k) = sigmoid((2k - 254)/255) - sigmoid((2k - 256)/255) with the end bins open,
    # and both bits/dim equal -sum log2 P(k) / (8 * 8 * 3).
    dataset = data.load(config)
    member = vae_jax.load_run(str(tmp_path / "work")).member(0)
    eval_fn = jax.jit(evaluators.make_jitted_eval(run.Setup(member.config, dataset),
                                                  ("elbo", "nll")))
    zero = jax.tree.map(lambda a: jnp.zeros_like(a)[None], member.params)  # a population of one
    keys = population.split(config)[0].keys()
    scores = jax.device_get(eval_fn(
        zero, evaluators.keys_for_epoch(keys.eval, config.num_epochs),
        train.stack_members([from_config(config)]), jnp.asarray(dataset.test_images)))
    k = np.asarray(dataset.test_images, np.float64).reshape(len(dataset.test_images), -1)
    p = np.where((k == 0) | (k == 255), expit(-254 / 255),
                 expit((2 * k - 254) / 255) - expit((2 * k - 256) / 255))
    expected = -np.log2(p).mean(axis=1)
    np.testing.assert_allclose(scores["bpd"][0], expected, rtol=1e-6)
    np.testing.assert_allclose(scores["nll_bpd"][0], expected, rtol=1e-6)
