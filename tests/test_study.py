"""Studies larger than one job: a sweep cut into slices (config.sweep_slice), each its own
workdir, merged by vae_jax.report into the records of the unsliced run."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from configs import test as test_config
from tests.conftest import DATA_DIR, REPO, subprocess_env
from vae_jax import run, validation
from vae_jax.errors import ConfigError
from vae_jax.report import logs
from vae_jax.report import study as study_lib
from vae_jax.train import population

pytestmark = pytest.mark.real_data


def four_members(data_dir, **overrides):
    """2 betas x 2 seeds, one epoch of 256 images; lax.map over members (bitwise per member)."""
    config = test_config.get_config()
    config.data_dir = data_dir
    config.num_train, config.num_test, config.batch_size = 256, 128, 64
    config.num_epochs, config.figures, config.member_map = 1, False, "map"
    config.sweep.beta, config.sweep.seed = (1.0, 4.0), (0, 1)
    for k, v in overrides.items():
        config[k] = v
    return config


def test_slices_partition_the_sweep():
    for members in (1, 4, 7, 300):
        for count in range(1, min(members, 9) + 1):
            indices = [i for k in range(count)
                       for i in population.slice_indices(members, f"{k}/{count}")]
            assert indices == list(range(members))  # every member in exactly one slice


@pytest.mark.parametrize("spec,message", [
    ("1-2", "expected 'i/N'"), ("2/2", "0 <= i < N"), ("0/5", "use N <= 4")])
def test_a_bad_slice_is_one_line(spec, message):
    config = test_config.get_config()
    config.sweep.beta, config.sweep.seed = (1.0, 4.0), (0, 1)
    config.sweep_slice = spec
    with pytest.raises(ConfigError, match=message) as error:
        validation.check(config, log_warnings=False)
    assert "\n" not in str(error.value)


def test_slices_keep_each_members_config_and_index():
    config = test_config.get_config()
    config.sweep.model, config.sweep.beta, config.sweep.seed = ("ae", "vae"), (1.0, 4.0), (0, 1)
    whole = {i: c for p in population.split(config) for i, c in zip(p.indices, p.configs,
                                                                     strict=True)}
    sliced = {}
    for k in range(3):
        config.sweep_slice = f"{k}/3"
        for p in population.split(config):
            assert p.name in ("model-ae", "model-vae")  # the unsliced populations' names
            sliced.update(zip(p.indices, p.configs, strict=True))
    assert sorted(sliced) == sorted(whole) == list(range(8))
    placed = lambda c: {k: v for k, v in c.to_dict().items() if k != "sweep_slice"}  # noqa: E731
    assert all(placed(sliced[i]) == placed(whole[i]) for i in whole)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The 4-member sweep unsliced, and as 2 slices in their own workdirs."""
    root = tmp_path_factory.mktemp("study")
    run.train_and_evaluate(four_members(DATA_DIR), str(root / "whole"))
    for k in range(2):
        run.train_and_evaluate(four_members(DATA_DIR, sweep_slice=f"{k}/2"),
                               str(root / f"slice_{k}"))
    return root


def _by_index(workdir):
    return {r["sweep_index"]: r for r in logs.read_metrics(str(workdir))}


def test_the_union_of_slices_is_the_unsliced_sweep_member_by_member(runs):
    whole = _by_index(runs / "whole")
    sliced = {**_by_index(runs / "slice_0"), **_by_index(runs / "slice_1")}
    assert sorted(whole) == sorted(sliced) == [0, 1, 2, 3]
    for index, record in whole.items():
        other = sliced[index]
        assert other["hparams"] == record["hparams"]
        numbers = [k for k in record if k.startswith(("train/", "eval/"))]
        assert numbers and all(other[k] == record[k] for k in numbers), index  # bitwise


