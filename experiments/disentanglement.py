"""Disentanglement against beta on sprites, at the end and along training: one population.

Command:  python experiments/disentanglement.py --workdir=/tmp/disentanglement
          [--config.sweep.beta="(1., 4.)"] [--config.sweep.seed="(0, 1)"]
Hardware: 2-core CPU, no GPU. Runtime and numbers of the full sweep: configs/disentanglement.py.

Trains the sweep of configs/disentanglement.py with run.train_and_evaluate (all members in one
jitted program). MIG, DCI and FactorVAE are evaluated every config.eval_every epochs
(config.evals), SAP and BetaVAE after the last (config.final_evals). Writes DIR/REPORT.md and
DIR/results.json (a record per member) with vae_jax.report's code (its table, missing members
and study_*.png figures), DIR/summary.json (rows per beta, the curves along training),
DIR/metrics_vs_beta.png (final scores: mean ± std over seeds of MIG, SAP, DCI, FactorVAE and
BetaVAE scores, active units, KL), DIR/metrics_along_training.png (MIG, DCI disentanglement and
FactorVAE against training steps, a line per beta, a band of ± std over seeds: when beta starts
to matter) and DIR/REPORT.md with the table, the figures and the latent traversals of the members
with the highest and the lowest MIG (added to REPORT.md).

CPU-budget run (2-core CPU shared with other jobs, load average ~25):
  python experiments/disentanglement.py --workdir=/tmp/dci_runs/along --config.num_train=5000 \
      --config.num_test=1000 --config.num_epochs=6 --config.eval_every=2 \
      --config.sweep.beta="(1., 4., 16.)" --config.sweep.seed="(0, 1)" \
      --config.disentanglement_votes=400
  46 min wall, 6 CPU-minutes (6 members; evaluations at steps 156, 312, 468). Nothing
  disentangles in 468 steps: MIG 0.007-0.014 and DCI disentanglement (hist_gradient_boosting)
  0.010-0.015 at every beta and step; FactorVAE puts beta 1 (0.30-0.32) below betas 4 and 16
  (0.33-0.40) from the first evaluation on, by about one seed's spread. Final KL 29.0 / 13.5 /
  5.7 nats, recon 75.5 / 102 / 173 nats for beta 1 / 4 / 16 (means over 2 seeds).

Accelerator run with Locatello et al. (2019)'s protocol (conv encoder/decoder, batch 64, Adam
1e-4, 300k steps = 192 epochs of 100,000 sprites, betas 1, 2, 4, 6, 8, 16, 5 seeds; MIG, DCI
and FactorVAE every 16 epochs = 25k steps; DCI on 10,000 / 5,000 test codes):
  python experiments/disentanglement.py --workdir=/tmp/disentanglement_300k \
      --config.architecture=conv --config.conv_channels="(32, 32, 64, 64)" \
      --config.latents=10 --config.batch_size=64 --config.learning_rate=1e-4 \
      --config.num_train=100000 --config.num_test=15000 --config.num_epochs=192 \
      --config.eval_every=16 --config.disentanglement_votes=10000 \
      --config.sweep.beta="(1., 2., 4., 6., 8., 16.)" --config.sweep.seed="(0, 1, 2, 3, 4)"
  Differences from the paper: no 256-unit dense layer between the convolutions and the code,
  sprites (the dSprites factors, rendered here) rather than dSprites' 737,280 images, and DCI
  from hist_gradient_boosting (the config's; add --config.dci_importance_model=gradient_boosting
  for disentanglement_lib's model: ~8 CPU-minutes per member and evaluation at 10,000 points).
"""

import json
import os
import sys
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from vae_jax import run
from vae_jax.cli import define_config_file, run_command  # noqa: E402
from vae_jax.report import logs, plots, tables  # noqa: E402
from vae_jax.report import study as study_lib  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Output directory (resumes if it exists).")
define_config_file(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "configs", "disentanglement.py"))
flags.mark_flag_as_required("workdir")

METRICS = {"eval/mig": "MIG", "eval/sap": "SAP", "eval/dci_disentanglement": "DCI dis.",
           "eval/dci_completeness": "DCI compl.", "eval/dci_informativeness": "DCI info.",
           "eval/factor_vae": "FactorVAE", "eval/beta_vae": "BetaVAE",
           "eval/active_units": "active units", "eval/kl": "KL", "eval/recon": "recon NLL"}
RANKED_BY = "eval/mig"
# Recorded at every evaluation along training (config.evals), plotted against steps per beta.
ALONG_TRAINING = {"eval/mig": "MIG", "eval/dci_disentanglement": "DCI dis.",
                  "eval/factor_vae": "FactorVAE"}


def member_traversals(workdir: str, record: dict) -> str:
    tag = f"{record['population']}/member_{record['member']}"
    return os.path.join(workdir, "figures", tag, "traversals.png")


