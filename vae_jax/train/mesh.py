"""Where a population's arrays live: its member axis spread over the local devices."""

from __future__ import annotations

import math

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def member_mesh(num_members: int) -> Mesh | None:
    """A 1-D mesh over as many devices as divide the member count (None on one device)."""
    devices = jax.devices()
    usable = math.gcd(num_members, len(devices))
    if usable <= 1:
        return None
    return Mesh(np.array(devices[:usable]), ("members",))


def shard_members(tree, mesh: Mesh | None):
    """Places the leading (member) axis of every leaf across the mesh; replicas otherwise."""
    if mesh is None:
        return tree
    sharding = NamedSharding(mesh, PartitionSpec("members"))
    return jax.device_put(tree, sharding)


def replicate(tree, mesh: Mesh | None):
    if mesh is None:
        return jax.device_put(tree)
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))
