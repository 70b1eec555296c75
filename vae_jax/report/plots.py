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


def _tile(images: np.ndarray, rows: int, cols: int, pad: int = 1) -> np.ndarray:
    """[rows*cols, H, W, C] in [0, 1] -> one [rows*(H+pad), cols*(W+pad)] mosaic (grey if C=1)."""
    images = np.asarray(images, np.float32)
    num, height, width, channels = images.shape
    canvas = np.ones((rows * (height + pad) - pad, cols * (width + pad) - pad, channels))
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
