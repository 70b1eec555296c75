"""Populations: many members of one static config trained as ONE compiled program.

A sweep in the config (`config.sweep = dict(beta=(1, 4), seed=(0, 1, 2))`) expands to one config
per member. Members whose static fields agree form a population: their Hparams and PRNG keys
are stacked on a leading member axis and the train step is mapped over that axis inside the
epoch scan (train.make_train_epoch). Members with other static fields (say model=ae vs vae)
form their own population with its own compiled program.

A study too large for one job is cut into slices (`config.sweep_slice = "i/N"`): slice i keeps
the members whose index in the full sweep falls in the i-th of N contiguous blocks. Each member
keeps its config, seed and index (`Population.indices`), so it trains to the same numbers in
any slice; contiguous blocks keep a slice's members in few populations (few programs).
"""

from __future__ import annotations

import dataclasses
import itertools
import re

import jax
import jax.numpy as jnp
import ml_collections

from vae_jax import hparams as hparams_lib
from vae_jax import streams
from vae_jax.errors import ConfigError
from vae_jax.train import step as train_step_lib
from vae_jax.train.members import stack_members

# Static fields that a sweep may vary: each value gets a population (a program) of its own.
STATIC_SWEEPABLE = ("model", "architecture", "latents", "hidden", "likelihood", "activation",
                    "objective", "iwae_samples", "corruption", "code_activation")
SWEEP_MODES = ("product", "zip")


@dataclasses.dataclass(frozen=True)
class Population:
    """Members sharing one static config. `configs[i]` is member i's full config."""

    name: str
    configs: tuple[ml_collections.ConfigDict, ...]
    # Each member's index in the full sweep (member_configs' order), whatever the slice.
    indices: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        return len(self.configs)

    @property
    def static_config(self) -> ml_collections.ConfigDict:
        return self.configs[0]

    def hparams(self) -> hparams_lib.Hparams:
        return stack_members([hparams_lib.from_config(c) for c in self.configs])

    def keys(self) -> streams.MemberKeys:
        # Derived under vmap rather than stacked: stacking typed keys marks them consumed for
        # the key-reuse checker, and the values are the same as streams.member_keys(seed).
        seeds = jnp.asarray([int(c.seed) for c in self.configs], jnp.uint32)
        return jax.vmap(streams.member_keys)(seeds)

    def sweep_index(self, member: int) -> int:
        return self.indices[member] if self.indices else member

    def member_labels(self) -> list[dict]:
        """What distinguishes each member, for logs: its Hparams and its seed."""
        return [dict({n: float(c[n]) for n in hparams_lib.FIELDS}, seed=int(c.seed))
                for c in self.configs]


# ----------------------------------------------------------------------------------- the sweep
def _sweep_items(config) -> dict[str, tuple]:
    """{field: its values}; which fields may be swept, and with at least one value each, is
    checked in validation.py."""
    sweep = config.get("sweep") or {}
    return {name: tuple(values) if isinstance(values, list | tuple) else (values,)
            for name, values in dict(sweep).items() if values is not None}


def member_configs(config) -> list[ml_collections.ConfigDict]:
    """One full config per member of the sweep (the config itself when nothing is swept)."""
    items = _sweep_items(config)
    names = list(items)
    if config.sweep_mode == "zip":
        lengths = {n: len(v) for n, v in items.items()}
        if len(set(lengths.values())) > 1:
            raise ConfigError(f"sweep_mode=zip needs equally long value lists, got {lengths}")
        combos = list(zip(*items.values(), strict=True)) if items else [()]
    else:
        combos = list(itertools.product(*items.values()))
    members = []
    for combo in combos:
        member = ml_collections.ConfigDict(config.to_dict())
        for name, value in zip(names, combo, strict=True):
            member[name] = type(config[name])(value) if config[name] is not None else value
        _check_ramp_units(member)
        members.append(member)
    return members


