"""Denoising autoencoders on Fashion-MNIST with salt-and-pepper noise, one per noise level.

Command:  python experiments/denoising.py --workdir=/tmp/denoising
          [--config.sweep.noise_level="(0.1, 0.3, 0.5)"] [--config.corruption=gaussian]
Hardware: 2-core CPU, no GPU. Runtime and numbers: in configs/denoising_ae.py and docs/results.md.

The noise levels are one population (noise_level is an Hparams array: one compiled program),
each member trained on its own level and scored on test images corrupted at that level with
one fixed key. Writes DIR/REPORT.md (PSNR of the noisy and the denoised test images per noise
level), DIR/denoising.png (clean / noisy / denoised rows per level) and DIR/results.json.
"""

import json
import os
import sys
import time

import jax
import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import vae_jax  # noqa: E402
from vae_jax import data, run, streams
from vae_jax.cli import define_config_file, run_command  # noqa: E402
from vae_jax.data import corruption
from vae_jax.metrics import per_example
from vae_jax.report import plots, tables  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Output directory (resumes if it exists).")
flags.DEFINE_integer("examples", 8, "Test images shown per noise level in the figure.")
define_config_file(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "configs", "denoising_ae.py"))
flags.mark_flag_as_required("workdir")

METRICS = {"eval/psnr_noisy": "PSNR noisy (dB)", "eval/psnr_denoised": "PSNR denoised (dB)",
           "eval/recon": "recon NLL (clean)"}


def denoised_rows(workdir: str, config, dataset: data.Dataset, count: int) -> np.ndarray:
    """[members * 3, count, H, W, C]: clean, noisy and denoised test images of every member."""
    rows = []
    clean = data.to_float(jax.device_put(dataset.test_images[:count]), None)
    finished = vae_jax.load_run(workdir)
    for name, population in finished.populations.items():
        for i in range(population.size):
            member = finished.member(i, population=name)
            noisy = corruption.corrupt(streams.denoising_key(config.data_seed), clean,
                                       config.corruption, member.config.noise_level)
            denoised = per_example.denoise(member.model, member.params, noisy,
                                           member.mean_image)
            rows += [np.asarray(clean), np.asarray(noisy), np.asarray(denoised)]
    return np.stack(rows)


def main(argv):
    del argv
    config, workdir = FLAGS.config, FLAGS.workdir
    if config.corruption == "none":
        raise app.UsageError("set --config.corruption (salt_pepper | gaussian | mask)")
    with config.unlocked():
        if config.sweep.noise_level is None:
            config.sweep.noise_level = (0.1, 0.2, 0.3, 0.4, 0.5)
        config.figures = False
    start = time.time()
    run.train_and_evaluate(config, workdir)
    seconds = time.time() - start
    records = tables.final_records(workdir)
    rows = tables.summarize(records, ["noise_level"], list(METRICS))
    rows.sort(key=lambda row: row["noise_level"])
    dataset = data.load(config)
    images = denoised_rows(workdir, config, dataset, FLAGS.examples)
    levels = [r["hparams"]["noise_level"] for r in sorted(records, key=lambda r: r["member"])]
    labels = [f"{kind} {level:g}" for level in levels for kind in ("clean", "noisy", "denoised")]
    figure = plots.image_grid(images.reshape(-1, *images.shape[2:]),
                              os.path.join(workdir, "denoising.png"), FLAGS.examples,
                              f"{config.dataset}, {config.corruption} noise", row_labels=labels)
    lines = [f"# Denoising autoencoders: {config.dataset}, {config.corruption} noise", "",
             f"MLP AE {tuple(config.hidden)} -> {config.latents}, {config.num_epochs} epochs; "
             f"one member per noise level, {len(records)} in one population. PSNR (peak 1) per "
             f"test image, averaged over {len(dataset.test_images)} test images corrupted with "
             f"one fixed key. Wall time {seconds / 60:.1f} min.", "",
             tables.markdown_table(rows, ["noise_level"] + list(METRICS),
                                   ["noise level"] + list(METRICS.values())), "",
             f"![clean / noisy / denoised]({os.path.basename(figure)})", ""]
    with open(os.path.join(workdir, "REPORT.md"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump({"members": records, "summary": rows, "seconds": seconds}, f, indent=2)
    print("\n".join(lines))


if __name__ == "__main__":
    run_command(main)
