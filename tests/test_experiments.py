"""The experiment scripts and configs, run as a user runs them, on tiny settings."""

import importlib
import json
import os
import pathlib
import re
import subprocess
import sys

import matplotlib.image
import numpy as np
import pytest

from tests.conftest import REPO, subprocess_env
from vae_jax import validation

CONFIGS = sorted(p.stem for p in (REPO / "configs").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("name", CONFIGS)
def test_every_config_loads_and_documents_its_command(name):
    module = importlib.import_module(f"configs.{name}")
    config = module.get_config()
    if "anomaly" in config.evals and not config.exclude_train_labels:
        config.exclude_train_labels = (0,)  # experiments/anomaly.py sets it per held-out class
    validation.check(config, log_warnings=False)  # every field and combination is valid
    for heading in ("Command:", "Runtime:"):
        assert heading in module.__doc__, f"configs/{name}.py docstring lacks {heading}"
    assert "RUNTIME" not in module.__doc__ and "RESULT" not in module.__doc__


def script(name: str, workdir, *flags, data_dir: str):
    env = subprocess_env(VAE_JAX_DATA_DIR=data_dir)
    cmd = [sys.executable, f"experiments/{name}.py", f"--workdir={workdir}",
           "--config.progress=False", *flags]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return pathlib.Path(workdir)


TINY = ("--config.num_epochs=1", "--config.eval_every=1", "--config.num_train=512",
        "--config.num_test=256")


@pytest.mark.real_data
def test_compare_writes_its_report(tmp_path, data_dir):
    two_epochs = tuple(f for f in TINY if "num_epochs" not in f) + ("--config.num_epochs=2",)
    # DCI by the 25-tree forest: the boosting models' fits would be most of this test's time
    # (their numbers are tested in test_disentanglement.py); the report must name it.
    out = script("compare", tmp_path, *two_epochs, "--config.sweep.beta=(1., 4.)",
                 "--config.sweep.seed=(0,)", "--config.disentanglement_votes=100",
                 "--config.probe_train_size=256", "--config.dci_importance_model=random_forest",
                 data_dir=data_dir)
    results = json.loads((out / "summary.json").read_text())
    betas = [row["beta"] for row in results["vae"]["summary"]]
    assert betas == [1.0, 4.0] and len(results["ae"]["members"]) == 1
    records = json.loads((out / "results.json").read_text())  # vae_jax.report's, one per member
    assert [(r["model"], r["beta"]) for r in records] == [("ae", 1.0), ("vae", 1.0), ("vae", 4.0)]
    report = (out / "REPORT.md").read_text()
    assert "| vae | 4.0 | 1 |" in report and "MIG" in report
    assert "DCI dis. (random forest)" in report  # DCI names its importance model
    assert "one seed (no spread)" in report
    assert (out / "vae/figures/main/member_1/traversals.png").exists()
    # It opens with the three overview figures, before the table; they are there, README-sized.
    images = re.findall(r"!\[[^]]*\]\(([^)]+)\)", report)
    assert images[:3] == ["compare.png", "rate_distortion.png", "curves.png"]
    assert report.index("curves.png") < report.index("| model |")
    for name in images[:3]:
        height, width = matplotlib.image.imread(out / name).shape[:2]
        assert 500 <= width <= 1100, (name, width)
    assert matplotlib.image.imread(out / "compare.png").shape[0] > 300  # three model rows
    # Experiments keep the last checkpoint only (configs/compare.py: keep_checkpoints=1).
    for model in ("ae", "vae"):
        assert sorted(os.listdir(out / model / "checkpoints" / "main")) == ["2"]


@pytest.mark.real_data
def test_anomaly_reports_an_auc_per_held_out_class(tmp_path, data_dir):
    out = script("anomaly", tmp_path, *TINY, "--datasets=fashion_mnist", "--held_out=3,8",
                 data_dir=data_dir)
    rows = json.loads((out / "results.json").read_text())["fashion_mnist"]
    assert [row["held_out"] for row in rows] == [3, 8, "mean"]
    for header in ("AE recon", "VAE recon", "VAE -ELBO"):
        # The 'mean' row: mean and sample std over the held-out classes' rows.
        per_class = [row[header][0] for row in rows[:2]]
        assert rows[2][header][0] == pytest.approx(np.mean(per_class), abs=1e-12)
        assert rows[2][header][1] == pytest.approx(np.std(per_class, ddof=1), abs=1e-12)


def test_disentanglement_study_reports_the_effect_and_the_information_matrices(tmp_path,
                                                                               data_dir):
    out = script("disentanglement", tmp_path, "--config.num_epochs=2",
                 "--config.num_train=256", "--config.num_test=200", "--config.hidden=(32,)",
                 "--config.sweep.objective=('elbo','elbo','tcvae','tcvae')",
                 "--config.sweep.beta=(1.,1.,6.,6.)", "--config.sweep.seed=(0,1,0,1)",
                 "--config.disentanglement_votes=64", "--config.figures=False",
                 "--config.dci_importance_model=random_forest", data_dir=data_dir)
    records = json.loads((out / "results.json").read_text())  # vae_jax.report's, one per member
    summary = json.loads((out / "summary.json").read_text())
    assert [(r["objective"], r["beta"], r["seed"]) for r in records] == [
        ("elbo", 1.0, 0), ("elbo", 1.0, 1), ("tcvae", 6.0, 0), ("tcvae", 6.0, 1)]
    # The effect table, recomputed from the records: mean, sample std, margin, pooled spread.
    vae = np.array([r["eval/mig"] for r in records[:2]])
    tc = np.array([r["eval/mig"] for r in records[2:]])
    row = summary["effect"]["beta-TCVAE (beta 6)"]
    assert row["mean"] == pytest.approx(tc.mean(), abs=1e-12)
    assert row["std"] == pytest.approx(tc.std(ddof=1), abs=1e-12)
    assert row["margin_over_vae"] == pytest.approx(tc.mean() - vae.mean(), abs=1e-12)
    pooled = np.sqrt((tc.var(ddof=1) + vae.var(ddof=1)) / 2)
    assert row["two_pooled_std"] == pytest.approx(2 * pooled, abs=1e-12)
    assert row["effect_shown"] == bool(tc.mean() - vae.mean() > 2 * pooled)
    # MIG after every epoch for every member, against images seen; the last is the final one.
    curves = summary["mig_along_training"]
    assert sorted(curves) == ["VAE (beta 1)", "beta-TCVAE (beta 6)"]
    for name, first in (("VAE (beta 1)", 0), ("beta-TCVAE (beta 6)", 2)):
        for i, line in enumerate(curves[name]):
            assert line["epoch"] == [256, 512]
            assert line["eval/mig"][-1] == records[first + i]["eval/mig"]
    assert (out / "mig_along_training.png").stat().st_size > 10_000
    # The information matrices: the best member's and the beta = 1 VAE's of its seed. MIG
    # read off the figure's matrix (per factor the gap of its two largest entries) is the
    # MIG the evaluator logged for that member: the figure shows the codes that were scored.
    matrices = summary["info_matrices"]
    best = max(records, key=lambda r: r["eval/mig"])
    assert len(matrices) == 2
    for title, matrix in matrices.items():
        matrix = np.array(matrix)
        assert matrix.shape == (10, 5) and (matrix >= 0).all() and (matrix <= 1 + 1e-9).all()
        top = np.sort(matrix, axis=0)[::-1]
        logged = float(re.search(r"MIG ([0-9.]+)", title).group(1))
        assert np.mean(top[0] - top[1]) == pytest.approx(logged, abs=5e-4)
        assert f"seed {best['seed']}" in title
    assert f"MIG {best['eval/mig']:.3f}" in next(iter(matrices))
    assert "VAE (beta 1)" in list(matrices)[1]
    report = (out / "REPORT.md").read_text()
    assert "beta-TCVAE (beta 6)" in report and "info_matrices.png" in report


@pytest.mark.real_data
def test_denoising_reports_psnr_per_noise_level(tmp_path, data_dir):
    out = script("denoising", tmp_path, *TINY, "--config.sweep.noise_level=(0.1, 0.4)",
                 "--examples=4", data_dir=data_dir)
    summary = json.loads((out / "results.json").read_text())["summary"]
    assert [row["noise_level"] for row in summary] == [0.1, 0.4]
    noisy = [row["eval/psnr_noisy"][0] for row in summary]
    assert noisy[0] > noisy[1]  # more salt and pepper, lower PSNR
    assert (out / "denoising.png").exists()


@pytest.mark.real_data
def test_likelihood_reproduction_runs_a_budget_and_reports_the_table(tmp_path, data_dir):
    out = script("likelihood_mnist", tmp_path, "--budget=1", "--latent2_epochs=1",
                 "--config.num_train=400", "--config.num_test=40",
                 "--config.sweep.iwae_samples=(1, 5)", "--config.nll_samples=20",
                 "--two_layer_k=", "--ladder_k=1", data_dir=data_dir)
    # The two-layer rows are left out: the same loop makes the Ladder's (their model is run
    # in test_two_layer.py).
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [(row["model"], row["layers"], row["k"], row["paper"]) for row in rows] == [
        ("VAE", 1, 1, 86.76), ("IWAE", 1, 5, 85.54), ("Ladder VAE", 2, 1, "")]
    for row in rows:  # k = 20 importance samples: a tighter bound than the ELBO
        assert float(row["nll"]) < float(row["nelbo"]), row
    assert "| VAE | 1 | 1 | 86.76 |" in (out / "REPORT.md").read_text()
    assert "| Ladder VAE | 2 | 1 |" in (out / "REPORT.md").read_text()
    assert (out / "latent2/figures/manifold.png").exists()
