"""Tables of final member metrics (mean ± std over seeds) and the REPORT.md around them."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from vae_jax.report import logs


def final_records(workdir: str) -> list[dict]:
    """The last logged record of every (population, member) of a workdir."""
    final = {}
    for record in logs.read_metrics(workdir):
        final[(record["population"], record["member"])] = record
    return list(final.values())


def summarize(records: Sequence[dict], group_by: Sequence[str], metrics: Sequence[str],
              label: dict | None = None) -> list[dict]:
    """Rows of mean and std over the members that agree on `group_by` (hparams names)."""
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        key = tuple(record["hparams"].get(name) for name in group_by)
        groups.setdefault(key, []).append(record)
    rows = []
    for key, members in groups.items():
        row = dict(label or {}, **dict(zip(group_by, key, strict=True)), seeds=len(members))
        for name in metrics:
            values = np.array([m[name] for m in members if name in m], float)
            if len(values):
                row[name] = (float(values.mean()), float(values.std()))
        rows.append(row)
    return rows


def markdown_table(rows: Sequence[dict], columns: Sequence[str], headers: Sequence[str]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        cells = []
        for name in columns:
            value = row.get(name, "")
            if isinstance(value, tuple):
                cells.append(f"{value[0]:.3g} ± {value[1]:.2g}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def image_row(paths: Sequence[str], relative_to: str, width: int = 260) -> str:
    """HTML images side by side (markdown renders them in one row)."""
    return " ".join(f'<img src="{os.path.relpath(p, relative_to)}" width="{width}">'
                    for p in paths if os.path.exists(p))