def training_curves(records: list[dict]) -> dict[str, dict[str, tuple]]:
    """{metric title: {"beta b": (steps, mean, std over seeds)}} from every logged evaluation
    (records of metrics.jsonl) that holds a metric of ALONG_TRAINING."""
    values: dict[str, dict[float, dict[int, list[float]]]] = {}
    for record in records:
        for name, title in ALONG_TRAINING.items():
            if name in record:
                by_step = values.setdefault(title, {}).setdefault(record["hparams"]["beta"], {})
                by_step.setdefault(record["step"], []).append(record[name])
    return {title: {f"beta {beta:g}": _mean_std(by_step)
                    for beta, by_step in sorted(values[title].items())}
            for title in ALONG_TRAINING.values() if title in values}


def _mean_std(by_step: dict[int, list[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    steps = sorted(by_step)
    return (np.array(steps), np.array([np.mean(by_step[s]) for s in steps]),
            np.array([np.std(by_step[s]) for s in steps]))


def along_training_figure(workdir: str, config) -> tuple[str, dict]:
    """DIR/metrics_along_training.png (a panel per metric, a line per beta, bands over seeds),
    and the curves as JSON-ready lists."""
    curves = training_curves(logs.read_metrics(workdir))
    seeds = len(config.sweep.seed) if config.sweep.seed is not None else 1
    path = plots.bands(curves, os.path.join(workdir, "metrics_along_training.png"),
                       "training step", f"sprites, mean ± std over {seeds} seeds "
                       f"(DCI: {config.dci_importance_model})")
    as_lists = {title: {label: dict(zip(("step", "mean", "std"), map(np.ndarray.tolist, arrays),
                                        strict=True))
                        for label, arrays in lines.items()}
                for title, lines in curves.items()}
    return path, as_lists


def main(argv):
    del argv
    config, workdir = FLAGS.config, FLAGS.workdir
    if not config.model == "vae":
        raise app.UsageError("the beta sweep needs --config.model=vae")
    start = time.time()
    run.train_and_evaluate(config, workdir)
    seconds = time.time() - start
    records = tables.final_records(workdir)
    rows = tables.summarize(records, ["beta"], list(METRICS))
    rows.sort(key=lambda row: row["beta"])
    present = [k for k in METRICS if any(k in row for row in rows)]
    # DCI headers name their importance model (from the records).
    headers = dict(zip(present, tables.name_dci_model(present, [METRICS[k] for k in present],
                                                      records), strict=True))
    betas = np.array([row["beta"] for row in rows])
    plot_path = plots.errorbars(
        betas, {headers[k]: (np.array([row[k][0] for row in rows]),
                             np.array([row[k][1] for row in rows])) for k in present},
        os.path.join(workdir, "metrics_vs_beta.png"), "beta",
        f"sprites, {tables.spread_label(rows[0]['seeds'])}", logx=True)
    along_path, along = along_training_figure(workdir, config)
    ranked = sorted(records, key=lambda r: r[RANKED_BY])
    best, worst = ranked[-1], ranked[0]

    def describe(record):
        swept = {k: v for k, v in record["hparams"].items() if k in ("beta", "seed")}
        return ", ".join(f"{k}={v:g}" for k, v in swept.items()) + \
            f" (MIG {record[RANKED_BY]:.3f})"

    intro = [f"{config.num_epochs} epochs on {config.num_train} sprites, MLP "
             f"{tuple(config.hidden)}, {config.latents} latents; {len(records)} members in one "
             f"population; metrics on {config.num_test} test sprites (FactorVAE / BetaVAE on "
             f"{config.disentanglement_votes} freshly rendered votes). Wall time "
             f"{seconds / 60:.1f} min.", ""]
    after = [f"![metrics against beta]({os.path.basename(plot_path)})", "",
             f"Along training (evaluated every {config.eval_every} epochs; DCI importance "
             f"model: {config.dci_importance_model}):", "",
             f"![metrics along training]({os.path.basename(along_path)})", "",
             f"## Traversals: highest MIG, {describe(best)} / lowest, {describe(worst)}", "",
             tables.image_row([member_traversals(workdir, best),
                               member_traversals(workdir, worst)], workdir, width=400), ""]
    # REPORT.md and results.json (a record per member) by the code of python -m vae_jax.report.
    study_lib.write(workdir, study_lib.load([workdir]), "Disentanglement against beta on "
                    "sprites", intro=intro, after=after, headers=METRICS)
    with open(os.path.join(workdir, "summary.json"), "w") as f:
        json.dump({"summary": rows, "along_training": along, "seconds": seconds}, f, indent=2)
    lines = intro
    print("\n".join(lines[:5]))


if __name__ == "__main__":
    run_command(main)
