"""Training: the train state and step, the epoch scan, learning-rate schedules, member maps,
populations, and where their arrays live (mesh) and how much memory they take."""

from vae_jax.train.members import (
    MEMBER_MAPS,
    chunk_size,
    map_members,
    member,
    resolve_member_map,
    stack_members,
)
from vae_jax.train.schedules import (
    LR_SCHEDULES,
    Schedule,
    burda_epoch_multipliers,
    burda_stage_epochs,
    make_schedule,
)
from vae_jax.train.step import (
    TrainState,
    create_state,
    make_optimizer,
    make_train_epoch,
    set_output_bias,
    steps_per_epoch,
    train_step,
)

__all__ = [
    "LR_SCHEDULES", "MEMBER_MAPS", "Schedule", "TrainState", "burda_epoch_multipliers",
    "burda_stage_epochs", "chunk_size", "create_state", "make_optimizer", "make_schedule",
    "make_train_epoch", "map_members", "member", "resolve_member_map", "set_output_bias",
    "stack_members", "steps_per_epoch", "train_step",
]
