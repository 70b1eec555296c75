"""Where a population's arrays live: a ("members", "data") mesh over every device of the job.

A population of M members on N devices puts its member axis on "members" (the largest divisor
of M that divides N, unless config.mesh_members says otherwise) and splits each batch over
"data" (the devices left). A lone model on N devices is thus data-parallel, a population of
N members runs one member per device. The step stays one pure function: states are sharded
P("members") on their leading member axis, the training images are replicated, and the
batch drawn inside the epoch's scan is constrained to P("data") (`train.make_train_epoch`;
host input sends its chunks split over "data" and constrains each batch the same way).

On one device there is no mesh (`make_mesh` returns None) and every helper here leaves its
arguments as they were, so a one-device run is bit-identical to one without this module.
Several processes (`train.distributed`): every array is built from the host values that
each process holds (`jax.make_array_from_callback`), and only the shards of a process's own
devices are transferred.
"""

from __future__ import annotations

import math

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from vae_jax.errors import ConfigError

AXES = ("members", "data")


def mesh_shape(num_members: int, num_devices: int, mesh_members: int = 0,
               mesh_data: int = 0) -> tuple[int, int]:
    """(members, data) extents. 0 = automatic: members first (the largest divisor of the member
    count that divides the devices left), the remaining devices to data."""
    if mesh_data and num_devices % mesh_data:
        raise ConfigError(f"mesh_data={mesh_data} does not divide the {num_devices} devices; "
                          "choose a divisor or 0 (automatic)")
    members = mesh_members or math.gcd(num_members, num_devices // (mesh_data or 1))
    data = mesh_data or num_devices // members
    if num_members % members:
        raise ConfigError(f"mesh_members={members} does not divide the population's "
                          f"{num_members} members; choose a divisor or 0 (automatic)")
    if members * data > num_devices:
        raise ConfigError(f"a {members} x {data} (members x data) mesh needs {members * data} "
                          f"devices; {num_devices} are present. Lower --config.mesh_members / "
                          "--config.mesh_data (0 = automatic)")
    return members, data


def make_mesh(num_members: int, config) -> Mesh | None:
    """The population's ("members", "data") mesh; None when it would hold one device."""
    devices = jax.devices()  # ordered by process: "members" splits across processes first
    members, data = mesh_shape(num_members, len(devices), config.mesh_members, config.mesh_data)
    if members * data == 1:
        return None
    if jax.process_count() > 1 and members * data != len(devices):
        raise ConfigError(f"a {members} x {data} mesh leaves devices of a {len(devices)}-device, "
                          f"{jax.process_count()}-process job idle; every process must take "
                          "part: set --config.mesh_members x --config.mesh_data to all devices")
    if config.batch_size % data:
        raise ConfigError(f"batch_size={config.batch_size} does not split over {data} data "
                          "devices; choose a multiple or another --config.mesh_data")
    shards = config.get("grad_shards", 0)  # absent from workdirs made before it existed
    if shards and shards % data:
        raise ConfigError(f"grad_shards={shards} groups do not split over {data} data devices; "
                          f"choose a multiple of {data} or a --config.mesh_data that divides "
                          f"{shards}")
    return Mesh(np.array(devices[: members * data]).reshape(members, data), AXES)


def sharding(mesh: Mesh | None, *spec) -> NamedSharding | None:
    """NamedSharding(mesh, P(*spec)), or None without a mesh."""
    return None if mesh is None else NamedSharding(mesh, PartitionSpec(*spec))


def device_processes(mesh: Mesh) -> np.ndarray:
    """[members, data]: the process of each of the mesh's devices."""
    return np.vectorize(lambda device: device.process_index, otypes=[int])(mesh.devices)


def put(tree, target: NamedSharding):
    """Every leaf of `tree` (host or local values, the same in every process) as a global
    array with sharding `target`; each process transfers only its own devices' shards."""

    def leaf(x):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(leaf(jax.random.key_data(x)),
                                            impl=jax.random.key_impl(x))
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, target, lambda index: host[index])

    return jax.tree.map(leaf, tree)


def shard_members(tree, mesh: Mesh | None):
    """Places the leading (member) axis of every leaf across the mesh's "members" axis."""
    if mesh is None:
        return tree
    return put(tree, sharding(mesh, "members"))


def replicate(tree, mesh: Mesh | None):
    if mesh is None:
        return jax.device_put(tree)
    return put(tree, sharding(mesh))


def replicate_like(host, like: jax.Array):
    """`host` replicated over the devices that hold `like` (as `replicate` did for it)."""
    mesh = getattr(like.sharding, "mesh", None)
    return replicate(host, mesh if isinstance(mesh, Mesh) else None)


def constrain_batch(x: jax.Array, batch_sharding: NamedSharding | None) -> jax.Array:
    """Inside jit: splits a batch [B, ...] over the "data" devices (unchanged without a mesh)."""
    if batch_sharding is None:
        return x
    return jax.lax.with_sharding_constraint(x, batch_sharding)


def jit(fn, mesh: Mesh | None, out_specs, **kwargs):
    """jax.jit(fn), with outputs placed by `out_specs` (a PartitionSpec prefix tree) on a mesh.

    Results read on the host (metrics, scores, codes) are replicated, so every process can
    read them; states keep P("members")."""
    if mesh is None:
        return jax.jit(fn, **kwargs)
    shardings = jax.tree.map(lambda spec: NamedSharding(mesh, spec), out_specs,
                             is_leaf=lambda s: isinstance(s, PartitionSpec))
    return jax.jit(fn, out_shardings=shardings, **kwargs)


def to_host(tree):
    """`tree` with every array readable by this process: arrays spread over several
    processes are gathered (a collective: every process must call it); others are kept."""

    def leaf(x):
        if not isinstance(x, jax.Array) or x.is_fully_addressable or x.is_fully_replicated:
            return x
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(leaf(jax.random.key_data(x)),
                                            impl=jax.random.key_impl(x))
        return multihost_utils.process_allgather(x, tiled=True)

    return jax.tree.map(leaf, tree)
