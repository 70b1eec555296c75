"""Meshes, data-parallel and multi-process runs (vae_jax.train.mesh / distributed).

The test process already runs jax on one CPU device, so every multi-device run happens in a
subprocess with JAX_NUM_CPU_DEVICES set before jax starts: `python -m vae_jax.main` (one or two
processes on a free localhost port, with time limits) or experiments/device_check.py.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import DATA_DIR, REPO, subprocess_env
from vae_jax import checkpoints, data, run
from vae_jax.errors import ConfigError
from vae_jax.report import logs
from vae_jax.train import distributed, mesh
from vae_jax.train import population as population_lib

# Data-parallel training sums each gradient in another order: parameters agree to float32
# round-off amplified by Adam (max|a - b| <= 1e-3 max|ref| after a few hundred steps).
PARAM_TOLERANCE = 1e-3
NELBO_TOLERANCE = 1e-3  # nats
# Epochs of 10 steps of 64 images (configs/test.py); the lone-model runs take 30 epochs, long
# enough to kill one process mid-run, evaluated and saved at the end only (a run may change
# both on resume).
RUN = ("--config.num_train=640", "--config.num_epochs=30", "--config.figures=False",
       "--config.eval_every=30", "--config.checkpoint_every=30")
TIMEOUT = 300  # seconds per launch: the shared 2-core machine runs several jobs at once
# XLA:CPU sizes each process's thread pool max(cores, CPU devices), and its matmuls round by
# the pool's size (docs/scaling.md): processes compared bit for bit get the same pool.
SAME_POOL = {"PJRT_NPROC": "4"}


# ------------------------------------------------------------------------------ mesh shapes
@pytest.mark.parametrize("members, devices, requested, expected", [
    (1, 4, (0, 0), (1, 4)),  # a lone model: data-parallel
    (4, 4, (0, 0), (4, 1)),  # one member per device
    (6, 4, (0, 0), (2, 2)),  # members first, as many as divide both
    (8, 1, (0, 0), (1, 1)),
    (4, 4, (0, 2), (2, 2)),
    (4, 4, (1, 0), (1, 4)),
    (4, 8, (2, 2), (2, 2)),  # a mesh smaller than the devices
])
def test_mesh_shape(members, devices, requested, expected):
    assert mesh.mesh_shape(members, devices, *requested) == expected


@pytest.mark.parametrize("members, devices, requested, message", [
    (4, 4, (3, 0), "does not divide the population"),
    (4, 4, (0, 3), "does not divide the 4 devices"),
    (4, 4, (4, 2), "needs 8"),
])
def test_mesh_shape_refuses(members, devices, requested, message):
    with pytest.raises(ConfigError, match=message):
        mesh.mesh_shape(members, devices, *requested)


def test_one_device_has_no_mesh(tiny_config):
    tiny_config.mesh_data = 1
    assert mesh.make_mesh(1, tiny_config) is None
    assert mesh.sharding(None, "data") is None


def test_incomplete_distributed_flags_are_refused():
    with pytest.raises(ConfigError, match="--num_processes and --process_id together"):
        distributed.initialize(coordinator_address="localhost:1234")
    with pytest.raises(ConfigError, match="must be below"):
        distributed.initialize("localhost:1234", num_processes=2, process_id=2)


def test_distributed_outside_a_cluster_says_what_to_give(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "OMPI_", "TPU_", "CLOUD_TPU"))}
    result = subprocess.run(
        [sys.executable, "-m", "vae_jax.main", "--config=configs/test.py", f"--workdir={tmp_path}",
         "--distributed"], env=dict(env, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu"),
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "--distributed found no cluster to join" in result.stderr


def test_short_reason_names_the_peer_address():
    import jax

    error = jax.errors.JaxRuntimeError(
        "UNKNOWN: Gloo all-reduce failed: [gloo/transport/tcp/pair.cc:538] Read error "
        "[127.0.0.1]:20666: Connection reset by peer")
    assert distributed.is_peer_failure(error)
    assert distributed.short_reason(error) == "connection reset by peer at [127.0.0.1]:20666"
    assert not distributed.is_peer_failure(ValueError("Connection reset by peer"))


# ------------------------------------------------------------------------------ subprocesses
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _launch(workdir, *flags, processes: int = 1, devices: int = 1, tag: str = "",
            env: dict | None = None):
    """`python -m vae_jax.main` on configs/test.py in `processes` processes of `devices` CPU
    devices each, with `env` added to their environment; output in
    workdir/../<name>_<tag><i>.log."""
    env = subprocess_env(JAX_NUM_CPU_DEVICES=str(devices), PYTHONPATH=str(REPO),
                         VAE_JAX_DATA_DIR=DATA_DIR, **(env or {}))
    command = [sys.executable, "-m", "vae_jax.main", "--config=configs/test.py",
               f"--workdir={workdir}", f"--config.data_dir={DATA_DIR}", *RUN, *flags]
    if processes > 1:
        port = _free_port()
        command += [f"--coordinator_address=localhost:{port}", f"--num_processes={processes}",
                    "--heartbeat_timeout=10", "--shutdown_timeout=10"]
    launched = []
    for i in range(processes):
        log = open(f"{workdir}_{tag}{i}.log", "w")  # noqa: SIM115 - closed by _wait
        ids = [f"--process_id={i}"] if processes > 1 else []
        launched.append((subprocess.Popen(command + ids, env=env, cwd=REPO, stdout=log,
                                          stderr=subprocess.STDOUT), log))
    return launched


def _log_text(workdir, i: int, tag: str = "") -> str:
    with open(f"{workdir}_{tag}{i}.log") as f:
        return f.read()


def _wait(workdir, launched, timeout: float = TIMEOUT) -> list[int]:
    """Exit codes; kills everything and fails with the logs past `timeout` seconds."""
    deadline = time.monotonic() + timeout
    codes = []
    try:
        for process, _ in launched:
            codes.append(process.wait(timeout=max(1.0, deadline - time.monotonic())))
    except subprocess.TimeoutExpired:
        for process, _ in launched:
            process.kill()
        pytest.fail(f"timed out after {timeout} s:\n" + _log_text(workdir, 0)[-3000:])
    finally:
        for _, log in launched:
            log.close()
    return codes


def _ok(workdir, launched, timeout: float = TIMEOUT) -> None:
    codes = _wait(workdir, launched, timeout)
    assert codes == [0] * len(codes), _log_text(workdir, codes.index(max(codes)))[-3000:]


def _final_states(workdir):
    """{population: stacked final TrainState} restored on this (one-device) process, the Adam
    moments included: a resume's exactness is checked on all it restores (vae_jax.load_run,
    the way to use a run, reads a member's parameters only)."""
    config = checkpoints.read_config(str(workdir))
    config.mesh_members = config.mesh_data = 0
    dataset = data.load(config)
    states = {}
    for population in population_lib.split(config):
        setup = run.Setup(population.static_config, dataset)
        like, _, _, _ = run.init_population(setup, population, dataset)
        checkpointer = checkpoints.Checkpointer(
            os.path.join(workdir, "checkpoints", population.name))
        states[population.name] = checkpointer.restore(checkpointer.latest_epoch(), like)
        checkpointer.close()
    return states


