"""Disentanglement against beta on sprites: one population of betas x seeds, every metric.

Command:  python experiments/disentanglement.py --workdir=/tmp/disentanglement
          [--config.sweep.beta="(1., 4.)"] [--config.sweep.seed="(0, 1)"]
Hardware: 2-core CPU, no GPU. Runtime, numbers: configs/disentanglement.py, docs/results.md.

Trains the sweep of configs/disentanglement.py with run.train_and_evaluate (all members in one
jitted program), then writes DIR/results.json, DIR/metrics_vs_beta.png (mean ± sample std over
seeds of MIG, SAP, DCI, FactorVAE and BetaVAE scores, active units, KL) and DIR/REPORT.md with the
table and the latent traversals of the members with the highest and the lowest MIG.
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
from vae_jax.report import plots, tables  # noqa: E402

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


def member_traversals(workdir: str, record: dict) -> str:
    tag = f"{record['population']}/member_{record['member']}"
    return os.path.join(workdir, "figures", tag, "traversals.png")


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
    ranked = sorted(records, key=lambda r: r[RANKED_BY])
    best, worst = ranked[-1], ranked[0]

    def describe(record):
        swept = {k: v for k, v in record["hparams"].items() if k in ("beta", "seed")}
        return ", ".join(f"{k}={v:g}" for k, v in swept.items()) + \
            f" (MIG {record[RANKED_BY]:.3f})"

    lines = ["# Disentanglement against beta on sprites", "",
             f"{config.num_epochs} epochs on {config.num_train} sprites, MLP "
             f"{tuple(config.hidden)}, {config.latents} latents; {len(records)} members in one "
             f"population; metrics on {config.num_test} test sprites (FactorVAE / BetaVAE on "
             f"{config.disentanglement_votes} freshly rendered votes). Wall time "
             f"{seconds / 60:.1f} min.", "",
             tables.markdown_table(rows, ["beta", "seeds"] + present,
                                   ["beta", "seeds"] + [headers[k] for k in present]), "",
             f"![metrics against beta]({os.path.basename(plot_path)})", "",
             f"## Traversals: highest MIG, {describe(best)} / lowest, {describe(worst)}", "",
             tables.image_row([member_traversals(workdir, best),
                               member_traversals(workdir, worst)], workdir, width=400), ""]
    with open(os.path.join(workdir, "REPORT.md"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump({"members": records, "summary": rows, "seconds": seconds}, f, indent=2)
    print("\n".join(lines[:5]))


if __name__ == "__main__":
    run_command(main)
