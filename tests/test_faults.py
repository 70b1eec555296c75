"""Faults a long run meets: killed mid-epoch or mid-write, a damaged checkpoint, a full disk,
an error after training, and a second run on the same workdir. Each run ends at exactly the
numbers of the run that met no fault, and no complete checkpoint is ever lost."""

import errno
import json
import os
import signal
import subprocess
import sys
import threading

import jax
import numpy as np
import pytest
from orbax.checkpoint._src.path import atomicity

from configs import test as test_config
from tests.conftest import DATA_DIR, REPO
from vae_jax import checkpoints, models, run, train, workdir_lock
from vae_jax.errors import CheckpointError
from vae_jax.metrics import evaluators

pytestmark = pytest.mark.real_data
EPOCHS = 3


def command(workdir, data_dir, *hook):
    """The command line (under tests/fault_hooks.py when `hook` = (name, epoch) is given)."""
    entry = ["tests/fault_hooks.py", *map(str, hook)] if hook else ["-m", "vae_jax.main"]
    return [sys.executable, *entry, "--config=configs/test.py", f"--workdir={workdir}",
            f"--config.data_dir={data_dir}", "--config.figures=False",
            f"--config.num_epochs={EPOCHS}"]


def env():
    return dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO),
                JAX_COMPILATION_CACHE_DIR=jax.config.jax_compilation_cache_dir,
                JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")


def main(workdir, data_dir):
    return subprocess.run(command(workdir, data_dir), cwd=REPO, capture_output=True, text=True,
                          env=env(), timeout=120)


