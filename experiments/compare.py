"""AE vs VAE vs beta-VAE, over seeds, as populations: the README's main job.

Command:  python experiments/compare.py --workdir=/tmp/compare [--config.dataset=mnist]
Hardware: 2-core CPU, no GPU.
Runtime and numbers: in configs/compare.py and docs/results.md (measured, not assumed).

Trains an AE population (one member per seed) and a VAE population (betas x seeds) with
run.train_and_evaluate, then writes DIR/results.json (a record per member), DIR/summary.json
(rows per (model, beta)) and DIR/REPORT.md by vae_jax.report's code, which opens with three
figures (compare.png: a row per model of reconstructions, prior samples and traversals;
rate_distortion.png: KL against recon NLL per config over seeds; curves.png: every member's
training curves), then a table with a row per (model, beta) of mean ± sample std (ddof = 1)
over seeds, then each row's own figures side by side.
"""

import json
import os
import sys
import time

import jax
import numpy as np
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import vae_jax  # noqa: E402
from vae_jax import run, streams, validation  # noqa: E402
from vae_jax.cli import define_config_file, run_command  # noqa: E402
from vae_jax.metrics import evaluators  # noqa: E402
from vae_jax.report import comparison, logs, plots, tables  # noqa: E402
from vae_jax.report import study as study_lib  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Output directory (resumes if it exists).")
define_config_file(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "configs", "compare.py"))
flags.mark_flag_as_required("workdir")

METRICS = [("eval/recon", "recon NLL"), ("eval/nelbo", "-ELBO"), ("eval/kl", "KL"),
           ("eval/active_units", "active units"), ("eval/nll", "NLL (IS)"),
           ("eval/linear_probe", "linear probe"), ("eval/knn", "kNN"), ("eval/mig", "MIG"),
           ("eval/factor_vae", "FactorVAE"), ("eval/dci_disentanglement", "DCI dis."),
           ("eval/dci_completeness", "DCI compl."), ("eval/dci_informativeness", "DCI info.")]
FIGURES = ("reconstructions.png", "samples.png", "traversals.png", "latents.png")
OVERVIEW = (("compare.png", "a row per model: test images over their reconstructions, decoded "
             "prior draws (the same in every row), traversals of the three most used latents"),
            ("rate_distortion.png", "rate-distortion: KL against reconstruction NLL, mean ± std "
             "over seeds; the AE has no KL and sits at rate 0"),
            ("curves.png", "training curves of every member (a line per seed)"))


def population_configs(config):
    """The AE (seeds only: beta means nothing to it) and the VAE (betas x seeds) configs."""
    if config.dataset != "sprites":  # no factors: the disentanglement metrics do not apply
        config.evals = tuple(e for e in config.evals if e not in evaluators.ON_FACTORS)
        if "linear_probe" in config.evals and "knn" not in config.evals:
            config.evals = tuple(config.evals) + ("knn",)
    ae = config.copy_and_resolve_references()
    ae.model = "ae"
    ae.sweep.beta = None
    ae.evals = tuple(e for e in config.evals if e not in ("nll",))
    vae = config.copy_and_resolve_references()
    vae.model = "vae"
    return {"ae": ae, "vae": vae}


def member_figures(workdir: str, record: dict) -> list[str]:
    tag = f"{record['population']}/member_{record['member']}"
    return [os.path.join(workdir, "figures", tag, name) for name in FIGURES]


def label_of(model: str, beta) -> str:
    return "AE" if model == "ae" else f"VAE β={beta:g}"