def test_the_merged_report_of_the_slices_equals_the_unsliced_runs(runs, tmp_path):
    # The unsliced run through the Python API, the slices through the command line.
    study_lib.write(str(tmp_path / "whole"), study_lib.load([str(runs / "whole")]))
    done = subprocess.run([sys.executable, "-m", "vae_jax.report", f"--out={tmp_path / 'merged'}",
                           str(runs / "slice_0"), str(runs / "slice_1")], cwd=REPO,
                          env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "4 of 4 members" in done.stdout
    whole = json.loads((tmp_path / "whole" / "results.json").read_text())
    merged = json.loads((tmp_path / "merged" / "results.json").read_text())
    assert merged == whole and len(whole) == 4
    record = whole[2]
    assert (record["beta"], record["seed"], record["sweep_index"]) == (4.0, 0, 2)
    assert np.isfinite(record["eval/nelbo"]) and "train/loss" in record
    assert not any(k.startswith("perf/") for k in record)  # wall time is not a result
    report = (tmp_path / "merged" / "REPORT.md").read_text()
    assert "4 of 4 members finished" in report and "| beta | seeds |" in report
    for name in ("study_distributions.png", "study_rank_correlation.png",
                 "study_rate_distortion.png"):
        assert (tmp_path / "merged" / name).stat().st_size > 5_000
        assert name in report


def test_a_missing_slice_is_reported_not_dropped(runs, tmp_path):
    study = study_lib.load([str(runs / "slice_1")])
    assert [r["sweep_index"] for r in study.records] == [2, 3]
    assert [(m["sweep_index"], m["beta"], m["seed"]) for m in study.missing] == [
        (0, 1.0, 0), (1, 1.0, 1)]
    assert all("slice 0/2 was not given" in m["reason"] for m in study.missing)
    study_lib.write(str(tmp_path), study)
    report = (tmp_path / "REPORT.md").read_text()
    assert "2 of 4 members finished" in report and "Missing members: 2 of 4" in report
    assert "beta=1.0, seed=0, sweep_index=0: slice 0/2 was not given" in report


def test_an_unfinished_member_is_reported(runs, tmp_path):
    workdir = tmp_path / "partial"
    os.makedirs(workdir)
    (workdir / "config.json").write_text((runs / "slice_0" / "config.json").read_text())
    config = json.loads((workdir / "config.json").read_text())
    config["num_epochs"] = 2  # the logged epoch 1 is now half of the run
    (workdir / "config.json").write_text(json.dumps(config))
    (workdir / "metrics.jsonl").write_text((runs / "slice_0" / "metrics.jsonl").read_text())
    study = study_lib.load([str(workdir)])
    assert not study.records and len(study.missing) == 4
    assert "unfinished: epoch 1 of 2" in study.missing[0]["reason"]


# ------------------------------------------------------------ configs/study_locatello.py
def test_the_study_config_builds_disentanglement_libs_network():
    import jax

    from configs import study_locatello
    from vae_jax import models

    config = study_locatello.get_config("beta_vae")
    model = models.build(config, (64, 64, 1))
    params = jax.eval_shape(lambda: model.init(jax.random.key(0), np.zeros((1, 64, 64, 1)),
                                               jax.random.key(1)))["params"]
    count = lambda tree: sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))  # noqa: E731
    # conv_encoder: 544 + 16,416 + 8,256 + 16,448 (convolutions) + 262,400 (dense 256) +
    # 5,140 (means, log variances); deconv_decoder: 2,816 + 263,168 (dense 256, 1024) +
    # 65,600 + 32,800 + 16,416 + 513 (transposed convolutions). architectures.py's numbers.
    assert count(params) == 309_204 + 381_313


@pytest.mark.slow
@pytest.mark.parametrize("model", ["beta_vae", "annealed_vae", "factor_vae", "dip_vae_i",
                                   "dip_vae_ii", "beta_tcvae"])
def test_every_model_of_the_study_trains_a_few_steps(model, tmp_path):
    from configs import study_locatello

    config = study_locatello.get_config(model)
    assert len(population.member_configs(config)) == 300  # six values x 50 seeds
    config.num_train, config.num_test, config.num_epochs = 128, 64, 1  # two steps
    # Training is what differs between the models; the metrics' protocols are tested in
    # test_disentanglement.py, so the -ELBO alone and no figures keep this to the six compiles.
    config.eval_every, config.evals, config.final_evals, config.figures = 1, ("elbo",), (), False
    config.sweep_slice = "299/300"  # one member: the last value, seed 49
    last = run.train_and_evaluate(config, str(tmp_path))
    (record,) = [r for records in last.values() for r in records]
    assert record["sweep_index"] == 299 and record["hparams"]["seed"] == 49
    _, values, fixed = study_locatello.MODELS[model]
    for field, published in {**{f: v[-1] for f, v in values.items()}, **fixed}.items():
        trained = record["hparams"].get(field, config.get(field))  # Hparams, else static
        assert trained == published, field  # the published value trained
    assert np.isfinite(record["eval/nelbo"]) and np.isfinite(record["train/loss"])
