"""One epoch fed from the host: chunks of batches arrive from `data.host_input`'s prefetcher
and each chunk is a jitted scan of `train_step` over its batches, mapped over the members the
way the device-resident epoch maps them (`step.scan_members`).

Same seed, same batches, same binarisation, same arithmetic: an epoch here gives the
parameters of `step.make_train_epoch`'s epoch bit for bit, and its per-step metrics; their
epoch means agree to a few ulp (summed in another program; tests/test_host_input.py).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec

from vae_jax import data
from vae_jax.data import host_input
from vae_jax.train import grad_shards as grad_shards_lib
from vae_jax.train import members
from vae_jax.train import step as step_lib
from vae_jax.train.schedules import Schedule


def make_chunk_fn(loss_fn, tx, schedule: Schedule, *, dynamic_binarization: bool,
                  member_map: str, grad_shards: int = 0):
    """-> chunk_fn(states, chunk uint8 [K, B, H, W, C], start, binarize_key, train_keys,
    hparams) -> (states, per-step metrics [M, K]): steps start..start+K-1 of the epoch.
    Chunks are not split over "data" devices: `grad_shards` groups all run on each device."""
    step = functools.partial(step_lib.train_step, loss_fn=loss_fn, tx=tx, schedule=schedule,
                             grad_fn=grad_shards_lib.make_gradient(loss_fn, grad_shards))

    def chunk_fn(states, chunk, start, binarize_key, train_keys, hparams):
        def batch(j):
            bin_key = (jax.random.fold_in(binarize_key, start + j) if dynamic_binarization
                       else None)
            return data.to_float(chunk[j], bin_key)

        return step_lib.scan_members(step, batch, chunk.shape[0], member_map, lambda m: m)(
            states, train_keys, hparams)

    return chunk_fn


def _make_epoch_means(member_map: str):
    """-> fn([{name: [M, K_c]}]) -> {name: [M]}: the means over all of the epoch's steps,
    each member's taken on its own (mapped like the device epoch's, so the sums run in the
    same order)."""

    def epoch_means(chunk_metrics):
        per_step = jax.tree.map(lambda *m: jnp.concatenate(m, axis=1), *chunk_metrics)
        return members.map_members(step_lib.epoch_means, member_map)(per_step)

    return jax.jit(epoch_means)


def make_host_epoch(loss_fn, tx, schedule: Schedule, *, batch_size: int,
                    dynamic_binarization: bool, member_map: str, chunk_steps: int = 16,
                    prefetch: int = 2, mesh=None, grad_shards: int = 0):
    """-> epoch_fn(states, images, epoch, data_key, train_keys, hparams) -> (states, metrics),
    the signature of `make_train_epoch`'s, with `images` on the host (an array or memory map).

    Not jitted itself: it runs the prefetcher and one jitted program per chunk (a shorter last
    chunk compiles once more). Chunks are replicated over `mesh` when the members are sharded.
    """
    chunk_fn = jax.jit(make_chunk_fn(loss_fn, tx, schedule,
                                     dynamic_binarization=dynamic_binarization,
                                     member_map=member_map, grad_shards=grad_shards),
                       donate_argnums=0)
    epoch_means = _make_epoch_means(member_map)
    sharding = None if mesh is None else NamedSharding(mesh, PartitionSpec())

    def epoch_fn(states, images, epoch, data_key, train_keys, hparams):
        num_steps = step_lib.steps_per_epoch(images.shape[0], batch_size)
        perm_key, binarize_key = host_input.epoch_keys(data_key, epoch)
        perm = host_input.epoch_permutation(perm_key, images.shape[0])
        metrics = []
        for start, chunk in host_input.prefetched_chunks(images, perm, num_steps, batch_size,
                                                         chunk_steps, prefetch, sharding):
            states, chunk_metrics = chunk_fn(states, chunk, start, binarize_key, train_keys,
                                             hparams)
            metrics.append(chunk_metrics)
        return states, epoch_means(metrics)

    return epoch_fn
