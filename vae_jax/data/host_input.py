"""Host input mode: the training set stays on the host and batches reach the devices from a
background prefetcher, in the very order the device-resident epoch draws them.

The order: `perm_key, binarize_key = streams.epoch_keys(data_key, epoch)`, batch i holds the rows
`permutation(perm_key, N)[i*B : (i+1)*B]` (the permutation is integer-exact, so drawing it
outside the epoch's program gives the same rows), and batch i is binarised on the device with
`fold_in(binarize_key, i)`. Batches travel in chunks of `chunk_steps` (one transfer and one
dispatch per chunk, which matters on accelerators where a step takes well under a millisecond).

The pipeline is grain's (`MapDataset` over chunk starts -> a thread that gathers the rows ->
a prefetching thread that makes the device array -> another that keeps chunks ready on the
device, as `grain.experimental.device_put` does), so the device does not wait on the host in
steady state. grain's own samplers cannot replay a given permutation, hence the map over chunk
starts. Gathering per chunk, not per example, keeps it at one Python call per chunk
(per-example pipelines were ~100x slower, see docs/performance.md).

On a mesh a chunk [K, B, ...] is sharded P(None, "data"): slice j of each batch (B / data rows)
lives on the devices of the mesh's data column j. Each process gathers only the rows its own
devices hold (`batch_rows`) and the global chunk is assembled from them
(`jax.make_array_from_process_local_data`), so no process reads rows it does not feed.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from vae_jax.errors import ConfigError

INPUT_MODES = ("auto", "device", "host")


@functools.partial(jax.jit, static_argnums=1)
def _permutation(perm_key: jax.Array, num_examples: int) -> jax.Array:
    return jax.random.permutation(perm_key, num_examples)


def epoch_permutation(perm_key: jax.Array, num_examples: int) -> np.ndarray:
    """`jax.random.permutation(perm_key, num_examples)` as a host array (drawn on the device)."""
    return np.asarray(_permutation(perm_key, num_examples))


def chunk_starts(num_steps: int, chunk_steps: int) -> list[tuple[int, int]]:
    """[(first step, steps)] covering the epoch; the last chunk may be shorter."""
    return [(start, min(chunk_steps, num_steps - start))
            for start in range(0, num_steps, chunk_steps)]


def batch_rows(device_processes: np.ndarray, batch_size: int,
               process_index: int) -> tuple[int, int]:
    """[first, last + 1) of the rows of every batch that process `process_index` feeds.

    `device_processes` [members, data]: the process of each device of a ("members", "data")
    mesh. A batch is split into `data` equal slices, slice j on the devices of column j, so a
    process feeds the slices of the columns that hold one of its devices: a contiguous part of
    the batch when processes own whole runs of columns (jax orders devices by process), the
    whole batch when the data extent is 1 (each member on its own devices).
    """
    data = device_processes.shape[1]
    if batch_size % data:
        raise ConfigError(f"batch_size={batch_size} does not split over {data} data devices")
    columns = np.flatnonzero((device_processes == process_index).any(axis=0))
    if columns.size == 0:
        raise ConfigError(f"process {process_index} has no device in the mesh")
    if np.any(np.diff(columns) != 1):  # scattered columns: read all, jax picks the slices
        return 0, batch_size
    per_column = batch_size // data
    return int(columns[0]) * per_column, (int(columns[-1]) + 1) * per_column


def gather_chunk(images, perm: np.ndarray, start: int, steps: int, batch_size: int,
                 rows: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 [steps, last - first, H, W, C]: rows `rows` = (first, last + 1) (default: all) of
    batches start..start+steps-1 (works on memory-mapped arrays: only these rows are read)."""
    first, last = rows or (0, batch_size)
    picked = perm[start * batch_size:(start + steps) * batch_size].reshape(steps, batch_size)
    picked = picked[:, first:last].reshape(-1)
    # Sorted reads are kinder to a memory map; the inverse restores the batch order.
    order = np.argsort(picked, kind="stable")
    gathered = np.empty((picked.size, *images.shape[1:]), np.uint8)
    gathered[order] = images[picked[order]]
    return gathered.reshape(steps, last - first, *images.shape[1:])


def prefetched_chunks(images, perm: np.ndarray, num_steps: int, batch_size: int,
                      chunk_steps: int, prefetch: int, sharding=None,
                      rows: tuple[int, int] | None = None):
    """Iterator of (first step, uint8 chunk on the device(s)) over the epoch, `prefetch`
    chunks ahead on the host and on the device.

    Without `sharding` a chunk goes to the default device. With one (a mesh's
    P(None, "data")), this process gathers its `rows` of each batch (`batch_rows`) and the
    chunk is the global array of all processes' rows."""
    import grain  # imported lazily: ~1 s, and only host mode needs it

    def gather(chunk):
        return np.int32(chunk[0]), gather_chunk(images, perm, chunk[0], chunk[1], batch_size,
                                                rows)

    if sharding is None:
        device = jax.devices()[0]

        def put(item):
            return jax.device_put(item, device)
    else:
        def put(item):
            start, local = item
            shape = (local.shape[0], batch_size, *local.shape[2:])
            return start, jax.make_array_from_process_local_data(sharding, local, shape)

    starts = chunk_starts(num_steps, chunk_steps)
    threads = grain.MapDataset.source(starts).map(gather).to_iter_dataset(
        grain.ReadOptions(num_threads=1, prefetch_buffer_size=prefetch))
    # grain.experimental.device_put's stages, with `put` making the (global) array: it runs
    # in a prefetch thread, so the transfer of the next chunks overlaps this one's steps.
    on_host = grain.experimental.ThreadPrefetchIterDataset(threads, prefetch_buffer_size=prefetch)
    on_device = grain.experimental.ThreadPrefetchIterDataset(on_host.map(put),
                                                              prefetch_buffer_size=prefetch)
    return iter(on_device)
