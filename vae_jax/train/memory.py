"""A population's device memory, estimated from shapes before anything is compiled."""

from __future__ import annotations

import collections
import math

import jax
import jax.extend.core as jex
import jax.numpy as jnp

from vae_jax.errors import PopulationTooLargeError
from vae_jax.train import step as train_step_lib
from vae_jax.train.population import Population


def _nbytes(tree) -> int:
    return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(tree))


def _aval_bytes(var) -> int:
    aval = var.aval
    return math.prod(aval.shape) * aval.dtype.itemsize if hasattr(aval, "shape") else 0


def _inner_jaxprs(eqn):
    """The jaxprs an equation calls (pjit, scan and while bodies, cond branches, custom rules)."""
    for value in eqn.params.values():
        for item in value if isinstance(value, tuple | list) else (value,):
            if isinstance(item, jex.ClosedJaxpr):
                yield item.jaxpr
            elif isinstance(item, jex.Jaxpr):
                yield item


def peak_bytes(jaxpr) -> int:
    """The most bytes of intermediate values `jaxpr` holds at once (its inputs excluded).

    Equations run in order; a value lives from the equation that makes it to its last use
    (outputs: to the end); a called jaxpr's own peak adds to what is live when it runs (a
    scan body's counts once). Without XLA's fusion and buffer reuse this bounds the compiled
    program's temporaries from above, and it sees everything the loss computes: IWAE's k
    decoded samples, the contractive penalty's Jacobian rows, a second network's pass.
    """
    last_use = {}
    for i, eqn in enumerate(jaxpr.eqns):
        for var in eqn.invars:
            if isinstance(var, jex.Var):
                last_use[var] = i
    for var in jaxpr.outvars:
        if isinstance(var, jex.Var):
            last_use[var] = len(jaxpr.eqns)
    dying = collections.Counter()
    live = peak = 0
    for i, eqn in enumerate(jaxpr.eqns):
        made = sum(_aval_bytes(v) for v in eqn.outvars)
        inner = max((peak_bytes(sub) for sub in _inner_jaxprs(eqn)), default=0)
        peak = max(peak, live + inner + made)
        live += made
        for var in eqn.outvars:
            dying[last_use.get(var, i)] += _aval_bytes(var)
        live -= dying.pop(i, 0)
    return peak


def estimate_member_bytes(loss_fn, model, tx, image_shape, batch_size: int, hparams) -> int:
    """Device bytes one member needs in a train step, from shapes alone (nothing compiled).

    Parameters and Adam moments (the state) and its updated copy, plus the peak of the
    intermediate values of the loss and its gradient on one batch (`peak_bytes` of the
    traced program), so what the objective adds to a forward pass is counted: IWAE's
    iwae_samples decoded samples, the contractive penalty's latents Jacobian rows per example.
    """
    key = jax.random.key(0)  # eval_shape: shapes only, no draw is made (no stream of streams.py)
    state = jax.eval_shape(lambda k: train_step_lib.create_state(k, model, tx, image_shape), key)
    x = jax.ShapeDtypeStruct((batch_size, *image_shape), jnp.float32)
    grad_fn = jax.value_and_grad(lambda p, x, k: loss_fn(p, x, k, hparams)[0])
    traced = jax.make_jaxpr(grad_fn)(state.params, x, jax.random.key(1))
    return 2 * _nbytes(state) + peak_bytes(traced.jaxpr)


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
    if mode != "auto":  # device | host (validated in validation.py)
        return mode
    devices = math.gcd(population.size, len(jax.devices()))
    needed = bytes_per_member * population.size / devices + train_bytes + other_bytes
    return "device" if needed <= available else "host"
