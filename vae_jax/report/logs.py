"""Metric logs of a workdir: `metrics.jsonl` (one JSON object per line) and TensorBoard events."""

from __future__ import annotations

import json
import math
import os

import numpy as np


def read_metrics(workdir: str) -> list[dict]:
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class MetricLogger:
    """Appends one line per (population, member, epoch) to metrics.jsonl, and TensorBoard scalars.

    On resume, lines of epochs after the restored checkpoint (logged before an interruption,
    about to be recomputed identically) are moved to `metrics.jsonl.stale` rather than dropped.
    """

    def __init__(self, workdir: str, resume_epoch: int, population: str):
        self.path = os.path.join(workdir, "metrics.jsonl")
        self._drop_lines_after(resume_epoch, population)
        # Imported here, not at module level (it takes ~1 s, and ~2 s more where torch is
        # installed, which tensorboardX imports when it can), and not at the first write,
        # where it landed in epoch 2's timed wall clock.
        from tensorboardX import SummaryWriter

        self._summary_writer = SummaryWriter
        self._writer = None  # opened at the first write: a finished run adds no event file
        self._tb_dir = os.path.join(workdir, "tensorboard", population)

    def _drop_lines_after(self, epoch: int, population: str) -> None:
        lines = read_metrics(os.path.dirname(self.path))
        stale = [r for r in lines if r.get("population") == population and r["epoch"] > epoch]
        if not stale:
            return
        with open(self.path + ".stale", "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in stale)
        keep = [r for r in lines if r not in stale]
        with open(self.path + ".tmp", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in keep)
        os.replace(self.path + ".tmp", self.path)

    def _tensorboard(self):
        if self._writer is None:
            self._writer = self._summary_writer(self._tb_dir)
        return self._writer

    def write(self, record: dict, member_tag: str) -> None:
        """`record` holds step, epoch, population, member, hparams and 'train/...' metrics."""
        record = {k: _plain(v) for k, v in record.items()}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        writer = self._tensorboard()
        for name, value in record.items():
            if "/" in name and isinstance(value, float) and math.isfinite(value):
                writer.add_scalar(f"{member_tag}/{name}" if member_tag else name, value,
                                  record["step"])

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic | np.ndarray):
        return value.item() if np.ndim(value) == 0 else value.tolist()
    return value


class NullLogger:
    """MetricLogger's stand-in in the processes of a multi-process run that write no files."""

    def write(self, record: dict, member_tag: str) -> None:
        del record, member_tag

    def close(self) -> None:
        pass