def _check_ramp_units(member) -> None:
    for epochs, steps in hparams_lib.EPOCH_FIELDS.items():
        if member.get(epochs, 0.0) > 0 and member[steps] > 0:  # (absent: an older config.json)
            raise ConfigError(f"{epochs}={member[epochs]} and {steps}={member[steps]} give the "
                              "same ramp twice; set one of them (the other 0)")


def in_steps(population: Population, steps_per_epoch: int) -> Population:
    """`population` with the ramps given in epochs (hparams.EPOCH_FIELDS) written into the steps
    fields the training step reads, now that the dataset's size fixes the steps per epoch."""
    configs = []
    for config in population.configs:
        config = ml_collections.ConfigDict(config.to_dict())
        for epochs, steps in hparams_lib.EPOCH_FIELDS.items():
            if config.get(epochs, 0.0) > 0:
                config[steps] = float(config[epochs] * steps_per_epoch)
        configs.append(config)
    return dataclasses.replace(population, configs=tuple(configs))


def static_signature(config) -> tuple:
    """All fields that shape the compiled program (everything but Hparams, seed and the sweep)."""
    skip = set(hparams_lib.SWEEPABLE) | {"sweep", "sweep_mode", "sweep_slice"}
    flat = config.to_dict()
    return tuple(sorted((k, repr(v)) for k, v in flat.items() if k not in skip))


def parse_slice(text: str) -> tuple[int, int] | None:
    """(i, N) of a sweep_slice "i/N", None for "" (the whole sweep); ConfigError otherwise."""
    if not text:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match:
        raise ConfigError(f"config.sweep_slice={text!r}: expected 'i/N' (slice i of N, "
                          "counted from 0), e.g. --config.sweep_slice=0/4")
    index, count = int(match[1]), int(match[2])
    if not 0 <= index < count:
        raise ConfigError(f"config.sweep_slice={text!r}: need 0 <= i < N")
    return index, count


def slice_indices(num_members: int, sweep_slice: str) -> range:
    """The sweep indices of `sweep_slice`'s members: the i-th of N contiguous blocks, sizes
    differing by at most one; every index is in exactly one slice."""
    parsed = parse_slice(sweep_slice)
    if parsed is None:
        return range(num_members)
    index, count = parsed
    if count > num_members:
        raise ConfigError(f"config.sweep_slice={sweep_slice!r}: {count} slices of a sweep of "
                          f"{num_members} members would leave some empty; use N <= "
                          f"{num_members}")
    return range(index * num_members // count, (index + 1) * num_members // count)


def split(config, whole: bool = False) -> list[Population]:
    """The sweep of `config` as populations, one per static signature, in sweep order: the
    members of config.sweep_slice, or of the whole sweep when `whole`."""
    members = member_configs(config)
    kept = (range(len(members)) if whole
            else slice_indices(len(members), config.get("sweep_slice", "")))
    groups: dict[tuple, list] = {}
    for index in kept:
        groups.setdefault(static_signature(members[index]), []).append(index)
    varied = [n for n in _sweep_items(config) if n in STATIC_SWEEPABLE]
    populations = []
    for indices in groups.values():
        first = members[indices[0]]
        name = "_".join(f"{n}-{_short(first[n])}" for n in varied) or "main"
        populations.append(Population(name=name, configs=tuple(members[i] for i in indices),
                                      indices=tuple(indices)))
    return populations


def _short(value) -> str:
    if isinstance(value, tuple | list):
        return "x".join(str(v) for v in value)
    return str(value)


# ------------------------------------------------------------------------ states on the devices
def init_states(population: Population, model, tx, image_shape, output_bias=None):
    """Stacked TrainStates: `create_state` vmapped over the members' init keys."""
    create = lambda key: train_step_lib.create_state(key, model, tx, image_shape, output_bias)  # noqa: E731
    return jax.jit(jax.vmap(create))(population.keys().init)
