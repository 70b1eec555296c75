"""The disentanglement study on sprites: MIG of VAE, beta-VAE and beta-TCVAE over seeds.

Command:  python experiments/disentanglement.py --workdir=/tmp/disentanglement
          [--config.num_epochs=2] [--config.sweep...] (configs/disentanglement.py)
Hardware: 2-core CPU, no GPU. Runtime and numbers: docs/results.md, "Disentanglement on sprites".

Trains configs/disentanglement.py's sweep with run.train_and_evaluate (one compiled program per
objective), MIG after every epoch, DCI, FactorVAE and SAP after the last. Writes, in DIR:
- REPORT.md and results.json (a record per member) by vae_jax.report's code, with the study
  figures (metrics over seeds, their rank correlation, rate-distortion);
- mig_along_training.png: MIG against images seen, a line per member, a colour per model;
- info_matrices.png: I(z_i; v_k) / H(v_k) of the member with the highest final MIG and of the
  beta = 1 VAE of the same seed: which factor each latent captured;
- summary.json: per model MIG mean / std over seeds, and the effect: each model's margin over
  the beta = 1 VAE against two pooled seed standard deviations.
"""

import json
import os
import sys
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import vae_jax  # noqa: E402
from vae_jax import run  # noqa: E402
from vae_jax.cli import define_config_file, run_command  # noqa: E402
from vae_jax.metrics import disentanglement  # noqa: E402
from vae_jax.report import logs, plots  # noqa: E402
from vae_jax.report import study as study_lib  # noqa: E402
from vae_jax.train import population  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Output directory (resumes if it exists).")
define_config_file(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "configs", "disentanglement.py"))
flags.mark_flag_as_required("workdir")

HEADERS = {"eval/mig": "MIG", "eval/sap": "SAP", "eval/dci_disentanglement": "DCI dis.",
           "eval/dci_completeness": "DCI compl.", "eval/dci_informativeness": "DCI info.",
           "eval/factor_vae": "FactorVAE", "eval/active_units": "active units",
           "eval/kl": "KL", "eval/recon": "recon NLL", "eval/nelbo": "-ELBO"}
OBJECTIVE_NAMES = {"elbo": "beta-VAE", "tcvae": "beta-TCVAE"}


def model_name(member) -> str:
    """'VAE (beta 1)', 'beta-VAE (beta 4)', 'beta-TCVAE (beta 6)': a member config's model."""
    objective = "elbo" if member.objective == "default" else member.objective
    if objective == "elbo" and member.beta == 1.0:
        return "VAE (beta 1)"
    return f"{OBJECTIVE_NAMES.get(objective, objective)} (beta {member.beta:g})"


def mig_curves(workdir: str, members: list) -> dict[str, list[dict]]:
    """{model: [{'epoch': images seen [E], 'eval/mig': [E], 'seed': s}, ...]}, a series per
    member, from every evaluation logged in metrics.jsonl."""
    series: dict[int, dict] = {}
    for record in logs.read_metrics(workdir):
        if "eval/mig" in record:
            line = series.setdefault(record["sweep_index"], {"epoch": [], "eval/mig": []})
            line["epoch"].append(record["epoch"] * members[record["sweep_index"]].num_train)
            line["eval/mig"].append(record["eval/mig"])
    groups: dict[str, list[dict]] = {}
    for index, line in sorted(series.items()):
        groups.setdefault(model_name(members[index]), []).append(
            dict(line, seed=members[index].seed))
    return groups


def effect(records: list[dict], members: list) -> dict[str, dict]:
    """Per model: final MIG mean and sample std over seeds and, for every model but the VAE,
    its margin over the beta = 1 VAE and two pooled standard deviations (the claim holds when
    the margin is larger)."""
    by_model: dict[str, list[float]] = {}
    for record in records:
        by_model.setdefault(model_name(members[record["sweep_index"]]), []).append(
            record["eval/mig"])
    out = {name: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1
                  else float("nan"), "seeds": len(v)} for name, v in by_model.items()}
    vae = out.get("VAE (beta 1)")
    for row in out.values():
        if vae is not None and row is not vae:
            row["margin_over_vae"] = row["mean"] - vae["mean"]
            row["two_pooled_std"] = 2.0 * float(np.sqrt((row["std"] ** 2 + vae["std"] ** 2) / 2))
            row["effect_shown"] = bool(row["margin_over_vae"] > row["two_pooled_std"])
    return out