def killed_at(workdir, data_dir, hook: str, epoch: int) -> None:
    """Runs the command until `hook` pauses it in `epoch`, then SIGKILLs it."""
    process = subprocess.Popen(command(workdir, data_dir, hook, epoch), cwd=REPO, env=env(),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    watchdog = threading.Timer(120, process.kill)  # bounds the wait for the hook
    watchdog.start()
    try:
        assert process.stdout.readline().strip() == "PAUSED", "the run ended before the hook"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        watchdog.cancel()
    assert process.returncode == -signal.SIGKILL


def records(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [{k: v for k, v in json.loads(line).items() if not k.startswith("perf/")}
                for line in f]


def final_states(workdir):
    config = test_config.get_config()
    model = models.build(config, (28, 28, 1))
    tx = train.make_optimizer(config)
    like = jax.vmap(lambda k: train.create_state(k, model, tx, (28, 28, 1)))(
        jax.random.split(jax.random.key(0), 1))
    with checkpoints.Checkpointer(os.path.join(workdir, "checkpoints", "main")) as ckpt:
        epoch = ckpt.latest_epoch()
        return epoch, ckpt.restore(epoch, like)


def assert_ends_like(workdir, straight):
    assert records(workdir) == records(straight)
    (epoch, states), (straight_epoch, straight_states) = final_states(workdir), \
        final_states(straight)
    assert epoch == straight_epoch == EPOCHS
    jax.tree.map(np.testing.assert_array_equal, states, straight_states)  # bitwise
    assert not [n for n in os.listdir(os.path.join(workdir, "checkpoints", "main"))
                if "tmp" in n]


def tiny(num_epochs=EPOCHS):
    """The config `command` runs (configs/test.py), for runs inside the test process."""
    config = test_config.get_config()
    config.data_dir, config.figures, config.num_epochs = DATA_DIR, False, num_epochs
    return config


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The run that met no fault."""
    workdir = tmp_path_factory.mktemp("straight")
    run.train_and_evaluate(tiny(), str(workdir))
    return workdir


@pytest.fixture
def config():
    return tiny()


def test_killed_during_an_epoch_then_relaunched(straight, config, tmp_path, data_dir, caplog):
    killed_at(tmp_path, data_dir, "epoch", 1)  # epoch 2 of 3 was computing
    assert [r["epoch"] for r in records(tmp_path)] == [1]
    # The dead run's lock does not block the relaunch (the kernel released it).
    run.train_and_evaluate(config, str(tmp_path))
    assert any("taking over the lock of a run that ended without releasing it" in m
               for m in caplog.messages)
    assert_ends_like(tmp_path, straight)


def test_killed_during_a_checkpoint_write_then_relaunched(straight, config, tmp_path, data_dir):
    killed_at(tmp_path, data_dir, "finalize", 2)  # epoch 2's files written, not renamed
    names = set(os.listdir(tmp_path / "checkpoints" / "main"))
    assert "1" in names and "2" not in names and any(n.startswith("2.orbax-checkpoint-tmp")
                                                     for n in names)
    run.train_and_evaluate(config, str(tmp_path))
    assert_ends_like(tmp_path, straight)


def _damage(step_dir, how: str) -> None:
    """Deletes or garbles the data files of a saved step (a truncated or torn checkpoint)."""
    for root, _, files in os.walk(step_dir):
        for name in files:
            path = os.path.join(root, name)
            if os.path.basename(root) == "d":  # tensorstore's data files
                if how == "delete":
                    os.remove(path)
                else:
                    with open(path, "r+b") as f:
                        f.truncate(os.path.getsize(path) // 2)


@pytest.mark.parametrize("how", ["delete", "truncate"])
def test_a_damaged_latest_checkpoint_is_moved_aside_and_the_one_before_used(
        straight, config, tmp_path, how, caplog):
    config.num_epochs = 2
    run.train_and_evaluate(config, str(tmp_path))
    _damage(tmp_path / "checkpoints" / "main" / "2", how)
    config.num_epochs = EPOCHS
    run.train_and_evaluate(config, str(tmp_path))
    damaged = str(tmp_path / "checkpoints" / "main" / "2")
    assert any(f"checkpoint {damaged} is damaged" in m for m in caplog.messages)
    assert os.path.isdir(tmp_path / "checkpoints" / "main-damaged" / "2")  # kept, not deleted
    assert_ends_like(tmp_path, straight)


def test_a_failing_write_stops_the_run_and_loses_no_checkpoint(straight, config, tmp_path,
                                                               monkeypatch):
    finalize = atomicity.AtomicRenameTemporaryPath.finalize

    async def disk_full_at_epoch_2(self, *args, **kwargs):
        if self.get().name.startswith("2.orbax-checkpoint-tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return await finalize(self, *args, **kwargs)

    monkeypatch.setattr(atomicity.AtomicRenameTemporaryPath, "finalize", disk_full_at_epoch_2)
    with pytest.raises(CheckpointError, match=r"No space left on device.*checkpoints \(epochs "
                                              r"1\) are intact.*rerun the same command"):
        run.train_and_evaluate(config, str(tmp_path))
    assert os.listdir(tmp_path / "checkpoints" / "main") == ["1"]  # and no tmp directory
    monkeypatch.undo()
    run.train_and_evaluate(config, str(tmp_path))  # resumes from epoch 1
    assert_ends_like(tmp_path, straight)


def test_an_error_after_training_waits_for_the_save_in_flight(config, tmp_path, monkeypatch,
                                                              capfd):
    finalize = atomicity.AtomicRenameTemporaryPath.finalize

    async def slow_finalize(self, *args, **kwargs):
        import asyncio

        await asyncio.sleep(1.0)  # epoch 2's save is still in flight when the evaluator fails
        return await finalize(self, *args, **kwargs)

    def failing_summary(*args):
        calls.append(args)
        if len(calls) == EPOCHS:
            raise RuntimeError("evaluator failed")
        return summarize(*args)

    summarize, calls = evaluators.summarize, []
    monkeypatch.setattr(atomicity.AtomicRenameTemporaryPath, "finalize", slow_finalize)
    monkeypatch.setattr(evaluators, "summarize", failing_summary)
    with pytest.raises(RuntimeError, match="evaluator failed"):  # in epoch 3's evaluation
        run.train_and_evaluate(config, str(tmp_path))
    assert sorted(os.listdir(tmp_path / "checkpoints" / "main")) == ["1", "2"]
    assert final_states(tmp_path)[0] == 2  # the last complete checkpoint restores
    assert "Traceback" not in capfd.readouterr().err  # no background thread died


def test_a_second_run_on_a_busy_workdir_is_refused(tmp_path, data_dir):
    with workdir_lock.hold(str(tmp_path)):
        result = main(tmp_path, data_dir)
        with pytest.raises(CheckpointError, match="in use by another run"):
            with workdir_lock.hold(str(tmp_path)):
                pass
    assert result.returncode == 2
    assert f"workdir {tmp_path} is in use by another run (pid {os.getpid()}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "checkpoints")
    with workdir_lock.hold(str(tmp_path)):  # released: free again
        pass
