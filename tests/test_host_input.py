"""Host input mode: the same batches in the same order as the device-resident epoch, and the
same parameters and metrics, bit for bit; on a mesh and over several processes too, each
process reading only the rows its devices hold."""

import json
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from configs import test as test_config
from tests import test_distributed as launching
from tests.conftest import DATA_DIR, REPO, subprocess_env
from vae_jax import data, run, streams, train
from vae_jax.data import host_input
from vae_jax.errors import ConfigError
from vae_jax.report import logs
from vae_jax.train import host_epoch, memory
from vae_jax.train import population as population_lib


def test_gathered_chunks_are_the_device_epochs_batches():
    images = np.arange(40 * 2 * 2, dtype=np.uint8).reshape(40, 2, 2, 1)
    data_key = jax.random.key(3)
    perm_key, _ = streams.epoch_keys(data_key, 5)
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


# Process of each device of a (members, data) mesh of 2 processes x 2 devices, and the data
# columns whose slices of the batch each process's devices hold.
@pytest.mark.parametrize("device_processes, columns", [
    ([[0, 0, 1, 1]], {0: [0, 1], 1: [2, 3]}),  # a lone model, data-parallel over 4
    ([[0], [0], [1], [1]], {0: [0], 1: [0]}),  # 4 members, one per device: whole batches
    ([[0, 0], [1, 1]], {0: [0, 1], 1: [0, 1]}),  # 2 members x 2: each process a member
])
def test_each_process_gathers_exactly_its_devices_rows(device_processes, columns):
    images = np.arange(64, dtype=np.uint8).reshape(64, 1, 1, 1)
    perm = np.random.default_rng(0).permutation(64)
    device_processes = np.array(device_processes)
    whole = host_input.gather_chunk(images, perm, 1, 3, 16)
    per_column = 16 // device_processes.shape[1]
    for process, held in columns.items():
        rows = host_input.batch_rows(device_processes, 16, process)
        expected = np.concatenate([whole[:, c * per_column:(c + 1) * per_column] for c in held],
                                  axis=1)
        np.testing.assert_array_equal(
            host_input.gather_chunk(images, perm, 1, 3, 16, rows), expected)
    with pytest.raises(ConfigError, match="split"):
        host_input.batch_rows(np.zeros((1, 3), int), 16, 0)


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


# ------------------------------------------------------------------ on a mesh, in subprocesses
# configs/test.py on 4 CPU devices (a lone model: data-parallel over 4): one epoch of 10 steps
# in chunks of 5, evaluated and saved.
MESH_RUN = ("--config.num_train=640", "--config.num_test=128", "--config.num_epochs=1",
            "--config.figures=False", "--config.host_chunk_steps=5")
# Two processes sum the data-parallel gradient across processes in another order than one
# process of 4 devices (device input too, which host input over 2 processes equals bit for
# bit): max|a - b| / max|ref| 2e-7 after 10 steps (2.7e-7 after 20), metrics 1e-7 relative.
PARAM_TOLERANCE, METRIC_RTOL = 1e-5, 1e-6
# vae_jax.main, with every host_input.gather_chunk call logged to $READS_LOG as
# [rows asked for, rows read per batch].
RECORDING_MAIN = """
import json, os, runpy
from vae_jax.data import host_input
gather = host_input.gather_chunk
def recorded(images, perm, start, steps, batch_size, rows=None):
    chunk = gather(images, perm, start, steps, batch_size, rows)
    with open(os.environ["READS_LOG"], "a") as f:
        f.write(json.dumps([rows, chunk.shape[1]]) + "\\n")
    return chunk
host_input.gather_chunk = recorded
runpy.run_module("vae_jax.main", run_name="__main__")
"""


def _run(workdir, *flags, processes: int = 1) -> list[list]:
    """MESH_RUN on 4 CPU devices in `processes` processes; -> each process's gathers."""
    # The test process's compilation cache (conftest.py): a rerun compiles nothing.
    env = subprocess_env(JAX_NUM_CPU_DEVICES=str(4 // processes), PYTHONPATH=str(REPO),
                         VAE_JAX_DATA_DIR=DATA_DIR)
    command = [sys.executable, "-c", RECORDING_MAIN, "--config=configs/test.py",
               f"--workdir={workdir}", f"--config.data_dir={DATA_DIR}", *MESH_RUN, *flags]
    if processes > 1:
        command += [f"--coordinator_address=localhost:{launching._free_port()}",
                    f"--num_processes={processes}"]
    launched = []
    for i in range(processes):
        log = open(f"{workdir}_{i}.log", "w")  # noqa: SIM115 - closed by _wait
        ids = [f"--process_id={i}"] if processes > 1 else []
        launched.append((subprocess.Popen(command + ids, cwd=REPO, stdout=log,
                                          stderr=subprocess.STDOUT,
                                          env=dict(env, READS_LOG=f"{workdir}_reads{i}.jsonl")),
                         log))
    launching._ok(workdir, launched)
    logged = [pathlib.Path(f"{workdir}_reads{i}.jsonl") for i in range(processes)]
    return [[json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
            for path in logged]


def _records(workdir) -> dict:
    return {(r["epoch"], k): r[k] for r in logs.read_metrics(workdir)
            for k in ("train/loss", "eval/nelbo") if k in r}


@pytest.fixture(scope="module")
def device_input_run(tmp_path_factory):
    """The reference: device input, one process of 4 devices."""
    workdir = tmp_path_factory.mktemp("mesh") / "device"
    assert _run(workdir, "--config.input=device") == [[]]
    return workdir


@pytest.mark.real_data
def test_host_input_on_a_data_mesh_equals_device_input_bitwise(device_input_run, tmp_path):
    reads = _run(tmp_path / "host", "--config.input=host")
    assert reads == [[[[0, 64], 64]] * 2]  # whole batches, in 2 chunks
    expected = launching._final_states(device_input_run)["main"]
    got = launching._final_states(tmp_path / "host")["main"]
    for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(got), strict=True):
        np.testing.assert_array_equal(a, b)
    assert _records(tmp_path / "host") == _records(device_input_run)


@pytest.mark.real_data
def test_host_input_over_two_processes_reads_own_rows_and_equals_one_process(
        device_input_run, tmp_path):
    """2 processes x 2 devices, data-parallel over 4: process 0 feeds rows 0..31 of each batch,
    process 1 rows 32..63, and the run ends where one process of 4 devices ends (round-off)."""
    reads = _run(tmp_path / "two", "--config.input=host", processes=2)
    assert reads == [[[[0, 32], 32]] * 2, [[[32, 64], 32]] * 2]
    expected = launching._final_states(device_input_run)["main"]
    got = launching._final_states(tmp_path / "two")["main"]
    assert int(got.step[0]) == 10
    assert launching._max_relative_difference(got.params, expected.params) <= PARAM_TOLERANCE
    expected, got = _records(device_input_run), _records(tmp_path / "two")
    assert sorted(got) == sorted(expected)
    np.testing.assert_allclose([got[k] for k in expected], list(expected.values()),
                               rtol=METRIC_RTOL)