def info_matrix_figure(workdir: str, members: list, records: list[dict]) -> tuple[str, dict]:
    """info_matrices.png of the highest-MIG member and the beta = 1 VAE of its seed."""
    best = max(records, key=lambda r: r["eval/mig"])
    reference = [r for r in records if model_name(members[r["sweep_index"]]) == "VAE (beta 1)"
                 and members[r["sweep_index"]].seed == members[best["sweep_index"]].seed]
    chosen = [best] + reference[:1]
    loaded = vae_jax.load_run(workdir)
    panels = {}
    for record in chosen:
        index = record["sweep_index"]
        local = loaded.populations[record["population"]].indices.index(index)
        codes = loaded.member(local, population=record["population"]).encode(
            loaded.dataset.test_images)
        matrix = disentanglement.normalized_info_matrix(codes, loaded.dataset.test_factors)
        title = (f"{model_name(members[index])}, seed {members[index].seed}: "
                 f"MIG {record['eval/mig']:.3f}")
        panels[title] = matrix
    path = plots.info_matrices(panels, loaded.dataset.factor_names,
                               os.path.join(workdir, "info_matrices.png"),
                               "mutual information of each latent with each factor")
    return path, {title: matrix.tolist() for title, matrix in panels.items()}


def main(argv):
    del argv
    config, workdir = FLAGS.config, FLAGS.workdir
    if config.model != "vae":
        raise app.UsageError("the disentanglement study needs --config.model=vae")
    start = time.time()
    run.train_and_evaluate(config, workdir)
    seconds = time.time() - start
    members = population.member_configs(config)
    study = study_lib.load([workdir])
    curves = mig_curves(workdir, members)
    curve_path = plots.member_curves(
        curves, [("eval/mig", "MIG (20-bin histogram, 10,000 test codes)")],
        os.path.join(workdir, "mig_along_training.png"),
        f"sprites, MLP {tuple(config.hidden)}, batch {config.batch_size}",
        xlabel="training images seen")
    matrix_path, matrices = info_matrix_figure(workdir, members, study.records)
    effects = effect(study.records, members)
    effect_lines = ["| model | seeds | MIG | margin over VAE | 2 pooled std | shown |",
                    "|---|---|---|---|---|---|"]
    for name, row in effects.items():
        effect_lines.append(
            f"| {name} | {row['seeds']} | {row['mean']:.3f} ± {row['std']:.3f} | "
            + (f"{row['margin_over_vae']:+.3f} | {row['two_pooled_std']:.3f} | "
               f"{'yes' if row['effect_shown'] else 'no'} |" if "margin_over_vae" in row
               else "- | - | - |"))
    intro = [f"{config.num_epochs} epochs of {config.num_train:,} sprites "
             f"({config.num_epochs * config.num_train:,} images per member), MLP "
             f"{tuple(config.hidden)}, {config.latents} latents, batch {config.batch_size}, "
             f"Adam {config.learning_rate:g}; {len(members)} members; metrics on "
             f"{config.num_test:,} test sprites (FactorVAE on {config.disentanglement_votes} "
             f"freshly rendered votes). Wall time {seconds / 60:.1f} min.", "",
             "## The effect: final MIG against the beta = 1 VAE", "", *effect_lines, "",
             f"![MIG along training]({os.path.basename(curve_path)})", "",
             f"![information matrices]({os.path.basename(matrix_path)})", "",
             "## Every metric", ""]
    study_lib.write(workdir, study, "Disentanglement on sprites", intro=intro, headers=HEADERS)
    with open(os.path.join(workdir, "summary.json"), "w") as f:
        json.dump({"effect": effects, "mig_along_training": curves, "info_matrices": matrices,
                   "seconds": seconds}, f, indent=2)
    print("\n".join(intro[:1] + effect_lines))


if __name__ == "__main__":
    run_command(main)
