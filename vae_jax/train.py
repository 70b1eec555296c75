"""The train step, one epoch as a `lax.scan`, and the optimiser.

Everything here is pure. The learning rate is NOT inside the optimiser: `tx` only scales
gradients the Adam way, and the step multiplies by `hparams.learning_rate * schedule(step)`,
so the learning rate is an array that a population can vary member by member.

An epoch always runs a population (a leading member axis on `state`, `keys` and `hparams`;
a single run is a population of one). The batch is drawn once per step and shared by every
member, so member i sees exactly the batches the same config trained alone would see.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from vae_jax import data
from vae_jax.errors import ConfigError
from vae_jax.hparams import Hparams

Schedule = Callable[[jax.Array], jax.Array]
LR_SCHEDULES = ("constant", "cosine", "burda")
MEMBER_MAPS = ("vmap", "map", "chunked", "unrolled")


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: dict
    opt_state: optax.OptState


def make_optimizer(config) -> optax.GradientTransformation:
    """Adam's gradient scaling (the learning rate is applied by the step, see module doc)."""
    return optax.scale_by_adam(b1=config.adam_b1, b2=config.adam_b2, eps=config.adam_eps)


def burda_stage_epochs(num_epochs: int) -> list[float]:
    """Lengths in epochs of the 8 stages of Burda et al. (2015): 3^i epochs at 10^(-i/7) times
    the base rate, i = 0..7 (3,280 epochs in all).

    A shorter budget (the reproduction's `budget` option) keeps the 8 stages and their rates
    and shrinks the growth factor 3 to the b with sum_i b^i = num_epochs: shrinking every stage
    by the same factor would leave a short run almost all of its epochs at the lowest rates
    (a 60-epoch budget would spend 1.5 epochs above 4e-4). Below 8 epochs the stages are equal.
    """
    if num_epochs >= 3280:
        return [3**i * num_epochs / 3280 for i in range(8)]
    if num_epochs <= 8:
        return [num_epochs / 8] * 8
    low, high = 1.0, 3.0
    for _ in range(60):  # bisection on the growth factor
        growth = (low + high) / 2
        if sum(growth**i for i in range(8)) < num_epochs:
            low = growth
        else:
            high = growth
    return [growth**i * num_epochs / sum(growth**j for j in range(8)) for i in range(8)]


def burda_epoch_multipliers(num_epochs: int) -> tuple[list[float], list[float]]:
    """(learning-rate multiplier of each stage, epoch at which each stage ends)."""
    bounds = np.cumsum(burda_stage_epochs(num_epochs)).tolist()
    return [10 ** (-i / 7) for i in range(8)], bounds


def make_schedule(config, steps_per_epoch: int) -> Schedule:
    """step -> multiplier of the base learning rate. Its shape is static config."""
    total = max(1, config.num_epochs * steps_per_epoch)
    if config.lr_schedule == "constant":
        return lambda step: jnp.ones((), jnp.float32)
    if config.lr_schedule == "cosine":
        return lambda step: 0.5 * (1 + jnp.cos(jnp.pi * jnp.minimum(step / total, 1.0)))
    if config.lr_schedule == "burda":
        multipliers, bounds = burda_epoch_multipliers(config.num_epochs)
        bounds = jnp.asarray([b * steps_per_epoch for b in bounds[:-1]], jnp.float32)
        multipliers = jnp.asarray(multipliers, jnp.float32)
        return lambda step: multipliers[jnp.searchsorted(bounds, step, side="right")]
    raise ConfigError(
        f"unknown lr_schedule {config.lr_schedule!r}; choose one of {', '.join(LR_SCHEDULES)}"
    )


def create_state(key: jax.Array, model, tx, image_shape, output_bias=None) -> TrainState:
    """Fresh parameters and optimiser state for one member.

    `output_bias` (optional, [H, W, C] logits) initialises the decoder's output bias, e.g. to
    the logit of the training-set mean pixel (Burda et al.), which removes a slow first phase.
    """
    init_key, noise_key = jax.random.split(key)
    dummy = jnp.zeros((1, *image_shape), jnp.float32)
    params = model.init(init_key, dummy, noise_key)["params"]
    if output_bias is not None:
        params = set_output_bias(params, output_bias)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))


