"""A study's figures (Locatello et al. 2019): per model and hyperparameter the distribution of
each metric over seeds (their Fig. 7), the rank correlation between metrics over all members
(their Fig. 2), and rate against distortion for every member."""

from __future__ import annotations

import os

import numpy as np
from scipy import stats

from vae_jax import hparams
from vae_jax.report import plots
from vae_jax.report.plots import plt

FIGURES = (
    ("study_distributions.png", "each metric over seeds (boxes: quartiles, whiskers 1.5 IQR, "
     "dots: members), per model (column) and hyperparameter value (x)"),
    ("study_rank_correlation.png", "Spearman rank correlation between the metrics over all "
     "finished members"),
    ("study_rate_distortion.png", "rate (KL) against distortion (recon NLL), every member"),
)


def _model_and_setting(study, record) -> tuple[str, str]:
    """(model: the fields that change the program, setting: the Hparams values but the seed)."""
    fields = [f for f in study.fields if f != "seed"]
    model = [f for f in fields if f not in hparams.SWEEPABLE]
    setting = [f for f in fields if f in hparams.SWEEPABLE]
    text = lambda names: ", ".join(f"{n}={record[n]}" for n in names)  # noqa: E731
    return text(model) or "model", text(setting) or "-"


def distributions(study, path: str) -> str | None:
    metrics = study.metrics
    if not study.records or not metrics:
        return None
    cells: dict[str, dict[str, list[dict]]] = {}
    for record in study.records:
        model, setting = _model_and_setting(study, record)
        cells.setdefault(model, {}).setdefault(setting, []).append(record)
    models = list(cells)
    fig, axes = plt.subplots(len(metrics), len(models), squeeze=False,
                             figsize=(max(3.2 * len(models), 4.5), 2.2 * len(metrics)))
    for col, model in enumerate(models):
        settings = list(cells[model])
        for row, metric in enumerate(metrics):
            ax = axes[row, col]
            values = [np.array([r[metric] for r in cells[model][s] if metric in r], float)
                      for s in settings]
            values = [v[np.isfinite(v)] for v in values]
            ax.boxplot(values, showfliers=False)
            for x, v in enumerate(values, start=1):
                ax.plot(np.full(len(v), x), v, ".", color="tab:blue", alpha=0.6)
            ax.set_xticks(range(1, len(settings) + 1),
                          settings if row == len(metrics) - 1 else [""] * len(settings),
                          rotation=45, ha="right", fontsize=7)
            ax.tick_params(axis="y", labelsize=7)
            if col == 0:
                ax.set_ylabel(metric.removeprefix("eval/"), fontsize=8)
            if row == 0:
                ax.set_title(model, fontsize=8)
    fig.tight_layout()
    return plots._save(fig, path)


def rank_correlation(study, path: str) -> str | None:
    metrics = study.metrics
    if len(study.records) < 3 or len(metrics) < 2:
        return None
    table = np.array([[r.get(m, np.nan) for m in metrics] for r in study.records], float)
    matrix = np.full((len(metrics), len(metrics)), np.nan)
    for i in range(len(metrics)):
        for j in range(len(metrics)):
            both = np.isfinite(table[:, i]) & np.isfinite(table[:, j])
            a, b = table[both, i], table[both, j]
            if both.sum() >= 3 and np.ptp(a) > 0 and np.ptp(b) > 0:
                matrix[i, j] = stats.spearmanr(a, b).statistic
    names = [m.removeprefix("eval/") for m in metrics]
    fig, ax = plt.subplots(figsize=(1 + 0.55 * len(metrics), 0.8 + 0.5 * len(metrics)))
    image = ax.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r")
    for i in range(len(metrics)):
        for j in range(len(metrics)):
            if np.isfinite(matrix[i, j]):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_title(f"Spearman rank correlation, {len(study.records)} members", fontsize=9)
    return plots._save(fig, path)


def rate_distortion(study, path: str) -> str | None:
    members = [r for r in study.records if "eval/kl" in r and "eval/recon" in r]
    if not members:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    by_setting: dict[str, list[dict]] = {}
    for record in members:
        model, setting = _model_and_setting(study, record)
        by_setting.setdefault(f"{model}; {setting}" if model != "model" else setting,
                              []).append(record)
    for label, records in by_setting.items():
        ax.plot([r["eval/kl"] for r in records], [r["eval/recon"] for r in records], "o",
                alpha=0.7, label=label)
    if len(by_setting) <= 20:
        ax.legend(fontsize=6, ncol=2)
    ax.set_xlabel("rate: KL(q(z|x) || p(z)), nats per image")
    ax.set_ylabel("distortion: recon NLL, nats per image")
    ax.set_title(f"rate-distortion, every member ({len(members)})", fontsize=10)
    ax.grid(alpha=0.3)
    return plots._save(fig, path)


def write_all(study, out_dir: str) -> list[tuple[str, str]]:
    """[(file name, caption)] of the figures written to `out_dir` (those the records allow)."""
    written = []
    for (name, caption), draw in zip(FIGURES, (distributions, rank_correlation,
                                               rate_distortion), strict=True):
        if draw(study, os.path.join(out_dir, name)):
            written.append((name, caption))
    return written
