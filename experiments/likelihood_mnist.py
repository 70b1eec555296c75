"""Reproduces Burda, Grosse & Salakhutdinov (2015), Table 1 (one and two stochastic layers,
MNIST), with the Ladder VAE (Sønderby et al. 2016) of the same sizes beside it.

Command:  python experiments/likelihood_mnist.py --workdir=/tmp/likelihood [--budget=40]
          [--config.sweep.iwae_samples="(1, 50)"] [--two_layer_k=1,50] [--ladder_k=1,50]
Hardware: docs/results.md's table was run on one H100 (about 0.6 s per epoch per model); on the
          2-core CPU an epoch takes 6.4 s at k = 5 (configs/iwae.py) and 37 s at k = 50.

The paper's setup is configs/iwae.py: MLP 784-200-200 (tanh) -> 50 latents, mirrored decoder,
dynamically binarised MNIST, batch 20, Adam (eps 1e-4), decoder output bias at the logit of the
mean training pixel, 8 stages of 3^i epochs at 1e-3 * 10^(-i/7) (3,280 epochs). The VAE is the
k = 1 case of the IWAE objective; k = 1, 5, 50 are three populations (k changes the program's
shapes), trained one after the other in one workdir, checkpointed every epoch and resumed by
running the same command again — so the full schedule can run in pieces.

`--budget=N` compresses the schedule to N epochs (same stages and rates, train.burda_stage_epochs)
for a run that fits a CPU; 0 runs the paper's 3,280 epochs. At the end each model's test NLL is
estimated with k = 5000 importance samples over the 10,000 test images, with its active units
(Burda et al.'s Table 2). A VAE with 2 latents (configs/vae.py) is also trained for the 2-D
latent map, manifold grid and interpolations. Writes DIR/REPORT.md and DIR/results.json.

`--two_layer_k` (default 1,50; empty = none) adds the paper's second model, two stochastic
layers 784-100-100-z1(100)-50-50-z2(50) (configs/two_layer_vae.py), trained with the same
schedule and overrides for each k and evaluated over (z1, z2) with the same importance sampler.
`--ladder_k` (default 1,50; empty = none) adds the Ladder VAE in those sizes
(configs/ladder_vae.py: top-down inference, the precision-weighted q(z1|z2,x)), trained and
evaluated the same way; its rows ("Ladder VAE", "Ladder IWAE") have no paper number (Sønderby
et al.'s are for five layers with batch normalisation and warm-up).
"""

import json
import os
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import vae as vae_config  # noqa: E402
from vae_jax import run
from vae_jax.cli import define_config_file, run_command  # noqa: E402
from vae_jax.report import tables  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Output directory (resumes if it exists).")
flags.DEFINE_integer("budget", 0, "Epochs the schedule is compressed to (0 = the paper's 3,280).")
flags.DEFINE_integer("latent2_epochs", 10, "Epochs of the 2-latent VAE for the figures (0 = none).")
flags.DEFINE_list("two_layer_k", ["1", "50"], "IWAE k of the two-stochastic-layer models "
                  "(empty = none).")
flags.DEFINE_list("ladder_k", ["1", "50"], "IWAE k of the Ladder VAEs, two stochastic layers "
                  "of the same sizes with top-down inference (empty = none).")
define_config_file(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "configs", "iwae.py"))
flags.mark_flag_as_required("workdir")

FULL_SCHEDULE = 3280
# Table 1 of Burda et al. (2015), MNIST, test NLL (k = 5000) in nats, by (stochastic layers, k).
PAPER_NLL = {(1, 1): 86.76, (1, 5): 85.54, (1, 50): 84.78, (2, 1): 85.33, (2, 50): 82.90}


