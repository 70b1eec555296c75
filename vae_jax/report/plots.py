"""Matplotlib figures written as PNG files. Plotting only: the arrays come computed."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only: no display on training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path: str) -> str:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _tile(images: np.ndarray, rows: int, cols: int, pad: int = 1,
          fill: float = 1.0) -> np.ndarray:
    """[rows*cols, H, W, C] in [0, 1] -> one [rows*(H+pad), cols*(W+pad)] mosaic (grey if C=1),
    the gaps and empty cells at `fill`."""
    images = np.asarray(images, np.float32)
    num, height, width, channels = images.shape
    canvas = np.full((rows * (height + pad) - pad, cols * (width + pad) - pad, channels), fill)
    for i in range(min(num, rows * cols)):
        r, c = divmod(i, cols)
        canvas[r * (height + pad): r * (height + pad) + height,
               c * (width + pad): c * (width + pad) + width] = images[i]
    return canvas[..., 0] if channels == 1 else canvas


def image_grid(images: np.ndarray, path: str, cols: int, title: str = "",
               row_labels: Sequence[str] = ()) -> str:
    rows = -(-len(images) // cols)
    fig, ax = plt.subplots(figsize=(cols * 0.6 + 1, rows * 0.6 + 0.6))
    ax.imshow(_tile(images, rows, cols), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    if row_labels:
        height = images.shape[1] + 1
        ax.set_yticks([height * (i + 0.5) for i in range(len(row_labels))], row_labels)
    else:
        ax.set_yticks([])
    ax.set_title(title)
    return _save(fig, path)


def reconstructions(originals: np.ndarray, recons: np.ndarray, path: str, title: str = "") -> str:
    """Originals on the first row, their reconstructions below."""
    cols = len(originals)
    return image_grid(np.concatenate([originals, recons]), path, cols,
                      title or "originals (top) / reconstructions (bottom)",
                      row_labels=("input", "recon"))


def latent_scatter(points: np.ndarray, labels: np.ndarray | None, path: str, title: str,
                   axis_names: tuple[str, str] = ("z[0]", "z[1]")) -> str:
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    colours = labels if labels is not None else "tab:blue"
    scatter = ax.scatter(points[:, 0], points[:, 1], c=colours, s=3, cmap="tab10", alpha=0.7)
    if labels is not None:
        fig.colorbar(scatter, ax=ax, label="label")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.set_title(title)
    return _save(fig, path)


def manifold(images: np.ndarray, grid_size: int, path: str, title: str = "") -> str:
    """Decoded images of a grid_size x grid_size lattice of latent points (row-major)."""
    return image_grid(images, path, grid_size, title or "2-D latent manifold")


def traversals(images: np.ndarray, path: str, title: str = "", row_prefix: str = "z") -> str:
    """images [rows, steps, H, W, C]: row l varies latent l, the others held fixed (or, with
    another `row_prefix`, any sequence of decoded points per row, such as interpolations)."""
    latents, steps = images.shape[:2]
    return image_grid(images.reshape(latents * steps, *images.shape[2:]), path, steps,
                      title or "latent traversals",
                      row_labels=[f"{row_prefix}{i}" for i in range(latents)])


def curves(series: dict[str, tuple[np.ndarray, np.ndarray]], path: str, xlabel: str,
           ylabel: str, title: str = "") -> str:
    """Named (x, y) series on one axis (the loss curves)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (x, y) in series.items():
        ax.plot(x, y, marker="o", markersize=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def errorbars(x: np.ndarray, series: dict[str, tuple[np.ndarray, np.ndarray]], path: str,
              xlabel: str, title: str = "", logx: bool = False) -> str:
    """One panel per named series of (mean, std) over x (a metric against beta, say)."""
    fig, axes = plt.subplots(1, len(series), figsize=(3.2 * len(series), 3), squeeze=False)
    for ax, (name, (mean, std)) in zip(axes[0], series.items(), strict=True):
        ax.errorbar(x, mean, yerr=std, marker="o", capsize=3)
        ax.set_xlabel(xlabel)
        ax.set_title(name)
        if logx:
            ax.set_xscale("log", base=2)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return _save(fig, path)


def bands(panels: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]], path: str,
          xlabel: str, title: str = "") -> str:
    """One panel per metric; in each, one line per label (a beta, say) of (x, mean, std): the
    mean over seeds at each x, with a band of ± std (metrics along training, say)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), squeeze=False)
    for ax, (name, lines) in zip(axes[0], panels.items(), strict=True):
        for label, (x, mean, std) in lines.items():
            (line,) = ax.plot(x, mean, marker="o", markersize=3, label=label)
            ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2)
        ax.set_xlabel(xlabel)
        ax.set_title(name)
        ax.grid(alpha=0.3)
    axes[0, -1].legend(fontsize=7, loc="best")
    fig.suptitle(title, y=1.04)  # above the panels' own titles
    return _save(fig, path)


# --------------------------------------------------------------------- the main job's figures
def _panel(ax, images: np.ndarray, cols: int, title: str = "") -> None:
    """A mosaic on `ax`, large images averaged down to <= ~32 px: drawn near 1:1 at ~800 px,
    so no resampling by matplotlib thins the gaps between them unevenly."""
    images = np.asarray(images, np.float32)
    factor = max(1, images.shape[1] // 32)
    if factor > 1:
        num, height, width, channels = images.shape
        images = images[:, : height // factor * factor, : width // factor * factor].reshape(
            num, height // factor, factor, width // factor, factor, channels).mean(axis=(2, 4))
    rows = -(-len(images) // cols)
    ax.imshow(_tile(images, rows, cols, 2, fill=0.6), cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def comparison(rows: Sequence[dict], path: str, title: str = "") -> str:
    """A row per model, side by side: test images above their reconstructions, decoded prior
    draws (the same draws in every row), and traversals of the model's most used latents.

    Each row: label, originals [n, H, W, C], recons [n, ...], samples [m, ...], traversals
    [k, steps, H, W, C], traversed (the k latent indices).
    """
    first = rows[0]
    cols = (len(first["originals"]), len(first["samples"]) // 2, first["traversals"].shape[1])
    fig, axes = plt.subplots(len(rows), 3, figsize=(10, 1.25 * len(rows) + 0.6),
                             gridspec_kw=dict(width_ratios=cols, wspace=0.04, hspace=0.25),
                             squeeze=False)
    heads = ("test images / reconstructions", "samples from N(0, I)",
             "traversals (2nd-98th percentile of the codes)")
    for r, (row, ax_row) in enumerate(zip(rows, axes, strict=True)):
        _panel(ax_row[0], np.concatenate([row["originals"], row["recons"]]), cols[0],
               heads[0] if r == 0 else "")
        _panel(ax_row[1], row["samples"], cols[1], heads[1] if r == 0 else "")
        traversals = row["traversals"]
        _panel(ax_row[2], traversals.reshape(-1, *traversals.shape[2:]), cols[2],
               heads[2] if r == 0 else "")
        ax_row[0].set_ylabel(row["label"], fontsize=10)
        height = traversals.shape[2] // max(1, traversals.shape[2] // 32) + 2  # as _panel
        ax_row[2].yaxis.tick_right()
        ax_row[2].set_yticks([height * (i + 0.5) for i in range(len(row["traversed"]))],
                             [f"z{i}" for i in row["traversed"]], fontsize=7)
        ax_row[2].tick_params(length=0)
    if title:
        fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def rate_distortion(points: Sequence[dict], path: str, title: str = "") -> str:
    """Distortion (reconstruction NLL) against rate (KL), mean ± std over seeds per config.

    points: label, distortion (mean, std), rate (mean, std) or None (an AE: no KL; drawn at
    rate 0 with its own marker and labelled so).
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    curve = [p for p in points if p["rate"] is not None]
    ax.plot([p["rate"][0] for p in curve], [p["distortion"][0] for p in curve], color="0.7",
            zorder=1)
    for p in curve:
        ax.errorbar(p["rate"][0], p["distortion"][0], xerr=p["rate"][1],
                    yerr=p["distortion"][1], marker="o", capsize=3, color="tab:blue", zorder=2)
        ax.annotate(p["label"], (p["rate"][0], p["distortion"][0]), textcoords="offset points",
                    xytext=(6, 4), fontsize=8)
    for p in points:
        if p["rate"] is None:
            ax.errorbar(0.0, p["distortion"][0], yerr=p["distortion"][1], marker="s",
                        markersize=8, capsize=3, color="tab:red", zorder=2)
            ax.annotate(f"{p['label']} (KL n/a)", (0.0, p["distortion"][0]),
                        textcoords="offset points", xytext=(8, -4), fontsize=8)
    ax.set_xlim(left=-1)
    ax.set_xlabel("rate: KL(q(z|x) || p(z)), nats per image")
    ax.set_ylabel("distortion: recon NLL, nats per image")
    ax.set_title(title or "rate-distortion (mean ± std over seeds)", fontsize=10)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def member_curves(groups: dict[str, list[dict]], metrics: Sequence[tuple[str, str]], path: str,
                  title: str = "", xlabel: str = "epoch") -> str:
    """One panel per (metric key, heading); a colour per group (model config), a line per
    member (seed). groups: label -> [{'epoch': [E], metric key: [E]}, ...]; 'epoch' holds the
    x values (`xlabel` names them: images seen, say)."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    others = [label for label in groups if not label.startswith("AE")]
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, max(len(others), 1)))
    colour_of = dict(zip(others, colours, strict=False))  # an AE in black, VAEs along viridis
    for ax, (key, heading) in zip(axes[0], metrics, strict=True):
        for label, members in groups.items():
            for i, series in enumerate(members):
                if key in series:
                    ax.plot(series["epoch"], series[key], color=colour_of.get(label, "black"),
                            alpha=0.8,
                            linewidth=1.2, label=label if i == 0 else None)
        ax.set_xlabel(xlabel)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=6))
        ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter(sep=""))  # 200k, not 200000
        ax.set_title(heading, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def info_matrices(panels: dict[str, np.ndarray], factor_names: Sequence[str], path: str,
                  title: str = "") -> str:
    """One heat map per named [latents, factors] matrix (mutual information over the factor's
    entropy, in [0, 1]), the value printed in each cell: which factor each latent captured."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 4.2), squeeze=False)
    for ax, (name, matrix) in zip(axes[0], panels.items(), strict=True):
        image = ax.imshow(matrix, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        for (row, col), value in np.ndenumerate(matrix):
            ax.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=6,
                    color="white" if value < 0.5 else "black")
        ax.set_xticks(range(len(factor_names)), factor_names, rotation=45, ha="right")
        ax.set_yticks(range(matrix.shape[0]), [f"z{i}" for i in range(matrix.shape[0])])
        ax.set_title(name, fontsize=9)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="I(z_i; v_k) / H(v_k)")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)