def _max_relative_difference(a, b) -> float:
    import jax

    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))) / np.max(np.abs(y)))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
               if np.max(np.abs(y)) > 0)


def _eval_records(workdir) -> dict:
    return {(r["member"], r["epoch"]): r["eval/nelbo"] for r in logs.read_metrics(workdir)
            if "eval/nelbo" in r}


@pytest.mark.slow
@pytest.mark.real_data
def test_population_over_two_processes_equals_one_process(tmp_path):
    """4 members over 2 processes x 2 devices (one member per device) = one 4-device process."""
    flags = ("--config.sweep.seed=(0, 1, 2, 3)", "--config.num_epochs=4",
             "--config.eval_every=1")
    single = _launch(tmp_path / "single", *flags, devices=4)
    _ok(tmp_path / "single", single)
    several = _launch(tmp_path / "two", *flags, processes=2, devices=2)
    _ok(tmp_path / "two", several)
    reference, states = _final_states(tmp_path / "single"), _final_states(tmp_path / "two")
    assert _max_relative_difference(states["main"].params, reference["main"].params) <= 1e-6
    expected, got = _eval_records(tmp_path / "single"), _eval_records(tmp_path / "two")
    assert sorted(got) == sorted(expected) and len(got) == 4 * 4
    np.testing.assert_allclose([got[k] for k in expected], list(expected.values()),
                               rtol=1e-6)


def _records(workdir) -> dict:
    """{(member, epoch): {name: value}} of every train/ and eval/ metric in metrics.jsonl."""
    return {(r["member"], r["epoch"]): {k: v for k, v in r.items()
                                        if k.startswith(("train/", "eval/"))}
            for r in logs.read_metrics(workdir)}


