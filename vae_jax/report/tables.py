"""Tables of final member metrics (mean ± sample std over seeds) and the REPORT.md around them.

The spread is the sample standard deviation (ddof = 1): with a handful of seeds the population
std (ddof = 0) understates it by a factor sqrt((n - 1) / n), 0.82 for 3 seeds. With one seed it
is undefined: NaN in the (mean, std) pairs and results.json, left out of the tables.
"""

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


def mean_std(values) -> tuple[float, float]:
    """(mean, sample std with ddof = 1) of `values`; the std is NaN for a single value."""
    values = np.asarray(values, float)
    std = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
    return float(values.mean()), std


def spread_label(num_seeds: int) -> str:
    """How a table's '±' reads, for the report text."""
    if num_seeds == 1:
        return "one seed (no spread)"
    return f"mean ± sample std (ddof = 1) over {num_seeds} seeds"


def summarize(records: Sequence[dict], group_by: Sequence[str], metrics: Sequence[str],
              label: dict | None = None) -> list[dict]:
    """Rows of (mean, sample std) over the members that agree on `group_by`: names in a
    record's 'hparams' (metrics.jsonl's records), or its own fields (report.study's records).

    Members whose training diverged (`diverged_at_step` in their record) are counted in the
    row's `diverged` and left out of its means (NaN when no member of the row is left)."""
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        fields = record.get("hparams", record)
        key = tuple(_hashable(fields.get(name)) for name in group_by)
        groups.setdefault(key, []).append(record)
    rows = []
    for key, members in groups.items():
        row = dict(label or {}, **dict(zip(group_by, key, strict=True)), seeds=len(members))
        healthy = [m for m in members if "diverged_at_step" not in m]
        if len(healthy) < len(members):
            row["diverged"] = len(members) - len(healthy)
        for name in metrics:
            if not healthy:
                row[name] = (float("nan"), float("nan"))
                continue
            values = np.array([m[name] for m in healthy if name in m], float)
            if len(values):
                row[name] = mean_std(values)
        rows.append(row)
    return rows


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def name_dci_model(columns: Sequence[str], headers: Sequence[str],
                   records: Sequence[dict]) -> list[str]:
    """`headers`, with the importance model that the members' records name (the
    'dci_importance_model' label) added to those of DCI columns ('eval/dci_*'): DCI scores of
    different importance models differ (metrics.disentanglement.dci)."""
    models = sorted({r["dci_importance_model"] for r in records if "dci_importance_model" in r})
    suffix = (f" ({', '.join(m.replace('_', ' ') for m in models)})" if models
              else " (importance model not recorded)")
    return [h + suffix if c.startswith("eval/dci_") else h
            for c, h in zip(columns, headers, strict=True)]


def markdown_table(rows: Sequence[dict], columns: Sequence[str], headers: Sequence[str]) -> str:
    """Rows as a markdown table; a `diverged` column (members left out of the means, see
    `summarize`) is added whenever a row has one, so a diverged member is never hidden."""
    if any("diverged" in row for row in rows) and "diverged" not in columns:
        columns, headers = [*columns, "diverged"], [*headers, "diverged"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        cells = []
        for name in columns:
            value = row.get(name, 0 if name == "diverged" else "")
            if isinstance(value, tuple) and np.isnan(value[1]):
                cells.append(f"{value[0]:.3g}")  # one seed: no spread
            elif isinstance(value, tuple):
                cells.append(f"{value[0]:.3g} ± {value[1]:.2g}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def image_row(paths: Sequence[str], relative_to: str, width: int = 260) -> str:
    """HTML images side by side (markdown renders them in one row)."""
    return " ".join(f'<img src="{os.path.relpath(p, relative_to)}" width="{width}">'
                    for p in paths if os.path.exists(p))
