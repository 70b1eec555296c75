"""Anomaly detection with autoencoders: train on all classes but one, score the test images.

Command:  python experiments/anomaly.py --workdir=/tmp/anomaly [--datasets=mnist,fashion_mnist]
          [--held_out=0,1,...,9] [--config.num_epochs=5]
Hardware: 2-core CPU, no GPU. Runtime and numbers: in configs/anomaly.py and docs/results.md.

For each dataset and held-out class c, one run (configs/anomaly.py: an AE population and a VAE
population) is trained with `exclude_train_labels=(c,)`; the `anomaly` evaluator scores every
test image by its reconstruction error (AE, VAE) and its negative ELBO (VAE) and reports the
ROC-AUC of telling class c from the rest. Writes DIR/REPORT.md and DIR/results.json; each run
keeps its own workdir DIR/<dataset>/held_out_<c> and resumes if interrupted.
"""

import json
import os
import sys
import time

from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from vae_jax import run, validation
from vae_jax.cli import define_config_file, run_command  # noqa: E402
from vae_jax.report import tables  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Output directory (resumes if it exists).")
flags.DEFINE_list("datasets", ["mnist", "fashion_mnist"], "Labelled datasets to run.")
flags.DEFINE_list("held_out", [str(c) for c in range(10)], "Classes to hold out, one run each.")
define_config_file(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "configs", "anomaly.py"))
flags.mark_flag_as_required("workdir")

# (model, metric) -> column header
COLUMNS = {("ae", "eval/anomaly_auc_recon"): "AE recon",
           ("vae", "eval/anomaly_auc_recon"): "VAE recon",
           ("vae", "eval/anomaly_auc_nelbo"): "VAE -ELBO"}


def auc_rows(records: list[dict], held_out: int) -> dict:
    """{'held_out': c, header: (mean, sample std) over seeds} for one run's final records."""
    row = {"held_out": held_out}
    for (model, metric), header in COLUMNS.items():
        values = [r[metric] for r in records
                  if r["population"] == f"model-{model}" and metric in r]
        if values:
            row[header] = tables.mean_std(values)
    return row


def run_config(config, dataset: str, held_out: int):
    """The config of one run: `dataset` with class `held_out` left out of training."""
    one = config.copy_and_resolve_references()
    one.dataset, one.exclude_train_labels = dataset, (held_out,)
    return one


def main(argv):
    del argv
    config, out_dir = FLAGS.config, FLAGS.workdir
    for dataset in FLAGS.datasets:  # every run's fields, before the first trains or writes
        for held_out in map(int, FLAGS.held_out):
            validation.check(run_config(config, dataset, held_out), log_warnings=False)
    os.makedirs(out_dir, exist_ok=True)
    start = time.time()
    results, lines = {}, []
    for dataset in FLAGS.datasets:
        rows = []
        for held_out in map(int, FLAGS.held_out):
            workdir = os.path.join(out_dir, dataset, f"held_out_{held_out}")
            run.train_and_evaluate(run_config(config, dataset, held_out), workdir)
            rows.append(auc_rows(tables.final_records(workdir), held_out))
            print(rows[-1], flush=True)
        mean_row = {"held_out": "mean"}
        for header in COLUMNS.values():
            values = [row[header][0] for row in rows if header in row]
            if values:
                mean_row[header] = tables.mean_std(values)
        rows.append(mean_row)
        results[dataset] = rows
        headers = ["held-out class"] + list(COLUMNS.values())
        lines += [f"## {dataset}", "",
                  tables.markdown_table(rows, ["held_out"] + list(COLUMNS.values()), headers), ""]
    seconds = time.time() - start
    seeds = tuple(config.sweep.seed or (config.seed,))
    header = ["# Anomaly detection: ROC-AUC of the held-out class", "",
              f"{config.num_epochs} epochs on the other classes' training images, MLP "
              f"{tuple(config.hidden)}, {config.latents} latents; scores on the whole test set "
              f"(reconstruction NLL or negative ELBO, nats); {tables.spread_label(len(seeds))} "
              f"{seeds} (the 'mean' row: mean ± sample std over held-out classes). 0.5 is "
              f"chance. Wall time {seconds / 60:.1f} min.", ""]
    with open(os.path.join(out_dir, "REPORT.md"), "w") as f:
        f.write("\n".join(header + lines))
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(dict(results, seconds=seconds), f, indent=2)
    print("\n".join(header + lines))


if __name__ == "__main__":
    run_command(main)
