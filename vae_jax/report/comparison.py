"""The arrays of the main job's comparison figures (plots.comparison, rate_distortion,
member_curves): what each model makes of the same test images and prior draws, its rate and
distortion over seeds, and every member's training curves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vae_jax.metrics import per_example
from vae_jax.report.member_figures import decode


def model_row(model, params, test_images: np.ndarray, prior_z: np.ndarray, label: str,
              mean_image, num_images: int = 6, steps: int = 7, traversed: int = 3) -> dict:
    """One row of plots.comparison for a trained member; `mean_image` turns its decoder's
    outputs into images (the likelihood's, objectives.make_mean_image).

    Traversals move each of the `traversed` latents whose codes (posterior means, or AE
    codes) spread most over `test_images` (the active-units statistic) from its 2nd to its
    98th percentile, the others held at their medians: a range every model's codes fill,
    whatever its scale (an AE's codes are not N(0, I)).
    """
    codes = per_example.encode_images(model, params, test_images)
    num_latents = codes.shape[1]
    order = np.argsort(-codes.var(axis=0), kind="stable")[:traversed]
    low, high = np.percentile(codes, [2, 98], axis=0)
    points = np.tile(np.median(codes, axis=0), (len(order), steps, 1)).astype(np.float32)
    for row, latent in enumerate(order):
        points[row, :, latent] = np.linspace(low[latent], high[latent], steps)
    images = decode(model, params, np.concatenate([codes[:num_images], prior_z,
                                                   points.reshape(-1, num_latents)]),
                    mean_image)
    recons, rest = images[:num_images], images[num_images:]
    return dict(label=label, originals=test_images[:num_images].astype(np.float32) / 255,
                recons=recons, samples=rest[:len(prior_z)],
                traversals=rest[len(prior_z):].reshape(len(order), steps, *images.shape[1:]),
                traversed=tuple(int(i) for i in order))


def rate_distortion_points(rows: Sequence[dict], label_of) -> list[dict]:
    """plots.rate_distortion's points from summary rows (tables.summarize: eval/recon and, for
    a VAE, eval/kl as (mean, std) over seeds); an AE's rate is None (it has no KL)."""
    return [dict(label=label_of(row), distortion=row["eval/recon"], rate=row.get("eval/kl"))
            for row in rows if "eval/recon" in row]


def member_series(records: Sequence[dict], keys: Sequence[str]) -> list[dict]:
    """Per member (population, member) of `records` (a metrics.jsonl): its hparams, its epochs
    and the values of `keys` it logged, in epoch order."""
    by_member: dict[tuple, list[dict]] = {}
    for record in records:
        by_member.setdefault((record["population"], record["member"]), []).append(record)
    series = []
    for member in by_member.values():
        member = sorted(member, key=lambda r: r["epoch"])
        entry = {"hparams": member[0]["hparams"], "epoch": np.array([r["epoch"] for r in member])}
        for key in keys:
            if all(key in r for r in member):
                entry[key] = np.array([r[key] for r in member])
        series.append(entry)
    return series