def likelihood_config(config, budget: int):
    config.num_epochs = budget or FULL_SCHEDULE
    config.eval_every = max(1, config.num_epochs // 10)
    config.checkpoint_every = 1
    config.evals = ("elbo", "active_units")
    config.final_evals = ("nll",)
    config.nll_samples = 5000
    config.figures = False
    if config.sweep.iwae_samples is None:
        config.sweep.iwae_samples = (1, 5, 50)
    return config


def two_layer_config(config, ks, model: str = "two_layer_vae"):
    """`config` (the one-layer run, with its overrides) turned into the two-stochastic-layer
    `model` (two_layer_vae or ladder_vae), one population per k."""
    config = config.copy_and_resolve_references()
    config.model, config.hidden, config.latents = model, (100, 100), 100
    config.top_hidden, config.top_latents = (50, 50), 50
    config.sweep.iwae_samples = tuple(ks)
    return config


def _records(workdir: str, layers: int, ladder: bool = False) -> list[dict]:
    return [dict(r, layers=layers, ladder=ladder) for r in sorted(
        tables.final_records(workdir), key=lambda r: int(r["population"].split("-")[-1]))]


def latent2_config(epochs: int, data_dir: str, keep_checkpoints: int):
    config = vae_config.get_config()
    config.latents, config.num_epochs, config.data_dir = 2, epochs, data_dir
    config.keep_checkpoints = keep_checkpoints  # as the main models (configs/iwae.py: 1)
    return config


def main(argv):
    del argv
    config, workdir = FLAGS.config, FLAGS.workdir
    if config.objective != "iwae":
        raise app.UsageError("the reproduction trains --config.objective=iwae (k = 1 is the VAE)")
    with config.unlocked():
        config = likelihood_config(config, FLAGS.budget)
    start = time.time()
    run.train_and_evaluate(config, os.path.join(workdir, "models"))
    records = _records(os.path.join(workdir, "models"), 1)
    for name, model, ks in (("two_layer", "two_layer_vae", FLAGS.two_layer_k),
                            ("ladder", "ladder_vae", FLAGS.ladder_k)):
        if ks:
            run.train_and_evaluate(two_layer_config(config, [int(k) for k in ks], model),
                                   os.path.join(workdir, name))
            records += _records(os.path.join(workdir, name), 2, ladder=model == "ladder_vae")
    seconds = time.time() - start
    figures_dir = None
    if FLAGS.latent2_epochs:
        figures_dir = os.path.join(workdir, "latent2")
        run.train_and_evaluate(latent2_config(FLAGS.latent2_epochs, config.data_dir,
                                              config.keep_checkpoints), figures_dir)

    rows = []
    for record in records:
        k, layers = int(record["population"].split("-")[-1]), record["layers"]
        paper = "" if record["ladder"] else PAPER_NLL.get((layers, k), "")
        rows.append(dict(
            model=("Ladder " if record["ladder"] else "") + ("VAE" if k == 1 else "IWAE"),
            layers=layers, k=k, paper=paper,
            nll=f"{record['eval/nll']:.2f}",
            gap=f"{record['eval/nll'] - paper:+.2f}" if paper else "",
            nelbo=f"{record['eval/nelbo']:.2f}", active=int(record["eval/active_units"]),
            epochs=record["epoch"]))
    schedule = (f"the paper's full schedule ({FULL_SCHEDULE} epochs)" if not FLAGS.budget else
                f"the schedule compressed to {FLAGS.budget} epochs (same 8 stages and rates, "
                "train.burda_stage_epochs)")
    lines = ["# Burda et al. (2015), Table 1: MNIST", "",
             "One stochastic layer: MLP 784-200-200 (tanh) -> 50 latents; two: 784-100-100 -> "
             "100 latents -> 50-50 -> 50 latents (tanh), inferred bottom-up (Burda et al.) or "
             "top-down (Ladder, Sønderby et al. 2016: no paper number, theirs are for five "
             f"layers with batch norm and warm-up). Batch 20, Adam eps 1e-4, {schedule}. "
             f"Test NLL estimated with k = {config.nll_samples} importance samples over the "
             f"{10_000 if not config.num_test else config.num_test} test images. Training wall "
             f"time {seconds / 60:.1f} min.", "",
             tables.markdown_table(rows, ["model", "layers", "k", "paper", "nll", "gap", "nelbo",
                                          "active", "epochs"],
                                   ["model", "stochastic layers", "k (train)", "paper NLL",
                                    "our NLL", "ours - paper", "test -ELBO",
                                    "active units (z1)", "epochs"]), ""]
    if figures_dir:
        fig = os.path.join(figures_dir, "figures")
        lines += ["## A VAE with 2 latents (configs/vae.py, latents = 2)", "",
                  tables.image_row([os.path.join(fig, n) for n in
                                    ("latents.png", "manifold.png", "interpolations.png")],
                                   workdir, width=300), ""]
    with open(os.path.join(workdir, "REPORT.md"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump({"rows": rows, "members": records, "seconds": seconds,
                   "budget_epochs": FLAGS.budget or FULL_SCHEDULE}, f, indent=2)
    print("\n".join(lines))


if __name__ == "__main__":
    run_command(main)