@pytest.mark.slow
@pytest.mark.real_data
def test_data_parallel_two_processes_killed_and_resumed_equal_one_device_bitwise(tmp_path):
    """A lone model with fixed-order gradients (grad_shards=4) ends with the same state (every
    parameter and Adam moment) and metrics, bit for bit, on one device, on 4 devices of one
    process and on 2 processes x 2 devices, killed mid-run and resumed: killing one process
    stops the other within 60 s naming it, and relaunching both resumes.

    Every process has the same XLA:CPU thread pool (SAME_POOL): without it, on a machine of
    fewer than 4 cores the 4-device process has a larger pool than the one-device one and its
    matmuls round differently. The 500-unit hidden layer makes the weight gradients' matmul
    (16 rows x 500 x 784) one whose rounding depends on the pool (a 64-unit one does not).

    The default all-reduced gradients over 2 processes are compared with one process at
    round-off by test_population_over_two_processes_equals_one_process (members) and
    tests/test_host_input.py (a lone model), one process's against one device by
    test_device_check_on_four_cpu_devices."""
    fixed = ("--config.grad_shards=4", "--config.hidden=(500,)")
    one_fixed = _launch(tmp_path / "one_fixed", *fixed, env=SAME_POOL)
    _ok(tmp_path / "one_fixed", one_fixed)
    four = _launch(tmp_path / "four", *fixed, "--config.mesh_data=4", devices=4, env=SAME_POOL)
    _ok(tmp_path / "four", four)
    workdir = tmp_path / "killed"
    killed = _launch(workdir, *fixed, "--config.checkpoint_every=1", processes=2, devices=2,
                     env=SAME_POOL)
    first = workdir / "checkpoints" / "main" / "1"
    deadline = time.monotonic() + TIMEOUT
    while not first.exists() and time.monotonic() < deadline and killed[0][0].poll() is None:
        time.sleep(0.2)
    assert first.exists(), _log_text(workdir, 0)[-3000:]
    killed[1][0].send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    codes = _wait(workdir, killed, timeout=90)
    survivor_seconds = time.monotonic() - killed_at
    survivor_log = _log_text(workdir, 0)
    assert codes[0] == distributed.EXIT_PEER_LOST, survivor_log[-3000:]
    assert survivor_seconds < 60
    assert "error: process 1 of 2 stopped" in survivor_log
    assert "relaunch all processes to resume" in survivor_log

    assert not (workdir / "checkpoints" / "main" / "30").exists()  # killed mid-run

    # Relaunched: resumes and ends with the one-device run's bits: parameters, Adam moments,
    # and every epoch's train/ and eval/ metrics (epochs 1-30: before and after the kill).
    resumed = _launch(workdir, *fixed, processes=2, devices=2, tag="resumed", env=SAME_POOL)
    codes = _wait(workdir, resumed)
    assert codes == [0, 0], _log_text(workdir, 0, "resumed")[-3000:]
    import jax

    alone = _final_states(tmp_path / "one_fixed")["main"]
    alone_records = _records(tmp_path / "one_fixed")
    for other in (tmp_path / "four", workdir):
        jax.tree.map(np.testing.assert_array_equal, _final_states(other)["main"], alone)
        records = _records(other)
        assert sorted(records) == [(0, epoch) for epoch in range(1, 31)]
        for key, expected in alone_records.items():
            assert sorted(records[key]) == sorted(expected), key
            for name, value in expected.items():
                np.testing.assert_array_equal(records[key][name], value,
                                              err_msg=f"{other.name} {key} {name}")


def test_slurm_script_parses():
    script = REPO / "experiments" / "slurm" / "vae_multinode.sbatch"
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    assert "--distributed" in script.read_text()


@pytest.mark.slow
@pytest.mark.real_data
def test_device_check_on_four_cpu_devices(tmp_path):
    """In one process of 4 devices: data-parallel over 2 and 4 devices, with and without
    fixed-order gradients, against one device (experiments/device_check.py; its population
    checks are left out here: test_population.py and the two-process test above cover
    sharded members)."""
    out = tmp_path / "device_check.json"
    env = dict(os.environ, JAX_NUM_CPU_DEVICES="4", JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO),
               VAE_JAX_DATA_DIR=DATA_DIR)
    result = subprocess.run(
        [sys.executable, "experiments/device_check.py", "--quick", "--only=exactness",
         "--exactness=data_parallel,fixed_order",
         f"--out={out}"], env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    checks = json.loads(out.read_text())
    assert checks["devices"] == 4
    exactness = checks["exactness"]
    compared = [k for k in exactness if k != "lone_steps"]
    fixed_order = ["fixed_order_2_vs_1", "fixed_order_4_vs_1"]
    assert compared == ["data_parallel_2_vs_1", "data_parallel_4_vs_1", *fixed_order]
    for name in compared:
        assert exactness[name]["params_max_rel_diff"] <= PARAM_TOLERANCE, name
        assert exactness[name]["eval_nelbo_max_abs_diff"] <= NELBO_TOLERANCE, name
    # Splitting the batch changes the summation order: never bitwise.
    assert exactness["data_parallel_4_vs_1"]["params_max_rel_diff"] > 0
    # ... unless the gradient is summed in a fixed order (grad_shards=4): every parameter and
    # every train/ and eval/ metric of every epoch, on 1, 2 and 4 data devices.
    for name in fixed_order:
        assert exactness[name]["params_bitwise"], exactness[name]
        assert exactness[name]["metrics_bitwise"], exactness[name]
