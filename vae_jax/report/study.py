"""A study: the members of one or several sweeps, merged from any set of workdirs.

`load(workdirs)` reads each workdir's config.json and metrics.jsonl. Workdirs whose configs
agree but for how the run was placed (`sweep_slice`, `progress`, paths, ...) hold slices of one
sweep; the members of each sweep are lined up by their index in the whole sweep
(`sweep_index`, logged with every record), so a member has the same record whichever slice or
job trained it. Every member of every sweep is either a record (its final epoch logged) or in
`Study.missing`, with the reason: never silently dropped.

`write(out_dir, study, ...)` writes REPORT.md, results.json (the records) and the study's
figures (study_figures.py); `python -m vae_jax.report` and the experiments call it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence

import ml_collections

from vae_jax import checkpoints, hparams
from vae_jax.errors import UserError
from vae_jax.report import logs, study_figures, tables
from vae_jax.train import population as population_lib

# Fields that say where and how a run was placed, not what it computes: workdirs that differ
# only in them hold members of the same sweep.
PLACEMENT = ("sweep_slice", "progress", "figures", "keep_checkpoints", "checkpoint_every",
             "data_dir", "tfds_data_dir", "cache_dir", "memory_limit_gb", "mesh_members",
             "mesh_data", "host_prefetch")
# The order metrics are tabulated in; others follow alphabetically.
METRIC_ORDER = ("eval/nelbo", "eval/recon", "eval/kl", "eval/nll", "eval/active_units",
                "eval/linear_probe", "eval/knn", "eval/mig", "eval/sap",
                "eval/dci_disentanglement", "eval/dci_completeness",
                "eval/dci_informativeness", "eval/factor_vae", "eval/beta_vae")
_NOT_RESULTS = ("step", "epoch", "population", "member", "sweep_index", "hparams")


@dataclasses.dataclass
class Sweep:
    """One sweep's config (as a whole, sweep_slice ""), its members and the workdirs read."""

    label: dict  # the fields that tell it from the other sweeps of the study ({} if alone)
    config: ml_collections.ConfigDict
    members: list
    populations: dict  # sweep index -> population name
    workdirs: list
    swept: tuple  # the fields its sweep varies


@dataclasses.dataclass
class Study:
    sweeps: list
    records: list  # one per finished member: fields (label, swept, seed), sweep_index, metrics
    missing: list  # one per member without a final record: fields, sweep_index, reason
    fields: tuple  # the top-level fields that identify a member, in table order

    @property
    def metrics(self) -> list[str]:
        names = {k for r in self.records for k in r if k.startswith("eval/")}
        return [m for m in METRIC_ORDER if m in names] + sorted(names - set(METRIC_ORDER))

    @property
    def expected(self) -> int:
        return sum(len(s.members) for s in self.sweeps)


def _identity(config) -> str:
    flat = {k: v for k, v in config.to_dict().items() if k not in PLACEMENT}
    return json.dumps(flat, sort_keys=True, default=repr)


def _swept(config) -> tuple:
    return tuple(n for n, v in dict(config.get("sweep") or {}).items() if v is not None)


def _labels(configs: Sequence) -> list[str]:
    """The fields whose values tell the sweeps apart: sweepable ones when some differ."""
    if len(configs) < 2:
        return []
    differ = [k for k in configs[0] if k not in PLACEMENT + ("sweep", "sweep_mode")
              and len({repr(c.get(k)) for c in configs}) > 1]
    sweepable = [k for k in differ if k in hparams.SWEEPABLE + population_lib.STATIC_SWEEPABLE]
    return sweepable or differ


def load(workdirs: Sequence[str]) -> Study:
    """The members of every sweep that `workdirs` hold slices (or all) of."""
    if not workdirs:
        raise UserError("no workdirs given: name the workdirs of the runs to merge")
    groups: dict[str, list] = {}
    for workdir in workdirs:
        config = checkpoints.read_config(workdir)
        groups.setdefault(_identity(config), []).append((workdir, config))
    configs = [g[0][1] for g in groups.values()]
    label_fields = _labels(configs)
    sweeps = []
    for group in groups.values():
        config = ml_collections.ConfigDict(group[0][1].to_dict())
        config.sweep_slice = ""
        whole = population_lib.split(config, whole=True)
        sweeps.append(Sweep(
            label={k: config.get(k) for k in label_fields}, config=config,
            members=population_lib.member_configs(config),
            populations={i: p.name for p in whole for i in p.indices},
            workdirs=[w for w, _ in group], swept=_swept(config)))
    fields = list(label_fields)
    for sweep in sweeps:
        fields += [n for n in sweep.swept if n not in fields and n != "seed"]
    fields.append("seed")
    records, missing = [], []
    for sweep in sweeps:
        found, lacking = _sweep_records(sweep, tuple(fields))
        records += found
        missing += lacking
    return Study(sweeps, records, missing, tuple(fields))


