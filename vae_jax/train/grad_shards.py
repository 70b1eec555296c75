"""Gradients in a fixed reduction order (`config.grad_shards`): the same bits on any number of
data devices and processes.

Data-parallel training otherwise lets XLA all-reduce the gradient, and the order of that sum
depends on how many devices hold the batch (and on Gloo between processes): float32 round-off
that training amplifies to ~0.01-0.04 nats after one MNIST epoch (docs/results.md). Here the
batch of B examples is split into G = grad_shards fixed groups of B / G; each group's gradient
and metrics are computed alone, exactly as a lone run would on a batch of B / G, with the key
`fold_in(step_key, g)`; the [G, ...] results are gathered (an all-gather copies bits, it adds
nothing) and summed left to right, g = 0..G-1, then divided by G.

Groups run one after another (unrolled), never vmapped: a vmapped gradient runs batched
matmuls whose rounding depends on how many groups a device holds; a plain gradient of B / G
rows does not. With a "data" mesh axis of D devices (D divides G) each device computes its
G / D groups inside a `shard_map`; without one, the one device computes all G.

On CPU, "any number of devices" presumes one thread-pool size: XLA:CPU sizes a process's pool
max(CPUs, CPU devices) unless PJRT_NPROC is set, and its matmuls round by that size, so
processes compared bit for bit need pools of equal size (docs/scaling.md).

Only objectives whose loss is a mean of per-example terms mean the same thing under groups;
those that estimate something from the batch's statistics are refused by validation
(`BATCH_OBJECTIVES`, `BATCH_HPARAMS`).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec

# Objectives whose loss uses the whole batch's statistics (beta-TCVAE's q(z) estimate,
# FactorVAE's permuted batch, DIP-VAE's covariance, the sparse AE's mean activation): under
# groups each group would be its own, smaller batch.
BATCH_OBJECTIVES = ("tcvae", "factor_vae", "dip_vae_i", "dip_vae_ii", "sparse_kl")
# The ELBO's KL schedules that act on the batch-mean KL per latent (free bits, capacity).
BATCH_HPARAMS = ("free_bits", "capacity_max")

GradFn = Callable[..., tuple[dict, dict]]


def make_gradient(loss_fn, grad_shards: int = 0, mesh: Mesh | None = None) -> GradFn:
    """-> grad_fn(params, x, key, hparams, step) -> (grads, metrics) of `loss_fn`.

    grad_shards = 0: the plain `jax.grad` of the whole batch (the default: bit-identical to
    a run without this module). Otherwise the fixed-order gradient of the module doc; `mesh`
    (its "data" axis) spreads the groups over devices.
    """
    plain = jax.grad(loss_fn, has_aux=True)
    if not grad_shards:
        return plain

    def local_groups(params, x_groups, key, hparams, step, first):
        # Groups first, first + 1, ... of [n, B / G, ...] -> ([n, ...] grads, [n] metrics), one
        # after another. Unrolled: a `lax.map` stores every group's gradient and slices it
        # back (0.57x the plain step's speed at G = 4, against 0.85x; docs/performance.md).
        groups = [plain(params, x_groups[i], jax.random.fold_in(key, first + i), hparams, step)
                  for i in range(x_groups.shape[0])]
        return jax.tree.map(lambda *leaves: jnp.stack(leaves), *groups)

    data_devices = 1 if mesh is None else mesh.shape["data"]
    if data_devices > 1:
        def on_devices(params, x_groups, key, hparams, step):
            first = jax.lax.axis_index("data") * x_groups.shape[0]
            grads, metrics = local_groups(params, x_groups, key, hparams, step, first)
            # Every device gets all G groups' results, bit for bit, and sums them itself.
            return fixed_mean(jax.lax.all_gather((grads, metrics), "data", tiled=True))

        data, shared = PartitionSpec("data"), PartitionSpec()
        # Manual over "data" only: a population's "members" axis stays with the compiler.
        groups_fn = jax.shard_map(on_devices, mesh=mesh, axis_names=frozenset({"data"}),
                                  in_specs=(shared, data, shared, shared, shared),
                                  out_specs=shared, check_vma=False)
    else:
        def groups_fn(params, x_groups, key, hparams, step):
            return fixed_mean(local_groups(params, x_groups, key, hparams, step, 0))

    def grad_fn(params, x, key, hparams, step):
        x_groups = x.reshape(grad_shards, x.shape[0] // grad_shards, *x.shape[1:])
        return groups_fn(params, x_groups, key, hparams, step)

    return grad_fn


def fixed_mean(tree):
    """Each leaf [G, ...] -> (((a_0 + a_1) + a_2) + ... + a_{G-1}) / G: written out, so that no
    reduction (whose order XLA picks per shape and sharding) is involved."""

    def mean(a):
        total = a[0]
        for g in range(1, a.shape[0]):
            total = total + a[g]
        return total / a.shape[0]

    return jax.tree.map(mean, tree)
