"""Evaluators: pure functions of (params, images, key) returning per-example values.

The trainer only calls them (STYLE 9). Per-example functions are wrapped by `over_images`,
which walks a whole uint8 image set in fixed-size chunks inside one jitted `lax.map`
(the last chunk is padded and the padding dropped), so memory is bounded by the chunk.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from vae_jax import data, models, objectives
from vae_jax.data import corruption
from vae_jax.objectives import priors

PerExample = Callable[[dict, jax.Array, jax.Array], dict[str, jax.Array]]


def make_codes(model) -> PerExample:
    """(params, x, key unused) -> per-example `code` (models.codes)."""

    def code_terms(params, x, key):
        del key  # deterministic
        return dict(code=models.codes(model, params, x))

    return code_terms


def make_elbo_terms(model, log_likelihood, model_kind: str) -> PerExample:
    """(params, x [B,H,W,C] floats, key) -> per-example `recon`, and for a VAE `kl`, `nelbo`
    (negative ELBO at beta = 1, one posterior sample; a VampPrior's KL is sampled too) and the
    posterior `mean`."""

    def terms(params, x, key):
        variables = {"params": params}
        if model_kind in ("ae", "vq_vae"):  # no KL: the reconstruction and the code
            outputs = model.apply(variables, x)
            recon = objectives.reconstruction_nll(log_likelihood, x, outputs)
            return dict(recon=recon, code=outputs["z"])
        outputs = model.apply(variables, x, key)
        recon = objectives.reconstruction_nll(log_likelihood, x, outputs)
        kl = priors.of(model).kl_per_example(params, outputs)  # sampled for a VampPrior
        return dict(recon=recon, kl=kl, nelbo=recon + kl, code=outputs["mean"])

    return terms


def denoise(model, params, noisy: jax.Array, mean_image) -> jax.Array:
    """The likelihood's mean image (`mean_image(logits)`, objectives.make_mean_image) decoded
    from the posterior mean (VAE) or the code (AE) of `noisy`; shaped like `noisy`."""
    z = models.codes(model, params, noisy)
    denoised = mean_image(model.apply({"params": params}, z, method="decode"))
    if denoised.shape != noisy.shape:  # never compare images by broadcasting
        raise ValueError(f"mean image {denoised.shape} is not shaped like the data {noisy.shape}")
    return denoised


def make_denoising_psnr(model, kind: str, level: jax.Array, mean_image) -> PerExample:
    """(params, x, key) -> per-example `psnr_noisy` (corrupted vs clean) and `psnr_denoised`
    (the likelihood's mean image, from the posterior mean or the AE code of the corrupted
    image)."""

    def psnr_terms(params, x, key):
        noisy = corruption.corrupt(key, x, kind, level)
        denoised = denoise(model, params, noisy, mean_image)
        return dict(psnr_noisy=jax.vmap(corruption.psnr)(x, noisy),
                    psnr_denoised=jax.vmap(corruption.psnr)(x, denoised))

    return psnr_terms


@functools.partial(jax.jit, static_argnums=0)
def _encode_chunk(model, params, images: jax.Array):
    if images.dtype == jnp.uint8:
        images = data.to_float(images, None)
    return models.codes(model, params, images)


def encode_images(model, params, images: np.ndarray, chunk_size: int = 1000) -> np.ndarray:
    """models.codes of one member for uint8 images (or floats in [0, 1]), `chunk_size` at a time,
    on the host.

    One program per (model, chunk shape), the parameters an argument: FactorVAE/BetaVAE call
    this for every batch of freshly rendered images of every member, which must not compile
    again each time (flax modules hash by their fields, so equal models share the program).
    """
    codes = []
    for start in range(0, len(images), chunk_size):
        out = _encode_chunk(model, params, jnp.asarray(images[start:start + chunk_size]))
        codes.append(np.asarray(out))
    return np.concatenate(codes)


def over_images(fn: PerExample, params, images: jax.Array, key: jax.Array | None,
                chunk_size: int, mesh: Mesh | None = None) -> dict[str, jax.Array]:
    """Applies `fn` to all `images` (uint8 [N,H,W,C]) in chunks; returns [N, ...] arrays.

    Chunk c draws its noise from fold_in(key, c), so results do not depend on anything but
    the key and the chunk size. A deterministic `fn` takes key=None.

    `mesh` (grad_shards runs, train/grad_shards.py): whole chunks are spread over its "data"
    devices (their count padded to a multiple of them), each device mapping over its own, so
    that every chunk runs exactly as on one device; splitting a chunk's rows over the devices
    instead rounds some values differently (XLA:CPU's matmul kernel depends on the rows).
    """
    num = images.shape[0]
    chunk_size = min(chunk_size, num)
    devices = 1 if mesh is None else mesh.shape["data"]
    num_chunks = -(-num // chunk_size)
    num_chunks = -(-num_chunks // devices) * devices
    pad = num_chunks * chunk_size - num
    padded = jnp.concatenate([images, jnp.zeros((pad, *images.shape[1:]), images.dtype)])
    chunks = padded.reshape(num_chunks, chunk_size, *images.shape[1:])

    def chunks_of(params, indices, chunks):
        def one_chunk(args):
            index, chunk = args
            chunk_key = None if key is None else jax.random.fold_in(key, index)
            return fn(params, data.to_float(chunk, None), chunk_key)

        return jax.lax.map(one_chunk, (indices, chunks))

    if devices > 1:
        shared, data_axis = PartitionSpec(), PartitionSpec("data")
        chunks_of = jax.shard_map(chunks_of, mesh=mesh, axis_names=frozenset({"data"}),
                                  in_specs=(shared, data_axis, data_axis), out_specs=data_axis,
                                  check_vma=False)
    out = chunks_of(params, jnp.arange(num_chunks), chunks)
    return jax.tree.map(lambda v: v.reshape(num_chunks * chunk_size, *v.shape[2:])[:num], out)


# ------------------------------------------------------------------ importance-sampled likelihood
def iwae_log_likelihood(encode_fn, log_joint_fn, x: jax.Array, key: jax.Array,
                        num_samples: int, sample_chunk: int = 500,
                        log_weights_fn=None) -> jax.Array:
    """log (1/k) sum_s w_s per example [B]: the k-sample IWAE bound, and the importance-sampled
    estimate of log p(x) (Burda et al. 2015), which approaches log p(x) from below as k grows.

    The k samples are drawn `sample_chunk` at a time and folded into a running log-sum-exp,
    so memory is bounded by one chunk whatever k is (k = 5000 on a whole test set is one call).
    `log_weights_fn(x, key, n)` -> [n, B] replaces the one-layer proposal (encode_fn,
    log_joint_fn) for models with their own weights (two stochastic layers).
    """
    chunk = min(sample_chunk, num_samples)
    num_chunks = -(-num_samples // chunk)

    def body(carry, index):
        running_max, running_sum = carry
        chunk_key = jax.random.fold_in(key, index)
        log_w = (objectives.log_importance_weights(encode_fn, log_joint_fn, x, chunk_key, chunk)
                 if log_weights_fn is None else log_weights_fn(x, chunk_key, chunk))
        # The last chunk may overshoot k: its surplus samples get weight zero.
        valid = (index * chunk + jnp.arange(chunk)) < num_samples
        log_w = jnp.where(valid[:, None], log_w, -jnp.inf)
        new_max = jnp.maximum(running_max, log_w.max(axis=0))
        running_sum = (running_sum * jnp.exp(running_max - new_max)
                       + jnp.exp(log_w - new_max).sum(axis=0))
        return (new_max, running_sum), None

    batch = x.shape[0]
    init = (jnp.full((batch,), -jnp.inf), jnp.zeros((batch,)))
    (log_max, total), _ = jax.lax.scan(body, init, jnp.arange(num_chunks))
    return log_max + jnp.log(total) - jnp.log(num_samples)


def make_nll(model, log_likelihood, num_samples: int, sample_chunk: int) -> PerExample:
    """(params, x, key) -> per-example `nll` = -log p(x) estimated with k importance samples."""

    def nll(params, x, key):
        # The prior's weights: over z, or over (z1, z2) with two stochastic layers.
        log_weights = priors.of(model).log_weights(log_likelihood, params)
        return dict(nll=-iwae_log_likelihood(None, None, x, key, num_samples, sample_chunk,
                                             log_weights))

    return nll
