"""Member maps: how a function of one member runs over a population's leading member axis.

'vmap' batches all members, 'map' runs them one after another in one program, 'chunked'
vmaps groups of up to 8, 'unrolled' steps a group's members side by side in the epoch scan
(`step.make_train_epoch`). `resolve_member_map` picks one for the backend.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

MEMBER_MAPS = ("vmap", "map", "chunked", "unrolled")


def map_members(member_fn, member_map: str, shared_args=()):
    """member_fn(*member_args, *shared_args) for every member along the leading axis.

    'vmap' runs all members at once (wide batched matmuls; best on accelerators and with
    members sharded over devices). 'map' runs one member at a time inside the same compiled
    program (`lax.map`), so each member runs exactly the arithmetic of a lone run. 'chunked'
    vmaps chunks of up to 8 members, one chunk after another, which bounds the memory of the
    batched arithmetic. 'unrolled' only changes the training epoch (`make_train_epoch`);
    everything else maps it like 'map'. Measured speeds: docs/performance.md.
    """
    group_fn = _over_group(lambda *member_args: member_fn(*member_args, *shared_args))
    return over_groups(group_fn, lambda size: _group_size(member_map, size))


def _group_size(member_map: str, num_members: int) -> int:
    """Members that `map_members` takes together ('unrolled' only groups the train epoch)."""
    return {"vmap": num_members, "chunked": chunk_size(num_members), "map": 1,
            "unrolled": 1}[member_map]


def num_members(tree) -> int:
    return jax.tree.leaves(tree)[0].shape[0]


def member(tree, index: int):
    """Member `index` of a stacked pytree (a state, Hparams or keys)."""
    return jax.tree.map(lambda a: a[index], tree)


def stack_members(members):
    """[pytree, ...] -> one pytree with a leading member axis."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *members)


def over_groups(group_fn, group_of: Callable[[int], int]):
    """group_fn over consecutive groups of `group_of(num_members)` members, one group after
    another (`lax.map`); group_fn takes and returns arrays with a leading axis of one group."""

    def mapped(*member_args):
        size = num_members(member_args)
        group = group_of(size)
        if group == size:
            return group_fn(*member_args)
        groups = jax.tree.map(lambda a: a.reshape(size // group, group, *a.shape[1:]),
                              member_args)
        out = jax.lax.map(lambda g: group_fn(*g), groups)
        return jax.tree.map(lambda a: a.reshape(size, *a.shape[2:]), out)

    return mapped


def _over_group(member_fn):
    """member_fn vmapped over a group's leading member axis; a group of ONE member runs
    member_fn on that member itself. Lone runs and 'map' populations are groups of one: with
    a member axis of size 1 XLA:CPU runs every matmul as a batched matmul, ~10% slower for the
    MLP step than the plain one (docs/performance.md) and rounded differently."""
    vmapped = jax.vmap(member_fn)

    def group_fn(*member_args):
        if num_members(member_args) != 1:
            return vmapped(*member_args)
        out = member_fn(*member(member_args, 0))
        return jax.tree.map(lambda a: a[None], out)

    return group_fn


def chunk_size(num_members: int, largest: int = 8) -> int:
    """The largest divisor of num_members that is <= `largest` (members vmapped together)."""
    return max(c for c in range(1, min(largest, num_members) + 1) if num_members % c == 0)


def resolve_member_map(member_map: str, architecture: str = "mlp") -> str:
    """'auto' -> 'vmap' on accelerators or with members sharded over several devices (each
    device's share is one batch); on one CPU device 'unrolled' for MLPs and 'map' for conv
    models, both bitwise equal to lone runs. On one CPU a member's matmuls already fill the
    cores, so what a population can save is what its members share: 'unrolled' draws each
    batch (gather and Bernoulli draw) once for up to 8 members, faster than members one after
    another and than vmapped chunks (batched matmuls). A conv step dwarfs its batch draw, so
    conv keeps 'map' (speeds: docs/performance.md)."""
    if member_map == "auto":
        if jax.default_backend() != "cpu" or jax.device_count() > 1:
            return "vmap"
        return "map" if architecture == "conv" else "unrolled"
    return member_map
