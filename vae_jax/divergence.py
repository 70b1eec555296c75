"""Members whose training diverged (a non-finite loss): found, reported, isolated.

The train step freezes such a member where it was (`TrainState.diverged_step` >= 0) while the
other members of its population train on, bitwise as they would alone. Here, on the host: a
lone run, or a population whose members have all diverged, stops with `NonFiniteLossError`
(nothing left to train; the last good checkpoint is kept); otherwise a warning names the
member, its log records say `diverged_at_step` and carry NaN for every metric, and its
evaluation scores are kept out of the population-wide computations that would choke on them.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np
from absl import logging

from vae_jax.errors import NonFiniteLossError
from vae_jax.train import mesh


def diverged_steps(states) -> np.ndarray:
    """[M] int: the step at which each member diverged, -1 for the members still training."""
    # Gathered first: with several processes each holds only its devices' members.
    return np.asarray(jax.device_get(mesh.to_host(states.diverged_step)))


def check(steps: np.ndarray, before: np.ndarray, losses, population, epoch: int,
          last_good: Callable[[], int | None], workdir: str) -> None:
    """Raises NonFiniteLossError when no member is left training; warns about the members
    that diverged in this epoch (`before`: their steps at its start)."""
    bad = np.flatnonzero(steps >= 0)
    if not bad.size:
        return
    labels = population.member_labels()
    who = "; ".join(f"member {i} {labels[i]} at step {steps[i]}" for i in bad[:4])
    if bad.size == population.size:
        epoch_of_checkpoint = last_good()
        kept = (f"the last good checkpoint (epoch {epoch_of_checkpoint}) is kept in {workdir}"
                if epoch_of_checkpoint else "no checkpoint had been written yet")
        raise NonFiniteLossError(
            f"non-finite training loss (epoch loss {np.asarray(losses)[bad[0]]}) "
            f"in epoch {epoch + 1} for {who}. Training stopped and {kept}. Lower "
            "--config.learning_rate (or beta), or check the data for NaNs."
        )
    for i in np.flatnonzero((steps >= 0) & (before < 0)):
        logging.warning(
            "population %s: member %d %s diverged at step %d (non-finite loss); "
            "it is frozen there and logged with NaN metrics, the other members train on",
            population.name, i, labels[i], steps[i])


def mark(records: list[dict], steps: np.ndarray) -> None:
    """Adds `diverged_at_step` to the records of diverged members and sets their metrics NaN."""
    for record, step in zip(records, steps, strict=True):
        if step >= 0:
            for name in record:
                if name.startswith(("train/", "eval/")):
                    record[name] = float("nan")
            record["diverged_at_step"] = int(step)


def healthy_scores(scores: dict[str, np.ndarray], steps: np.ndarray) -> dict[str, np.ndarray]:
    """Per-example scores [M, N] with a diverged member's (NaN or Inf) rows zeroed, so that
    computations over them (ROC-AUC) run; `mark` then sets that member's metrics NaN."""
    diverged = steps >= 0
    if not diverged.any():
        return scores
    return {k: np.where(diverged.reshape(-1, *[1] * (v.ndim - 1)), 0, v)
            for k, v in scores.items()}
