"""Member maps: how a function of one member runs over a population's leading member axis.

Which map when (`member_map="auto"` picks by `resolve_member_map`; the measurements behind
each choice: docs/performance.md, "Member maps on one CPU" and "Lone runs step the member
itself"):

* `vmap` -- accelerators, and members sharded over several devices. All members are batched in
  one program, so their small matmuls fill the device together. Batched matmuls sum in another
  order than a lone run's: members equal their lone runs to float32 round-off, not bitwise.
* `unrolled` -- MLPs on one CPU. The training epoch (`step.scan_members`) steps a group of up
  to `chunk_size` members as separate carries of one scan, each batch drawn once for the group,
  every member taking a lone run's step: bitwise its lone run, and faster than the members one
  after another because the batch draw is what they share. Everything else (evaluation) maps
  it like `map`.
* `map` -- conv models on one CPU, whose step dwarfs the batch draw that `unrolled` would
  share: one member after another in one program (`lax.map`), bitwise its lone run.

A group of one member (a lone run; each member under `map`) runs the member's own function,
not a vmap over a member axis of one: XLA:CPU would run its matmuls as batched matmuls, slower
and rounded differently, and `map` and `unrolled` would no longer give a lone run's bits.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

MEMBER_MAPS = ("vmap", "map", "unrolled")


def map_members(member_fn, member_map: str, shared_args=()):
    """member_fn(*member_args, *shared_args) for every member along the leading axis: all at
    once ('vmap') or one after another ('map', and 'unrolled' outside the training epoch)."""
    group_fn = _over_group(lambda *member_args: member_fn(*member_args, *shared_args))
    return over_groups(group_fn, lambda size: size if member_map == "vmap" else 1)


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
    member_fn on that member itself (the module docstring says why)."""
    vmapped = jax.vmap(member_fn)

    def group_fn(*member_args):
        if num_members(member_args) != 1:
            return vmapped(*member_args)
        out = member_fn(*member(member_args, 0))
        return jax.tree.map(lambda a: a[None], out)

    return group_fn


def chunk_size(num_members: int, largest: int = 8) -> int:
    """The largest divisor of num_members that is <= `largest` (an 'unrolled' group)."""
    return max(c for c in range(1, min(largest, num_members) + 1) if num_members % c == 0)


def resolve_member_map(member_map: str, architecture: str = "mlp") -> str:
    """'auto' -> the map the module docstring recommends: 'vmap' on accelerators or with
    members sharded over several devices (each device's share is one batch); on one CPU device
    'unrolled' for MLPs and 'map' for conv models."""
    if member_map == "auto":
        if jax.default_backend() != "cpu" or jax.device_count() > 1:
            return "vmap"
        return "map" if architecture == "conv" else "unrolled"
    return member_map
