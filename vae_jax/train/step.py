"""The train state, the train step, one epoch as a `lax.scan`, and the optimiser.

Everything here is pure. The learning rate is NOT inside the optimiser: `tx` only scales
gradients the Adam way, and the step multiplies by `hparams.learning_rate * schedule(step)`,
so the learning rate is an array that a population can vary member by member.

An epoch always runs a population (a leading member axis on `state`, `keys` and `hparams`;
a single run is a population of one). The batch is drawn once per step and shared by every
member, so member i sees exactly the batches the same config trained alone would see.
"""

from __future__ import annotations

import dataclasses
import functools

import flax.struct
import jax
import jax.numpy as jnp
import optax

from vae_jax import data, streams
from vae_jax.errors import ConfigError
from vae_jax.hparams import Hparams
from vae_jax.train import grad_shards as grad_shards_lib
from vae_jax.train import members, mesh
from vae_jax.train.members import member, stack_members
from vae_jax.train.schedules import Schedule


@flax.struct.dataclass
class TrainState:
    """`diverged_step`: -1 while the member trains; else the step whose loss was not finite,
    from which on its params, Adam state and step stay as they were (a population's other
    members train on, see `train_step`)."""

    step: jax.Array
    params: dict
    opt_state: optax.OptState
    diverged_step: jax.Array = dataclasses.field(
        default_factory=lambda: jnp.full((), -1, jnp.int32))


def make_optimizer(config) -> optax.GradientTransformation:
    """Adam's gradient scaling (the learning rate is applied by the step, see module doc).

    FactorVAE's discriminator gets Adam with Kim & Mnih's (0.5, 0.9) moments, the rest of the
    model the configured ones; both at the member's learning rate, as in the paper.
    """
    adam = optax.scale_by_adam(b1=config.adam_b1, b2=config.adam_b2, eps=config.adam_eps)
    if config.objective != "factor_vae":
        return adam
    discriminator_adam = optax.scale_by_adam(b1=0.5, b2=0.9, eps=config.adam_eps)
    return optax.multi_transform(
        {"model": adam, "discriminator": discriminator_adam},
        lambda params: {k: "discriminator" if k == "discriminator" else "model" for k in params})


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
    layer = dict(decoder["output"])
    layer["bias"] = jnp.asarray(output_bias, jnp.float32).reshape(layer["bias"].shape)
    decoder["output"] = layer
    return {**params, "decoder": decoder}


def train_step(state: TrainState, x: jax.Array, key: jax.Array, hparams: Hparams, *,
               loss_fn, tx, schedule: Schedule,
               grad_fn=None) -> tuple[TrainState, dict[str, jax.Array]]:
    """One gradient step of one member. `key` is the member's train key; the step's own key is
    `fold_in(key, step)`, so no key is carried and a resumed run draws the same keys.
    `grad_fn` (params, x, key, hparams, step) -> (grads, metrics) replaces the plain
    `jax.grad(loss_fn)`, e.g. by the fixed-order gradient of `grad_shards.make_gradient`.

    A member whose loss is not finite is frozen instead (see `TrainState`)."""
    step_key = jax.random.fold_in(key, state.step)
    grad_fn = grad_fn or jax.grad(loss_fn, has_aux=True)
    grads, metrics = grad_fn(state.params, x, step_key, hparams, state.step)
    # Parameters a loss sets rather than trains (a VQ-VAE's EMA codebook): they get zero
    # gradients, so Adam leaves them unchanged, and are replaced after the step.
    state_updates = metrics.pop("state_updates", {})

    def update(state):
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        lr = hparams.learning_rate * schedule(state.step)
        params = jax.tree.map(lambda p, u: p - lr * u, state.params, updates)
        params = {**params, **state_updates} if state_updates else params
        return state.replace(step=state.step + 1, params=params, opt_state=opt_state)

    def freeze(state):
        return state.replace(diverged_step=jnp.where(state.diverged_step < 0, state.step,
                                                     state.diverged_step))

    # A branch, not a select of the two states: the update stays in place (selecting kept
    # the old parameters and Adam moments alive: ~2 copies of them per step on XLA:CPU), and
    # a healthy member runs exactly the plain update (bitwise a lone run).
    # The loss alone is checked: checking every gradient too cost ~4% of an MNIST MLP step
    # (CPU time); a finite loss with non-finite gradients freezes the member one step later.
    ok = (state.diverged_step < 0) & jnp.isfinite(metrics["loss"])
    return jax.lax.cond(ok, update, freeze, state), metrics


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    if batch_size > num_examples:
        raise ConfigError(
            f"batch_size={batch_size} exceeds the {num_examples} training examples; "
            "lower --config.batch_size"
        )
    return num_examples // batch_size  # the last partial batch is dropped, as usual