def set_output_bias(params: dict, output_bias: jax.Array) -> dict:
    """Sets the decoder's last bias (MLP only: a conv decoder's bias is per channel)."""
    decoder = dict(params["decoder"])
    if "output" not in decoder:
        raise ConfigError("output bias initialisation needs the MLP decoder (architecture=mlp)")
    layer = dict(decoder["output"])
    layer["bias"] = jnp.asarray(output_bias, jnp.float32).reshape(layer["bias"].shape)
    decoder["output"] = layer
    return {**params, "decoder": decoder}


def train_step(state: TrainState, x: jax.Array, key: jax.Array, hparams: Hparams, *,
               loss_fn, tx, schedule: Schedule) -> tuple[TrainState, dict[str, jax.Array]]:
    """One gradient step of one member. `key` is the member's train key; the step's own key is
    `fold_in(key, step)`, so no key is carried and a resumed run draws the same keys."""
    step_key = jax.random.fold_in(key, state.step)
    grads, metrics = jax.grad(loss_fn, has_aux=True)(state.params, x, step_key, hparams,
                                                     state.step)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    lr = hparams.learning_rate * schedule(state.step)
    params = jax.tree.map(lambda p, u: p - lr * u, state.params, updates)
    new_state = TrainState(step=state.step + 1, params=params, opt_state=opt_state)
    return new_state, metrics


def map_members(member_fn, member_map: str, shared_args=()):
    """member_fn(*member_args, *shared_args) for every member along the leading axis.

    'vmap' runs all members at once (wide batched matmuls; best on accelerators and with
    members sharded over devices). 'map' runs one member at a time inside the same compiled
    program (`lax.map`), so each member runs exactly the arithmetic of a lone run. 'chunked'
    vmaps chunks of up to 8 members, one chunk after another, which bounds the memory of the
    batched arithmetic. 'unrolled' only changes the training epoch (`make_train_epoch`);
    everything else maps it like 'map'. `resolve_member_map` has the measured speeds.
    """
    if member_map not in MEMBER_MAPS:
        raise ConfigError(
            f"unknown member_map {member_map!r}; choose one of {', '.join(MEMBER_MAPS)}"
        )
    group_fn = _over_group(lambda *member_args: member_fn(*member_args, *shared_args))
    return _over_groups(group_fn, lambda size: _group_size(member_map, size))


def _group_size(member_map: str, num_members: int) -> int:
    """Members that `map_members` takes together ('unrolled' only groups the train epoch)."""
    return {"vmap": num_members, "chunked": chunk_size(num_members), "map": 1,
            "unrolled": 1}[member_map]


def _num_members(tree) -> int:
    return jax.tree.leaves(tree)[0].shape[0]


def member(tree, index: int):
    """Member `index` of a stacked pytree (a state, Hparams or keys)."""
    return jax.tree.map(lambda a: a[index], tree)