def _final_logged(workdir: str, config) -> dict[int, dict]:
    """{sweep index: last logged record} of one workdir's members."""
    indices = {(p.name, m): i for p in population_lib.split(config)
               for m, i in enumerate(p.indices)}  # logs written before sweep_index existed
    final = {}
    for record in logs.read_metrics(workdir):
        index = record.get("sweep_index", indices.get((record["population"], record["member"])))
        final[index] = record
    return final


def _sweep_records(sweep: Sweep, fields: tuple) -> tuple[list[dict], list[dict]]:
    logged: dict[int, tuple[dict, str]] = {}
    for workdir in sweep.workdirs:
        for index, record in _final_logged(workdir, checkpoints.read_config(workdir)).items():
            if index not in logged or record["epoch"] > logged[index][0]["epoch"]:
                logged[index] = (record, workdir)
    num_epochs = sweep.config.num_epochs
    records, missing = [], []
    for index, member in enumerate(sweep.members):
        identity = dict(sweep.label, **{f: member.get(f) for f in fields
                                        if f not in sweep.label}, sweep_index=index)
        if index not in logged:
            missing.append(dict(identity, reason=_why_absent(sweep, index)))
            continue
        record, workdir = logged[index]
        if record["epoch"] < num_epochs:
            missing.append(dict(identity, reason=f"unfinished: epoch {record['epoch']} of "
                                f"{num_epochs} logged in {workdir}"))
            continue
        results = {k: v for k, v in record.items()
                   if k not in _NOT_RESULTS and not k.startswith("perf/")}
        records.append(dict(identity, population=sweep.populations[index],
                            epoch=record["epoch"], step=record["step"], **results))
    return records, missing


def _why_absent(sweep: Sweep, index: int) -> str:
    slices = {c.get("sweep_slice", "") for c in map(checkpoints.read_config, sweep.workdirs)}
    counts = {population_lib.parse_slice(s)[1] for s in slices if s}
    for count in counts:
        for i in range(count):
            spec = f"{i}/{count}"
            if index in population_lib.slice_indices(len(sweep.members), spec):
                if spec in {s.replace(" ", "") for s in slices}:
                    return f"not logged in slice {spec}'s workdir (not started or interrupted)"
                return f"slice {spec} was not given (its workdir is missing)"
    return "not logged (not started, or interrupted before its first epoch)"


# ------------------------------------------------------------------------------ the report
def summary_rows(study: Study) -> list[dict]:
    """Mean ± sample std over seeds per setting (every field but the seed)."""
    group_by = [f for f in study.fields if f != "seed"]
    rows = tables.summarize(study.records, group_by, study.metrics)
    for sweep in study.sweeps:  # a field its sweep does not vary reads '-' in its rows
        for row in rows:
            if all(row.get(k) == v for k, v in sweep.label.items()):
                for f in group_by:
                    if f not in sweep.label and f not in sweep.swept:
                        row[f] = "-"
    return rows


def table(study: Study, rows: list[dict], headers: dict | None = None) -> str:
    headers = headers or {}
    keys = [f for f in study.fields if f != "seed"] + ["seeds"]
    columns = keys + study.metrics
    names = tables.name_dci_model(columns, [headers.get(c, c) for c in columns], study.records)
    return tables.markdown_table(rows, columns, names)


def missing_section(study: Study) -> list[str]:
    if not study.missing:
        return [f"All {study.expected} members of the study are here.", ""]
    lines = [f"## Missing members: {len(study.missing)} of {study.expected}", "",
             "Left out of the table and the figures:", ""]
    for entry in study.missing:
        who = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("reason",))
        lines.append(f"- {who}: {entry['reason']}")
    return lines + [""]


def write(out_dir: str, study: Study, title: str = "Study", intro: Sequence[str] = (),
          before: Sequence[str] = (), after: Sequence[str] = (),
          headers: dict | None = None) -> list[dict]:
    """REPORT.md (title, `intro`, `before`, the table, the missing members, the study's
    figures, `after`), results.json (the records, a list) and the figures, in `out_dir`.
    Returns the summary rows."""
    os.makedirs(out_dir, exist_ok=True)
    rows = summary_rows(study)
    seeds = max((row["seeds"] for row in rows), default=0)
    lines = [f"# {title}", "", *intro, *before,
             f"{len(study.records)} of {study.expected} members finished, from "
             f"{sum(len(s.workdirs) for s in study.sweeps)} workdir(s); "
             f"{tables.spread_label(max(seeds, 1))}.", "", table(study, rows, headers), "",
             *missing_section(study)]
    for name, caption in study_figures.write_all(study, out_dir):
        lines += [f"![{caption}]({name})", "", f"*{caption}*", ""]
    lines += list(after)
    with open(os.path.join(out_dir, "REPORT.md"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(study.records, f, indent=2)
    return rows
