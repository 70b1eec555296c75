"""Host input mode: the same batches in the same order as the device-resident epoch, and the
same parameters and metrics, bit for bit."""

import jax
import numpy as np
import pytest

from configs import test as test_config
from vae_jax import data, run, train
from vae_jax.data import host_input
from vae_jax.errors import ConfigError
from vae_jax.train import host_epoch, memory
from vae_jax.train import population as population_lib


def test_gathered_chunks_are_the_device_epochs_batches():
    images = np.arange(40 * 2 * 2, dtype=np.uint8).reshape(40, 2, 2, 1)
    data_key = jax.random.key(3)
    perm_key, _ = host_input.epoch_keys(data_key, 5)
    perm = host_input.epoch_permutation(perm_key, len(images))
    # What the device epoch computes inside its program (key from the same split).
    device_perm_key, _ = jax.random.split(jax.random.fold_in(data_key, 5))
    np.testing.assert_array_equal(perm, np.asarray(jax.random.permutation(device_perm_key, 40)))
    batches = [host_input.gather_chunk(images, perm, s, k, 8)
               for s, k in host_input.chunk_starts(5, 2)]
    assert [len(b) for b in batches] == [2, 2, 1]
    flat = np.concatenate(batches)
    for i in range(5):
        np.testing.assert_array_equal(flat[i], images[perm[i * 8:(i + 1) * 8]])


def test_each_process_reads_its_own_rows_of_every_batch():
    images = np.arange(16, dtype=np.uint8).reshape(16, 1, 1, 1)
    perm = np.arange(16)[::-1].copy()
    halves = [host_input.gather_chunk(images, perm, 0, 2, 8, p, 2) for p in (0, 1)]
    whole = host_input.gather_chunk(images, perm, 0, 2, 8)
    np.testing.assert_array_equal(np.concatenate(halves, axis=1), whole)
    with pytest.raises(ConfigError, match="divide"):
        host_input.gather_chunk(images, perm, 0, 2, 8, 0, 3)


def _config(data_dir, **overrides):
    config = test_config.get_config()
    config.data_dir = data_dir
    config.num_train, config.num_test = 4096, 128
    config.figures = False
    for k, v in overrides.items():
        config[k] = v
    return config


@pytest.mark.real_data
@pytest.mark.parametrize("member_map,betas,chunk_steps", [
    ("map", (1.0,), 16), ("unrolled", (1.0, 4.0), 24), ("vmap", (1.0, 4.0), 7)])
def test_host_fed_epoch_equals_device_epoch_bitwise(data_dir, member_map, betas, chunk_steps):
    config = _config(data_dir, member_map=member_map)
    config.sweep.beta = betas
    dataset = data.load(config)
    (pop,) = population_lib.split(config)
    setup = run.Setup(pop.static_config, dataset)
    common = dict(batch_size=config.batch_size, dynamic_binarization=True,
                  member_map=setup.member_map)
    device_epoch = jax.jit(train.make_train_epoch(setup.loss_fn, setup.tx, setup.schedule,
                                                  **common))
    fed_epoch = host_epoch.make_host_epoch(setup.loss_fn, setup.tx, setup.schedule,
                                           chunk_steps=chunk_steps, **common)
    results = []
    for epoch_fn, images in ((device_epoch, jax.device_put(dataset.train_images)),
                             (fed_epoch, dataset.train_images)):
        states, keys, hparams, _ = run.init_population(setup, pop, dataset)
        states, metrics = epoch_fn(states, images, 0, jax.random.key(0), keys.train, hparams)
        results.append((jax.device_get(states), jax.device_get(metrics)))
    (device_states, device_metrics), (host_states, host_metrics) = results
    assert int(host_states.step[0]) == 4096 // config.batch_size
    for a, b in zip(jax.tree.leaves(device_states), jax.tree.leaves(host_states), strict=True):
        np.testing.assert_array_equal(a, b)
    assert device_metrics.keys() == host_metrics.keys()
    for k in device_metrics:
        # The per-step metrics are the same; their epoch mean is summed inside the scan's
        # program on the device path and after the chunks here: a few ulp of round-off.
        np.testing.assert_allclose(device_metrics[k], host_metrics[k], rtol=1e-6, atol=0)


@pytest.mark.real_data
def test_one_epoch_run_gives_equal_metrics_in_both_modes(data_dir, tmp_path):
    records = {}
    for mode in ("device", "host"):
        config = _config(data_dir, input=mode, num_epochs=1)
        records[mode] = run.train_and_evaluate(config, str(tmp_path / mode))["main"][0]
    for k in ("train/loss", "eval/nelbo", "eval/recon", "eval/kl"):
        assert records["host"][k] == records["device"][k], k


def test_auto_mode_streams_when_the_device_copy_does_not_fit():
    pop = population_lib.Population("p", (test_config.get_config(),))
    assert memory.choose_input("auto", pop, 100, 1000, 10, available=2000) == "device"
    assert memory.choose_input("auto", pop, 100, 1000, 10, available=1050) == "host"
    assert memory.choose_input("device", pop, 100, 1000, 10, available=10) == "device"
    with pytest.raises(ConfigError, match="input"):
        memory.choose_input("disk", pop, 100, 1000, 10, available=2000)
