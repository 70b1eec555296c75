"""A population's device memory, estimated from shapes before anything is compiled."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from vae_jax.errors import PopulationTooLargeError
from vae_jax.train import step as train_step_lib
from vae_jax.train.population import Population


def _nbytes(tree) -> int:
    return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(tree))


def estimate_member_bytes(model, tx, image_shape, batch_size: int) -> int:
    """Device bytes one member needs in a train step, from shapes alone (nothing compiled).

    Parameters and Adam moments (the state), its gradients and updated copy, and every module
    output of a forward pass kept for the backward pass plus its gradient.
    """
    key = jax.random.key(0)  # eval_shape: shapes only, no draw is made (no stream of streams.py)
    state = jax.eval_shape(lambda k: train_step_lib.create_state(k, model, tx, image_shape), key)
    x = jax.ShapeDtypeStruct((batch_size, *image_shape), jnp.float32)
    _, captured = jax.eval_shape(
        lambda p, x: model.apply({"params": p}, x, jax.random.key(1),
                                 capture_intermediates=True, mutable=["intermediates"]),
        state.params, x)
    activations = _nbytes(captured)
    return 2 * _nbytes(state) + _nbytes(state.params) + 2 * activations


def available_bytes(limit_gb: float) -> int:
    """`limit_gb` when set, else what the first device reports free (host RAM on CPU)."""
    if limit_gb > 0:
        return int(limit_gb * 2**30)
    stats = jax.local_devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    import psutil  # CPU: the host's free memory

    return int(psutil.virtual_memory().available)


def check_fits(population: Population, bytes_per_member: int, data_bytes: int,
               available: int) -> None:
    """Refuses, before compiling, a population whose estimate exceeds the free memory."""
    devices = math.gcd(population.size, len(jax.devices()))
    needed = bytes_per_member * population.size / devices + data_bytes
    if needed > available:
        raise PopulationTooLargeError(
            f"population {population.name!r}: {population.size} members need about "
            f"{needed / 2**30:.1f} GiB per device but about {available / 2**30:.1f} GiB is free "
            f"({jax.devices()[0].platform}). Sweep fewer values per command, lower batch_size "
            "or the model size, or use more devices (--config.memory_limit_gb overrides the "
            "detected limit)."
        )


def choose_input(mode: str, population: Population, bytes_per_member: int, train_bytes: int,
                 other_bytes: int, available: int) -> str:
    """'device' or 'host' for `config.input` = `mode`; 'auto' keeps the training set on the
    device when the population, the training set and `other_bytes` (the test set) fit in
    `available`, and streams it from the host otherwise."""
    from vae_jax.data import host_input

    if host_input.check_input_mode(mode) != "auto":
        return mode
    devices = math.gcd(population.size, len(jax.devices()))
    needed = bytes_per_member * population.size / devices + train_bytes + other_bytes
    return "device" if needed <= available else "host"
