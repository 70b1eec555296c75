"""The arrays a run's figures show, computed from a trained member, handed to `plots`."""

from __future__ import annotations

import os

import jax
import numpy as np
from scipy.stats import norm

from vae_jax import data
from vae_jax.metrics import per_example
from vae_jax.objectives import priors
from vae_jax.report import plots


def decode(model, params, z: np.ndarray, to_image) -> np.ndarray:
    """Images in [0, 1] for latent points z [N, latents]: `to_image` of the decoder's outputs
    (the likelihood's mean image, objectives.make_mean_image)."""
    logits = jax.jit(lambda z: model.apply({"params": params}, z, method="decode"))(z)
    return np.asarray(to_image(logits))


def project_2d(codes: np.ndarray) -> tuple[np.ndarray, tuple[str, str]]:
    """The codes themselves when 2-D, else their first two principal components."""
    if codes.shape[1] == 2:
        return codes, ("z[0]", "z[1]")
    centred = codes - codes.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T, ("PC 1", "PC 2")


def manifold_points(grid_size: int) -> np.ndarray:
    """A grid_size^2 lattice of 2-D latents through the Gaussian inverse CDF (Kingma & Welling)."""
    quantiles = norm.ppf(np.linspace(0.05, 0.95, grid_size))
    zy, zx = np.meshgrid(quantiles[::-1], quantiles, indexing="ij")
    return np.stack([zx.ravel(), zy.ravel()], axis=1).astype(np.float32)


def traversal_points(anchor: np.ndarray, steps: int = 9, span: float = 2.5,
                     max_latents: int = 10) -> np.ndarray:
    """[latents, steps, latents]: row l moves latent l over [-span, span], the rest at `anchor`."""
    latents = min(len(anchor), max_latents)
    values = np.linspace(-span, span, steps, dtype=np.float32)
    points = np.tile(anchor, (latents, steps, 1)).astype(np.float32)
    for i in range(latents):
        points[i, :, i] = values
    return points


def interpolation_points(start: np.ndarray, end: np.ndarray, steps: int = 10) -> np.ndarray:
    """[pairs, steps, latents]: straight lines from each start code to its end code."""
    weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
    return (1 - weights) * start[:, None, :] + weights * end[:, None, :]


def prior_latents(model, params, sample_key: jax.Array, num: int):
    """[num, latents] draws of the model's prior for the samples figure: N(0, I), a learned
    prior's own sampler (`sample_prior`: VampPrior, two stochastic layers), or None for a
    model without a prior to sample (VQ-VAE: its codes need a separately trained prior)."""
    z = priors.of(model).sample(params, sample_key, num)
    return None if z is None else np.asarray(z)


def write_member_figures(model, params, dataset: data.Dataset, sample_key: jax.Array,
                         directory: str, title: str, num_latents: int,
                         to_image) -> list[str]:
    """Reconstructions, prior samples (none for a model without a prior: VQ-VAE), latent map,
    traversals, interpolations between test images (+ the manifold grid when 2-D) as PNGs."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    test = dataset.test_images[:2000]
    originals = test[:12].astype(np.float32) / 255
    codes = per_example.encode_images(model, params, test)
    paths.append(plots.reconstructions(originals, decode(model, params, codes[:12], to_image),
                                       os.path.join(directory, "reconstructions.png"),
                                       f"{title}: originals / reconstructions"))
    prior = prior_latents(model, params, sample_key, 40)
    if prior is not None:  # no samples figure without a prior (VQ-VAE)
        paths.append(plots.image_grid(decode(model, params, prior, to_image),
                                      os.path.join(directory, "samples.png"), 10,
                                      f"{title}: samples from the prior"))
    num_latents = codes.shape[1]  # what the decoder reads (a VQ-VAE's codes: latents x dim)
    points, names = project_2d(codes)
    labels = None if dataset.test_labels is None else dataset.test_labels[: len(points)]
    paths.append(plots.latent_scatter(points, labels, os.path.join(directory, "latents.png"),
                                      f"{title}: test latents", names))
    anchor = np.zeros(num_latents, np.float32)
    traversal = decode(model, params, traversal_points(anchor).reshape(-1, num_latents),
                       to_image)
    steps = 9
    paths.append(plots.traversals(
        traversal.reshape(-1, steps, *traversal.shape[1:]),
        os.path.join(directory, "traversals.png"), f"{title}: traversals around z = 0"))
    # Interpolations between the codes of test images 0..5 and 6..11, endpoints included.
    lines = interpolation_points(codes[:6], codes[6:12], steps)
    paths.append(plots.traversals(
        decode(model, params, lines.reshape(-1, num_latents), to_image).reshape(
            6, steps, *test.shape[1:]),
        os.path.join(directory, "interpolations.png"),
        f"{title}: interpolations between test images", row_prefix="pair "))
    if num_latents == 2:
        grid = 15
        paths.append(plots.manifold(decode(model, params, manifold_points(grid), to_image), grid,
                                    os.path.join(directory, "manifold.png"),
                                    f"{title}: 2-D latent manifold"))
    return paths


def write_curves(records: list[dict], path: str, title: str) -> str:
    """Train loss and eval negative ELBO (or reconstruction) against epoch."""
    series = {}
    for name in ("train/loss", "train/nelbo", "eval/nelbo", "eval/recon", "eval/nll"):
        rows = [(r["epoch"], r[name]) for r in records if name in r]
        if rows:
            epochs, values = zip(*rows, strict=True)
            series[name] = (np.array(epochs), np.array(values))
    return plots.curves(series, path, "epoch", "nats per example", title)