def make_train_epoch(loss_fn, tx, schedule: Schedule, *, batch_size: int,
                     dynamic_binarization: bool, member_map: str, batch_sharding=None,
                     grad_shards: int = 0):
    """-> epoch_fn(states, images, epoch, data_key, train_keys, hparams) -> (states, metrics).

    `images` are the device-resident uint8 training images; `data_key` is
    `streams.data_key(data_seed)`. The epoch's permutation and binarisation keys are
    `streams.epoch_keys(data_key, epoch)`, the binarisation of step t `fold_in(binarize_key, t)`.
    Returned metrics are per member, averaged over the epoch's steps. `batch_sharding`
    (a mesh's P("data"), see train.mesh) splits each batch over the data devices;
    `grad_shards` > 0 sums the gradient in a fixed order (train/grad_shards.py).
    """
    grad_fn = grad_shards_lib.make_gradient(
        loss_fn, grad_shards, None if batch_sharding is None else batch_sharding.mesh)
    step = functools.partial(train_step, loss_fn=loss_fn, tx=tx, schedule=schedule,
                             grad_fn=grad_fn)

    def epoch_fn(states, images, epoch, data_key, train_keys, hparams):
        num_steps = steps_per_epoch(images.shape[0], batch_size)
        perm_key, binarize_key = streams.epoch_keys(data_key, epoch)
        perm = jax.random.permutation(perm_key, images.shape[0])

        def batch(i):
            idx = jax.lax.dynamic_slice_in_dim(perm, i * batch_size, batch_size)
            bin_key = jax.random.fold_in(binarize_key, i) if dynamic_binarization else None
            return mesh.constrain_batch(data.to_float(images[idx], bin_key), batch_sharding)

        return scan_members(step, batch, num_steps, member_map, epoch_means)(
            states, train_keys, hparams)

    return epoch_fn


def epoch_means(metrics):
    """Per-step metrics [steps] -> their means over the steps."""
    return jax.tree.map(lambda m: m.mean(axis=0), metrics)


def scan_members(step, batch, num_steps: int, member_map: str, reduce):
    """-> fn(states, train_keys, hparams) -> (states, metrics): every member steps through the
    batches `batch(i)`, i = 0..num_steps-1, with `reduce` applied to its per-step metrics.

    Shared by the device-resident epoch and the host-fed chunks (train/host_epoch.py), so that
    both run the very same arithmetic.
    """

    # One member's whole scan. Mapped over a group of members, the batch (which does not
    # depend on the member) is drawn once per step and shared by the group; a group runs
    # its whole epoch before the next group starts: mapping groups inside every step
    # instead would slice and restack all members' parameters and Adam moments at each
    # step (slower than members one after another, docs/performance.md). Each group draws the
    # batches itself (the same draws): keeping an epoch of draws would hold another copy
    # of the training set.
    def member_epoch(state, key, member_hparams):
        state, metrics = jax.lax.scan(
            lambda state, i: step(state, batch(i), key, member_hparams),
            state, jnp.arange(num_steps))
        return state, reduce(metrics)

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
        # Each member's metrics are reduced on their own, like a lone run's.
        return stack_members(final), stack_members([reduce(m) for m in metrics])

    # Which map when: train/members.py's docstring.
    if member_map == "unrolled":
        return members.over_groups(unrolled_group_epoch, members.chunk_size)
    return members.map_members(member_epoch, member_map)
