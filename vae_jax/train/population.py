"""Populations: many members of one static config trained as ONE compiled program.

A sweep in the config (`config.sweep = dict(beta=(1, 4), seed=(0, 1, 2))`) expands to one config
per member. Members whose static fields agree form a population: their Hparams and PRNG keys
are stacked on a leading member axis and the train step is mapped over that axis inside the
epoch scan (train.make_train_epoch). Members with other static fields (say model=ae vs vae)
form their own population with its own compiled program.
"""

from __future__ import annotations

import dataclasses
import itertools

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

    def member_labels(self) -> list[dict]:
        """What distinguishes each member, for logs: its Hparams and its seed."""
        return [dict({n: float(c[n]) for n in hparams_lib.FIELDS}, seed=int(c.seed))
                for c in self.configs]


# ----------------------------------------------------------------------------------- the sweep
def _sweep_items(config) -> dict[str, tuple]:
    sweep = config.get("sweep") or {}
    items = {}
    for name, values in dict(sweep).items():
        if values is None:
            continue
        if name not in hparams_lib.SWEEPABLE + STATIC_SWEEPABLE:
            raise ConfigError(
                f"config.sweep.{name}: {name!r} cannot be swept; sweepable fields are "
                f"{', '.join(hparams_lib.SWEEPABLE)} (one program) and "
                f"{', '.join(STATIC_SWEEPABLE)} (one program each). Run other variations as "
                "separate commands."
            )
        values = tuple(values) if isinstance(values, list | tuple) else (values,)
        if not values:
            raise ConfigError(f"config.sweep.{name} is empty; give at least one value or drop it")
        items[name] = values
    return items


def member_configs(config) -> list[ml_collections.ConfigDict]:
    """One full config per member of the sweep (the config itself when nothing is swept)."""
    items = _sweep_items(config)
    if config.sweep_mode not in SWEEP_MODES:
        raise ConfigError(f"unknown sweep_mode {config.sweep_mode!r}; choose product or zip")
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
    skip = set(hparams_lib.SWEEPABLE) | {"sweep", "sweep_mode"}
    flat = config.to_dict()
    return tuple(sorted((k, repr(v)) for k, v in flat.items() if k not in skip))


def split(config) -> list[Population]:
    """The sweep of `config` as populations, one per static signature, in sweep order."""
    groups: dict[tuple, list] = {}
    for member in member_configs(config):
        groups.setdefault(static_signature(member), []).append(member)
    varied = [n for n in _sweep_items(config) if n in STATIC_SWEEPABLE]
    populations = []
    for members in groups.values():
        name = "_".join(f"{n}-{_short(members[0][n])}" for n in varied) or "main"
        populations.append(Population(name=name, configs=tuple(members)))
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
