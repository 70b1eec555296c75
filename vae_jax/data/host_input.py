"""Host input mode: the training set stays on the host and batches reach the devices from a
background prefetcher, in the very order the device-resident epoch draws them.

The order: `perm_key, binarize_key = split(fold_in(data_key, epoch))`, batch i holds the rows
`permutation(perm_key, N)[i*B : (i+1)*B]` (the permutation is integer-exact, so drawing it
outside the epoch's program gives the same rows), and batch i is binarised on the device with
`fold_in(binarize_key, i)`. Batches travel in chunks of `chunk_steps` (one transfer and one
dispatch per chunk, which matters on accelerators where a step takes well under a millisecond).

The pipeline is grain's (`MapDataset` over chunk starts -> a thread that gathers the rows ->
`grain.experimental.device_put`, which prefetches on the host and on the device), so the device
does not wait on the host in steady state. grain's own samplers cannot replay a given
permutation, hence the map over chunk starts. Gathering per chunk, not per example, keeps it at
one Python call per chunk (per-example pipelines were ~100x slower, see docs/performance.md).

Several processes: `gather_chunk` takes `process_index`/`process_count` and reads only this
process's rows of each batch (a contiguous 1/P of it), ready for
`jax.make_array_from_process_local_data`.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from vae_jax.errors import ConfigError

INPUT_MODES = ("auto", "device", "host")


def check_input_mode(mode: str) -> str:
    if mode not in INPUT_MODES:
        raise ConfigError(f"unknown input {mode!r}; choose one of {', '.join(INPUT_MODES)} "
                          "(--config.input=...)")
    return mode


def epoch_keys(data_key: jax.Array, epoch: int) -> tuple[jax.Array, jax.Array]:
    """(perm_key, binarize_key) of `epoch`: the split the device-resident epoch makes."""
    return jax.random.split(jax.random.fold_in(data_key, epoch))


@functools.partial(jax.jit, static_argnums=1)
def _permutation(perm_key: jax.Array, num_examples: int) -> jax.Array:
    return jax.random.permutation(perm_key, num_examples)


def epoch_permutation(perm_key: jax.Array, num_examples: int) -> np.ndarray:
    """`jax.random.permutation(perm_key, num_examples)` as a host array (drawn on the device)."""
    return np.asarray(_permutation(perm_key, num_examples))


def chunk_starts(num_steps: int, chunk_steps: int) -> list[tuple[int, int]]:
    """[(first step, steps)] covering the epoch; the last chunk may be shorter."""
    if chunk_steps < 1:
        raise ConfigError(f"host_chunk_steps must be >= 1, got {chunk_steps}")
    return [(start, min(chunk_steps, num_steps - start))
            for start in range(0, num_steps, chunk_steps)]


def gather_chunk(images, perm: np.ndarray, start: int, steps: int, batch_size: int,
                 process_index: int = 0, process_count: int = 1) -> np.ndarray:
    """uint8 [steps, batch_size / process_count, H, W, C]: this process's rows of batches
    start..start+steps-1 (works on memory-mapped arrays: only these rows are read)."""
    if batch_size % process_count:
        raise ConfigError(f"batch_size={batch_size} must divide among {process_count} processes")
    local = batch_size // process_count
    rows = perm[start * batch_size:(start + steps) * batch_size].reshape(steps, batch_size)
    rows = rows[:, process_index * local:(process_index + 1) * local].reshape(-1)
    # Sorted reads are kinder to a memory map; the inverse restores the batch order.
    order = np.argsort(rows, kind="stable")
    gathered = np.empty((rows.size, *images.shape[1:]), np.uint8)
    gathered[order] = images[rows[order]]
    return gathered.reshape(steps, local, *images.shape[1:])


def prefetched_chunks(images, perm: np.ndarray, num_steps: int, batch_size: int,
                      chunk_steps: int, prefetch: int, sharding=None):
    """Iterator of (first step, uint8 chunk on the device(s)) over the epoch, `prefetch`
    chunks ahead on the host and on the device."""
    import grain  # imported lazily: ~1 s, and only host mode needs it

    starts = chunk_starts(num_steps, chunk_steps)
    dataset = grain.MapDataset.source(starts).map(
        lambda chunk: (np.int32(chunk[0]),
                       gather_chunk(images, perm, chunk[0], chunk[1], batch_size)))
    threads = dataset.to_iter_dataset(grain.ReadOptions(num_threads=1,
                                                        prefetch_buffer_size=prefetch))
    target = sharding if sharding is not None else jax.devices()[0]
    return iter(grain.experimental.device_put(threads, target, cpu_buffer_size=prefetch,
                                              device_buffer_size=prefetch))