def stack_members(members):
    """[pytree, ...] -> one pytree with a leading member axis."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *members)


def _over_groups(group_fn, group_of: Callable[[int], int]):
    """group_fn over consecutive groups of `group_of(num_members)` members, one group after
    another (`lax.map`); group_fn takes and returns arrays with a leading axis of one group."""

    def mapped(*member_args):
        size = _num_members(member_args)
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
    MLP step than the plain one (experiments/throughput.py) and rounded differently."""
    vmapped = jax.vmap(member_fn)

    def group_fn(*member_args):
        if _num_members(member_args) != 1:
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
    batch (gather and Bernoulli draw) once for up to 8 members: 1.11x-1.49x / 1.02x-1.17x
    the speed of 8 / 32 MLP members one after another, where vmapped chunks (batched matmuls)
    ran at 0.94x / 0.96x. A conv step dwarfs its batch draw: conv 'map' 0.98x-1.01x /
    1.01x-1.05x (experiments/throughput.py, 2-core CPU, several runs)."""
    if member_map == "auto":
        if jax.default_backend() != "cpu" or jax.device_count() > 1:
            return "vmap"
        return "map" if architecture == "conv" else "unrolled"
    if member_map not in MEMBER_MAPS:
        raise ConfigError(
            f"unknown member_map {member_map!r}; choose auto, {', '.join(MEMBER_MAPS)}"
        )
    return member_map


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    if batch_size > num_examples:
        raise ConfigError(
            f"batch_size={batch_size} exceeds the {num_examples} training examples; "
            "lower --config.batch_size"
        )
    return num_examples // batch_size  # the last partial batch is dropped, as usual


def make_train_epoch(loss_fn, tx, schedule: Schedule, *, batch_size: int,
                     dynamic_binarization: bool, member_map: str):
    """-> epoch_fn(states, images, epoch, data_key, train_keys, hparams) -> (states, metrics).

    `images` are the device-resident uint8 training images. The permutation of the epoch is
    drawn from `fold_in(data_key, epoch)`, the binarisation of step t from `fold_in(., t)`.
    Returned metrics are per member, averaged over the epoch's steps.
    """

    step = functools.partial(train_step, loss_fn=loss_fn, tx=tx, schedule=schedule)

    def epoch_fn(states, images, epoch, data_key, train_keys, hparams):
        num_steps = steps_per_epoch(images.shape[0], batch_size)
        perm_key, binarize_key = jax.random.split(jax.random.fold_in(data_key, epoch))
        perm = jax.random.permutation(perm_key, images.shape[0])

        def batch(i):
            idx = jax.lax.dynamic_slice_in_dim(perm, i * batch_size, batch_size)
            bin_key = jax.random.fold_in(binarize_key, i) if dynamic_binarization else None
            return data.to_float(images[idx], bin_key)

        def epoch_means(metrics):
            return jax.tree.map(lambda m: m.mean(axis=0), metrics)

        # One member's whole epoch. Mapped over a group of members, the batch (which does not
        # depend on the member) is drawn once per step and shared by the group; a group runs
        # its whole epoch before the next group starts: mapping groups inside every step
        # instead would slice and restack all members' parameters and Adam moments at each
        # step (0.73x sequential speed for 32 MLP members on CPU). Each group draws the
        # batches itself (the same draws): keeping an epoch of draws would hold another copy
        # of the training set.
        def member_epoch(state, key, member_hparams):
            state, metrics = jax.lax.scan(
                lambda state, i: step(state, batch(i), key, member_hparams),
                state, jnp.arange(num_steps))
            return state, epoch_means(metrics)

        # 'unrolled': a group's members are separate carries of one scan (so nothing is sliced
        # or restacked per step); each step draws the batch once and steps every member on it
        # with a lone run's own arithmetic (plain matmuls, not batched ones).
        def unrolled_group_epoch(states, keys, hparams):
            # Members only fold their key in, but slicing a key array marks it consumed for
            # jax_debug_key_reuse: slice a clone.
            keys = jax.random.clone(keys)
            indices = range(_num_members(states))
            fixed = [(member(keys, j), member(hparams, j)) for j in indices]

            def group_step(member_states, i):
                x = batch(i)
                stepped = [step(state, x, key, member_hparams) for state, (key, member_hparams)
                           in zip(member_states, fixed, strict=True)]
                return tuple(s for s, _ in stepped), tuple(m for _, m in stepped)

            final, metrics = jax.lax.scan(group_step, tuple(member(states, j) for j in indices),
                                          jnp.arange(num_steps))
            # Each member's metrics are averaged on their own, like a lone run's.
            means = [epoch_means(m) for m in metrics]
            return stack_members(final), stack_members(means)

        if member_map == "unrolled":
            return _over_groups(unrolled_group_epoch, chunk_size)(states, train_keys, hparams)
        return map_members(member_epoch, member_map)(states, train_keys, hparams)

    return epoch_fn


def epoch_of(step: int, steps_in_epoch: int) -> int:
    return math.floor(step / steps_in_epoch)
