"""One epoch fed from the host: chunks of batches arrive from `data.host_input`'s prefetcher
and each chunk is a jitted scan of `train_step` over its batches, mapped over the members the
way the device-resident epoch maps them (`step.scan_members`).

Same seed, same batches, same binarisation, same arithmetic: an epoch here gives the
parameters of `step.make_train_epoch`'s epoch bit for bit, and its per-step metrics; their
epoch means agree to a few ulp (summed in another program; tests/test_host_input.py). On a
mesh too: chunks arrive split over "data" and each step's batch is constrained to P("data")
as the device epoch constrains its own, so both run the same data-parallel program; with
several processes each one gathers only the rows of its own devices.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec

from vae_jax import data, streams
from vae_jax.data import host_input
from vae_jax.train import grad_shards as grad_shards_lib
from vae_jax.train import members
from vae_jax.train import mesh as mesh_lib
from vae_jax.train import step as step_lib
from vae_jax.train.schedules import Schedule


def make_chunk_fn(loss_fn, tx, schedule: Schedule, *, dynamic_binarization: bool,
                  member_map: str, batch_sharding=None, grad_shards: int = 0):
    """-> chunk_fn(states, chunk uint8 [K, B, H, W, C], start, binarize_key, train_keys,
    hparams) -> (states, per-step metrics [M, K]): steps start..start+K-1 of the epoch.
    `batch_sharding` (a mesh's P("data")) constrains each batch and `grad_shards` > 0 sums
    the gradient in a fixed order, as `make_train_epoch` does."""
    grad_fn = grad_shards_lib.make_gradient(
        loss_fn, grad_shards, None if batch_sharding is None else batch_sharding.mesh)
    step = functools.partial(step_lib.train_step, loss_fn=loss_fn, tx=tx, schedule=schedule,
                             grad_fn=grad_fn)

    def chunk_fn(states, chunk, start, binarize_key, train_keys, hparams):
        def batch(j):
            bin_key = (jax.random.fold_in(binarize_key, start + j) if dynamic_binarization
                       else None)
            return mesh_lib.constrain_batch(data.to_float(chunk[j], bin_key), batch_sharding)

        return step_lib.scan_members(step, batch, chunk.shape[0], member_map, lambda m: m)(
            states, train_keys, hparams)

    return chunk_fn


def _make_epoch_means(member_map: str, mesh):
    """-> fn([{name: [M, K_c]}]) -> {name: [M]}: the means over all of the epoch's steps,
    each member's taken on its own (mapped like the device epoch's, so the sums run in the
    same order)."""

    def epoch_means(chunk_metrics):
        per_step = jax.tree.map(lambda *m: jnp.concatenate(m, axis=1), *chunk_metrics)
        return members.map_members(step_lib.epoch_means, member_map)(per_step)

    return mesh_lib.jit(epoch_means, mesh, PartitionSpec())


def make_host_epoch(loss_fn, tx, schedule: Schedule, *, batch_size: int,
                    dynamic_binarization: bool, member_map: str, chunk_steps: int = 16,
                    prefetch: int = 2, mesh=None, grad_shards: int = 0):
    """-> epoch_fn(states, images, epoch, data_key, train_keys, hparams) -> (states, metrics),
    the signature of `make_train_epoch`'s, with `images` on the host (an array or memory map).

    Not jitted itself: it runs the prefetcher and one jitted program per chunk (a shorter last
    chunk compiles once more). On `mesh` chunks are split over "data", states stay
    P("members") and metrics are replicated, as with the device epoch (run._compile).
    """
    batch_sharding = mesh_lib.sharding(mesh, "data")
    chunk_fn = mesh_lib.jit(make_chunk_fn(loss_fn, tx, schedule,
                                          dynamic_binarization=dynamic_binarization,
                                          member_map=member_map, batch_sharding=batch_sharding,
                                          grad_shards=grad_shards),
                            mesh, (PartitionSpec("members"), PartitionSpec()), donate_argnums=0)
    epoch_means = _make_epoch_means(member_map, mesh)
    chunk_sharding = mesh_lib.sharding(mesh, None, "data")
    rows = None if mesh is None else host_input.batch_rows(
        mesh_lib.device_processes(mesh), batch_size, jax.process_index())

    def epoch_fn(states, images, epoch, data_key, train_keys, hparams):
        num_steps = step_lib.steps_per_epoch(images.shape[0], batch_size)
        perm_key, binarize_key = streams.epoch_keys(data_key, epoch)
        perm = host_input.epoch_permutation(perm_key, images.shape[0])
        metrics = []
        for start, chunk in host_input.prefetched_chunks(images, perm, num_steps, batch_size,
                                                         chunk_steps, prefetch, chunk_sharding,
                                                         rows):
            states, chunk_metrics = chunk_fn(states, chunk, start, binarize_key, train_keys,
                                             hparams)
            metrics.append(chunk_metrics)
        return states, epoch_means(metrics)

    return epoch_fn
