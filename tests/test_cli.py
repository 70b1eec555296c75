"""The command line, run as a user runs it (a subprocess in a temp workdir)."""

import json
import os
import subprocess
import sys

import jax
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.real_data


def main(workdir, *overrides, config="configs/test.py", data_dir):
    cmd = [sys.executable, "-m", "vae_jax.main", f"--config={config}", f"--workdir={workdir}",
           f"--config.data_dir={data_dir}", "--config.figures=False", *overrides]
    env = dict(os.environ, JAX_PLATFORMS="cpu",  # share the suite's compilation cache
               JAX_COMPILATION_CACHE_DIR=jax.config.jax_compilation_cache_dir,
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=600)


def lines(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f]
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in records]


def test_smoke_run_and_exact_resume_through_the_command_line(tmp_path, data_dir):
    straight = main(tmp_path / "a", "--config.num_epochs=2", data_dir=data_dir)
    assert straight.returncode == 0, straight.stderr
    first = main(tmp_path / "b", "--config.num_epochs=1", data_dir=data_dir)
    again = main(tmp_path / "b", "--config.num_epochs=2", data_dir=data_dir)
    assert first.returncode == 0 and again.returncode == 0, again.stderr
    assert lines(tmp_path / "a") == lines(tmp_path / "b")
    saved = json.loads((tmp_path / "a" / "config.json").read_text())
    assert saved["num_epochs"] == 2 and saved["hidden"] == [64]


def test_extending_a_cosine_run_is_refused_with_exit_code_2(tmp_path, data_dir):
    first = main(tmp_path, "--config.lr_schedule=cosine", "--config.num_epochs=1",
                 data_dir=data_dir)
    assert first.returncode == 0, first.stderr
    longer = main(tmp_path, "--config.lr_schedule=cosine", "--config.num_epochs=2",
                  data_dir=data_dir)
    assert longer.returncode == 2
    assert "lr_schedule 'cosine' is shaped by num_epochs" in longer.stderr
    assert "Traceback" not in longer.stderr


def test_unknown_config_field_is_refused(tmp_path, data_dir):
    result = main(tmp_path, "--config.betaa=4", data_dir=data_dir)
    assert result.returncode != 0
    assert "betaa" in result.stderr
    assert not os.path.exists(tmp_path / "config.json")


@pytest.mark.parametrize("override,message", [
    ("--config.model=gan", "unknown model 'gan'"),
    ("--config.dataset=cifar", "unknown dataset 'cifar'"),
])
def test_bad_names_give_one_clear_line(tmp_path, data_dir, override, message):
    result = main(tmp_path, override, data_dir=data_dir)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_missing_data_directory_names_the_fix(tmp_path):
    result = main(tmp_path, data_dir=tmp_path / "missing")
    assert result.returncode == 2
    assert "VAE_JAX_DATA_DIR" in result.stderr and "Traceback" not in result.stderr
