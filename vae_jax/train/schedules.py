"""Learning-rate schedules: step -> multiplier of the member's base learning rate.

The base rate is an Hparams array (populations sweep it); the schedule's shape is static config.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

Schedule = Callable[[jax.Array], jax.Array]
LR_SCHEDULES = ("constant", "cosine", "burda")
# Schedules shaped by num_epochs: a workdir trained with one may not change num_epochs
# (checkpoints.check_or_write_config), or its resumed epochs would follow another curve.
SHAPED_BY_NUM_EPOCHS = ("cosine", "burda")


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
    # burda: config.lr_schedule is one of LR_SCHEDULES (validated in validation.py)
    multipliers, bounds = burda_epoch_multipliers(config.num_epochs)
    bounds = jnp.asarray([b * steps_per_epoch for b in bounds[:-1]], jnp.float32)
    multipliers = jnp.asarray(multipliers, jnp.float32)
    return lambda step: multipliers[jnp.searchsorted(bounds, step, side="right")]