def overview_figures(out_dir: str, rows_by_model: dict, firsts: dict, config) -> list[str]:
    """The three figures REPORT.md opens with (see OVERVIEW), written to out_dir."""
    rows, runs = [], {}
    # The latents Member.sample(12, seed=0) decodes (N(0, I)), shared by every model's row.
    prior_z = np.asarray(jax.random.normal(streams.api_sample_key(0), (12, config.latents)))
    for record, workdir in firsts.values():
        if workdir not in runs:
            runs[workdir] = vae_jax.load_run(workdir)
        finished = runs[workdir]
        member = finished.member(record["member"], record["population"])
        beta = record["hparams"]["beta"]
        rows.append(comparison.model_row(member.model, member.params,
                                         finished.dataset.test_images[:2000], prior_z,
                                         label_of(member.config.model, beta),
                                         member.mean_image))
    paths = [plots.comparison(rows, os.path.join(out_dir, OVERVIEW[0][0]),
                              f"AE vs VAE vs beta-VAE on {config.dataset} (seed "
                              f"{min(config.sweep.seed or (config.seed,))})")]
    summary = [row for model_rows in rows_by_model.values() for row in model_rows]
    paths.append(plots.rate_distortion(
        comparison.rate_distortion_points(summary, lambda r: label_of(r["model"], r["beta"])),
        os.path.join(out_dir, OVERVIEW[1][0])))
    groups = {}
    for model, workdir in ((m, os.path.join(out_dir, m)) for m in rows_by_model):
        series = comparison.member_series(logs.read_metrics(workdir), ("train/recon", "train/kl"))
        for entry in sorted(series, key=lambda e: e["hparams"]["beta"]):
            groups.setdefault(label_of(model, entry["hparams"]["beta"]), []).append(entry)
    paths.append(plots.member_curves(groups, (("train/recon", "train recon NLL (nats)"),
                                              ("train/kl", "train KL (nats)")),
                                     os.path.join(out_dir, OVERVIEW[2][0]),
                                     "training curves, every member"))
    return paths


def write_report(out_dir: str, firsts: dict, config, seconds: float):
    """REPORT.md and results.json (a record per member) by vae_jax.report's code, with this
    experiment's overview figures before the table and each row's figures after it."""
    before = []
    for name, caption in OVERVIEW:
        before += [f"![{caption}]({name})", "", f"*{caption}*", ""]
    intro = [f"{config.num_epochs} epochs on {config.num_train or 'all'} training images, "
             f"MLP {tuple(config.hidden)}, {config.latents} latents, batch {config.batch_size}; "
             f"seeds {tuple(config.sweep.seed or (config.seed,))}; test set of "
             f"{config.num_test or 'all'} images. Wall time {seconds / 60:.1f} min.", "",
             "Reconstruction and ELBO terms in nats per image (lower is better); MIG, "
             "FactorVAE and DCI in [0, 1] (higher is more disentangled).", ""]
    after = ["## Figures (seed 0 of each row): reconstructions, prior samples, traversals, "
             "latent map", ""]
    for name, (record, workdir) in firsts.items():
        after += [f"### {name}", "", tables.image_row(member_figures(workdir, record), out_dir),
                  ""]
    study = study_lib.load([os.path.join(out_dir, model) for model in ("ae", "vae")])
    study_lib.write(out_dir, study, f"AE vs VAE vs beta-VAE on {config.dataset}", intro=intro,
                    before=before, after=after, headers=dict(METRICS))


def main(argv):
    del argv
    config, out_dir = FLAGS.config, FLAGS.workdir
    configs = population_configs(config)
    for model_config in configs.values():  # both models, before either trains or writes
        validation.check(model_config, log_warnings=False)
    os.makedirs(out_dir, exist_ok=True)
    start = time.time()
    rows_by_model, firsts, results = {}, {}, {}
    for model, model_config in configs.items():
        workdir = os.path.join(out_dir, model)
        run.train_and_evaluate(model_config, workdir)
        records = tables.final_records(workdir)
        group_by = ["beta"] if model == "vae" else []
        rows = tables.summarize(records, group_by, [k for k, _ in METRICS], {"model": model})
        for row in rows:
            row.setdefault("beta", "-")
        rows_by_model[model] = rows
        results[model] = {"members": records, "summary": rows}
        for record in records:
            if record["hparams"]["seed"] == min(config.sweep.seed or (config.seed,)):
                name = model if model == "ae" else f"vae beta={record['hparams']['beta']:g}"
                firsts[name] = (record, workdir)
    firsts = dict(sorted(firsts.items(), key=lambda item: (item[0] != "ae",
                                                          item[1][0]["hparams"]["beta"])))
    overview_figures(out_dir, rows_by_model, firsts, config)
    seconds = time.time() - start
    write_report(out_dir, firsts, config, seconds)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(dict(results, seconds=seconds), f, indent=2)
    print(open(os.path.join(out_dir, "REPORT.md")).read().split("## Figures")[0])


if __name__ == "__main__":
    run_command(main)
