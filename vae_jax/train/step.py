"""The train state, the train step, one epoch as a `lax.scan`, and the optimiser.

Everything here is pure. The learning rate is NOT inside the optimiser: `tx` only scales
gradients the Adam way, and the step multiplies by `hparams.learning_rate * schedule(step)`,
so the learning rate is an array that a population can vary member by member.

An epoch always runs a population (a leading member axis on `state`, `keys` and `hparams`;
a single run is a population of one). The batch is drawn once per step and shared by every
member, so member i sees exactly the batches the same config trained alone would see.
"""

from __future__ import annotations

import functools

import flax.struct
import jax
import jax.numpy as jnp
import optax

from vae_jax import data
from vae_jax.errors import ConfigError
from vae_jax.hparams import Hparams
from vae_jax.train import members
from vae_jax.train.members import member, stack_members
from vae_jax.train.schedules import Schedule


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: dict
    opt_state: optax.OptState


def make_optimizer(config) -> optax.GradientTransformation:
    """Adam's gradient scaling (the learning rate is applied by the step, see module doc)."""
    return optax.scale_by_adam(b1=config.adam_b1, b2=config.adam_b2, eps=config.adam_eps)


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
    # Parameters a loss sets rather than trains (a VQ-VAE's EMA codebook): they get zero
    # gradients, so Adam leaves them unchanged, and are replaced after the step.
    state_updates = metrics.pop("state_updates", {})
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    lr = hparams.learning_rate * schedule(state.step)
    params = jax.tree.map(lambda p, u: p - lr * u, state.params, updates)
    params = {**params, **state_updates} if state_updates else params
    new_state = TrainState(step=state.step + 1, params=params, opt_state=opt_state)
    return new_state, metrics


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
            indices = range(members.num_members(states))
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
            by_chunks = members.over_groups(unrolled_group_epoch, members.chunk_size)
            return by_chunks(states, train_keys, hparams)
        return members.map_members(member_epoch, member_map)(states, train_keys, hparams)

    return epoch_fn
