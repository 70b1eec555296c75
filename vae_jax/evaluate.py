"""Evaluators: pure functions of (params, images, key) returning per-example values.

The trainer only calls them (STYLE 9). Per-example functions are wrapped by `over_images`,
which walks a whole uint8 image set in fixed-size chunks inside one jitted `lax.map`
(the last chunk is padded and the padding dropped), so memory is bounded by the chunk.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from vae_jax import data, objectives

PerExample = Callable[[dict, jax.Array, jax.Array], dict[str, jax.Array]]


def make_elbo_terms(model, log_likelihood, model_kind: str) -> PerExample:
    """(params, x [B,H,W,C] floats, key) -> per-example `recon`, and for a VAE `kl`, `nelbo`
    (negative ELBO at beta = 1, one posterior sample) and the posterior `mean`."""

    def terms(params, x, key):
        variables = {"params": params}
        if model_kind == "ae":
            outputs = model.apply(variables, x)
            recon = objectives.reconstruction_nll(log_likelihood, x, outputs)
            return dict(recon=recon, code=outputs["z"])
        outputs = model.apply(variables, x, key)
        recon = objectives.reconstruction_nll(log_likelihood, x, outputs)
        kl = jax.vmap(objectives.kl_to_standard_normal)(outputs["mean"], outputs["logvar"])
        return dict(recon=recon, kl=kl, nelbo=recon + kl, code=outputs["mean"])

    return terms


def over_images(fn: PerExample, params, images: jax.Array, key: jax.Array,
                chunk_size: int) -> dict[str, jax.Array]:
    """Applies `fn` to all `images` (uint8 [N,H,W,C]) in chunks; returns [N, ...] arrays.

    Chunk c draws its noise from fold_in(key, c), so results do not depend on anything but
    the key and the chunk size.
    """
    num = images.shape[0]
    chunk_size = min(chunk_size, num)
    num_chunks = -(-num // chunk_size)
    pad = num_chunks * chunk_size - num
    padded = jnp.concatenate([images, jnp.zeros((pad, *images.shape[1:]), images.dtype)])
    chunks = padded.reshape(num_chunks, chunk_size, *images.shape[1:])

    def one_chunk(args):
        index, chunk = args
        return fn(params, data.to_float(chunk, None), jax.random.fold_in(key, index))

    out = jax.lax.map(one_chunk, (jnp.arange(num_chunks), chunks))
    return jax.tree.map(lambda v: v.reshape(num_chunks * chunk_size, *v.shape[2:])[:num], out)


def mean_metrics(per_example: dict[str, jax.Array], prefix: str) -> dict[str, jax.Array]:
    """Averages the scalar-per-example entries (codes and other vectors are skipped)."""
    return {f"{prefix}{k}": v.mean(axis=-1) for k, v in per_example.items() if v.ndim == 2}
