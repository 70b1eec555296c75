"""One validation pass over a resolved config, before any data is read or anything compiled.

`check(config)` runs at the top of `run.train_and_evaluate`, so a typo costs seconds, not a
training run, and leaves no workdir behind. It checks every field against `FIELD_RULES` (type,
allowed values or range, whether a sweep may vary it), every sweep value against its field's
rule, and then each member of the sweep for combinations that cannot work (an objective of the
other model, an evaluator the dataset cannot serve, judged by the dataset's name before it is
loaded), and a member field (beta, free_bits, ...) set away from its default that the
member's model or objective does not read. Static fields the chosen model ignores give one
warning each. The post-load checks (`evaluators.validate`, `data.load`) stay as the backstop
for what only the data can tell.

`describe_fields()` turns the table into rows for docs/configuration.md.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import re

from absl import logging

from vae_jax import defaults, hparams
from vae_jax.data import corruption, datasets, host_input, image_folder
from vae_jax.errors import ConfigError
from vae_jax.metrics import evaluators
from vae_jax.models import autoencoders
from vae_jax.objectives import losses, penalties
from vae_jax.train import members, population, schedules
from vae_jax.validation_members import check_member

UINT32_MAX = 2**32 - 1
OUTPUT_BIAS_INITS = ("zeros", "data_mean")
OBJECTIVES = ("default",) + losses.names()  # the objective registry's names


@dataclasses.dataclass(frozen=True)
class Rule:
    """What one config field accepts.

    kind: int | float | str | bool, or ints | strs for tuples of them. choices: the allowed
    values of a str (or of each element of strs). low / high: an inclusive range of a number
    (or of each element of ints), exclusive where low_open / high_open. nonempty: a tuple
    needs at least one element. text: the allowed values in words where the plain list of
    choices says too little (the objectives of each model).
    """

    kind: str
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    nonempty: bool = False
    text: str = ""

    def __post_init__(self):
        # Each choice once, in its first place: registries may list a name under several keys
        # (elbo and iwae under every VAE family), and an error or a docs row lists it once.
        object.__setattr__(self, "choices", tuple(dict.fromkeys(self.choices)))

    def allowed(self) -> str:
        """The allowed values in words, e.g. 'one of: ae, vae', '>= 1', '(0, 1)'."""
        if self.text:
            return self.text
        if self.choices:
            return "one of: " + ", ".join(self.choices)
        if self.kind == "bool":
            return "True or False"
        if self.low is not None and self.high is not None:
            return (f"{'(' if self.low_open else '['}{_num(self.low)}, "
                    f"{_num(self.high)}{')' if self.high_open else ']'}")
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_num(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {_num(self.high)}"
        return "any"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


_POSITIVE_INT = Rule("int", low=1)
_COUNT = Rule("int", low=0)  # 0 = all
_NONNEGATIVE = Rule("float", low=0)
_SEED = Rule("int", low=0, high=UINT32_MAX)
_PATH = Rule("str")
_FLAG = Rule("bool")

FIELD_RULES: dict[str, Rule] = {
    # Data.
    "dataset": Rule("str", datasets.DATASETS),
    "data_dir": _PATH,
    "data_source": Rule("str", datasets.DATA_SOURCES),
    "tfds_data_dir": _PATH,
    "data_path": _PATH,
    "binarization": Rule("str", datasets.BINARIZATIONS),
    "download": _FLAG,
    "download_url": _PATH,
    "cache_dir": _PATH,
    "image_size": _COUNT,  # 0 = keep the images' own size
    "image_channels": Rule("int", low=1, high=3),
    "on_bad_image": Rule("str", image_folder.ON_BAD_IMAGE),
    "test_fraction": Rule("float", low=0, high=1, low_open=True, high_open=True),
    "input": Rule("str", host_input.INPUT_MODES),
    "host_chunk_steps": _POSITIVE_INT,
    "host_prefetch": _POSITIVE_INT,
    "num_train": _COUNT,
    "num_test": _COUNT,
    "exclude_train_labels": Rule("ints", low=0),
    "data_seed": _SEED,
    # Model.
    "model": Rule("str", autoencoders.MODELS),
    "architecture": Rule("str", autoencoders.ARCHITECTURES),
    "latents": _POSITIVE_INT,
    "hidden": Rule("ints", low=1),  # () = a linear encoder and decoder
    "conv_channels": Rule("ints", low=1, nonempty=True),
    "conv_kernels": Rule("ints", low=1),  # () or one per conv_channels (models.build)
    "deconv_kernels": Rule("ints", low=1),
    "conv_impl": Rule("str", autoencoders.CONV_IMPLS),
    "conv_dense": _COUNT,  # 0 = none
    "activation": Rule("str", tuple(autoencoders.ACTIVATIONS)),
    "likelihood": Rule("str", autoencoders.LIKELIHOODS),
    "pixel_std": Rule("float", low=0, low_open=True),
    "num_mixtures": _POSITIVE_INT,
    "output_bias_init": Rule("str", OUTPUT_BIAS_INITS),
    "code_activation": Rule("str", tuple(autoencoders.CODE_ACTIVATIONS)),
    "codebook_size": _POSITIVE_INT,
    "code_dim": _POSITIVE_INT,
    "vq_ema": _FLAG,
    "vq_ema_decay": Rule("float", low=0, high=1, low_open=True, high_open=True),
    "top_hidden": Rule("ints", low=1),
    "top_latents": _POSITIVE_INT,
    "vamp_components": _POSITIVE_INT,
    # Objective.
    "objective": Rule("str", OBJECTIVES, text="default (the model's first), or by model: "
                      + losses.describe()),
    "iwae_samples": _POSITIVE_INT,
    "corruption": Rule("str", corruption.CORRUPTIONS),
    "tc_estimator": Rule("str", penalties.TC_ESTIMATORS),
    "discriminator_hidden": Rule("ints", low=1, nonempty=True),
    # Hparams.
    "beta": _NONNEGATIVE,
    "learning_rate": Rule("float", low=0, low_open=True),
    "seed": _SEED,
    "noise_level": _NONNEGATIVE,
    "penalty_weight": _NONNEGATIVE,
    "sparsity_target": Rule("float", low=0, high=1, low_open=True, high_open=True),
    "tc_alpha": _NONNEGATIVE,
    "tc_gamma": _NONNEGATIVE,
    "kl_warmup_steps": _NONNEGATIVE,
    "free_bits": _NONNEGATIVE,
    "capacity_max": _NONNEGATIVE,
    "capacity_steps": _NONNEGATIVE,
    "kl_warmup_epochs": _NONNEGATIVE,
    "capacity_epochs": _NONNEGATIVE,
    "factor_vae_gamma": _NONNEGATIVE,
    "dip_lambda_od": _NONNEGATIVE,
    "dip_lambda_d": _NONNEGATIVE,
    "commitment_beta": _NONNEGATIVE,
    # Optimisation.
    "batch_size": _POSITIVE_INT,
    "num_epochs": _POSITIVE_INT,
    "lr_schedule": Rule("str", schedules.LR_SCHEDULES),
    "adam_b1": Rule("float", low=0, high=1, high_open=True),
    "adam_b2": Rule("float", low=0, high=1, high_open=True),
    "adam_eps": Rule("float", low=0, low_open=True),
    # Populations ("sweep" itself is checked against the sweepable fields).
    "sweep_mode": Rule("str", population.SWEEP_MODES),
    "sweep_slice": Rule("str"),  # "" or "i/N" with 0 <= i < N <= members (population.py)
    "member_map": Rule("str", ("auto",) + members.MEMBER_MAPS),
    "memory_limit_gb": _NONNEGATIVE,
    "mesh_members": _COUNT,  # 0 = automatic
    "mesh_data": _COUNT,
    "grad_shards": _COUNT,  # 0 = off
    "fast_threefry": _FLAG,
    # Evaluation, logging, checkpoints.
    "eval_every": _POSITIVE_INT,
    "eval_batch_size": _POSITIVE_INT,
    "evals": Rule("strs", evaluators.ALL),
    "final_evals": Rule("strs", evaluators.ALL),
    "nll_samples": _POSITIVE_INT,
    "nll_chunk": _POSITIVE_INT,
    "nll_batch_size": _POSITIVE_INT,
    "probe_train_size": _POSITIVE_INT,
    "disentanglement_votes": Rule("int", low=2),
    "dci_importance_model": Rule("str", evaluators.DCI_IMPORTANCE_MODELS),
    "checkpoint_every": _POSITIVE_INT,
    "keep_checkpoints": _POSITIVE_INT,
    "final_checkpoint": Rule("str", ("full", "params")),
    "figures": _FLAG,
    "progress": _FLAG,
}


def sweepable(name: str) -> str:
    """'members' (one compiled program for all values), 'programs' (one program per value)
    or 'no'."""
    if name in hparams.SWEEPABLE:
        return "members"
    return "programs" if name in population.STATIC_SWEEPABLE else "no"


def describe_fields() -> list[dict]:
    """One row per config field: name, type, default, allowed values, sweepable, and the
    comment that follows the field in defaults.py (its meaning, in a few words)."""
    base = defaults.base_config()
    comments = dict(re.findall(r"^\s*config\.(\w+) = [^#\n]*#\s*(.*)$",
                               inspect.getsource(defaults.base_config), re.MULTILINE))
    kinds = {"ints": "tuple of int", "strs": "tuple of str"}
    return [dict(name=name, type=kinds.get(rule.kind, rule.kind), default=base[name],
                 allowed=rule.allowed() + (" (each)" if rule.kind in kinds else "")
                 + (", at least one" if rule.nonempty else ""),
                 sweepable=sweepable(name), comment=comments.get(name, ""))
            for name, rule in FIELD_RULES.items()]


def fields_markdown() -> str:
    """describe_fields() as a markdown table (`python -m vae_jax.validation`)."""
    lines = ["| field | type | default | allowed | sweepable | meaning |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in describe_fields():
        cells = [f"`{row['name']}`", row["type"], f"`{row['default']!r}`", row["allowed"],
                 row["sweepable"], row["comment"]]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- one value
def closest(name: str, choices) -> str:
    """' (did you mean x or y?)' for the nearest of `choices`, or ''."""
    near = difflib.get_close_matches(str(name), [str(c) for c in choices], n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(near)}?)" if near else ""


def _check_element(rule: Rule, kind: str, value) -> str | None:
    """What is wrong with one scalar `value` of `kind` under `rule`, or None."""
    if kind == "str":
        if not isinstance(value, str):
            return f"must be a string, got {value!r}"
        return None
    if kind == "bool":
        return None if isinstance(value, bool) else f"must be True or False, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, got {value!r}"
    if kind == "int" and not float(value).is_integer():
        return f"must be an integer, got {value!r}"
    if not math.isfinite(value):
        return f"must be finite, got {value!r}"
    too_low = rule.low is not None and (value <= rule.low if rule.low_open else value < rule.low)
    too_high = rule.high is not None and (value >= rule.high if rule.high_open
                                          else value > rule.high)
    return f"must be {rule.allowed()}, got {value!r}" if too_low or too_high else None


def check_value(name: str, value, where: str = "") -> None:
    """Raises a ConfigError naming `name` when `value` breaks its rule (`where`: the value's
    place, config.<name> by default)."""
    rule = FIELD_RULES[name]
    where = where or f"config.{name}"
    fix = f"(--{where}=...; docs/configuration.md)"
    if rule.kind in ("ints", "strs"):
        if not isinstance(value, tuple | list):
            raise ConfigError(f"{where} must be a tuple, got {value!r} {fix}")
        if rule.nonempty and not value:
            raise ConfigError(f"{where} must hold at least one value {fix}")
        elements, kind = tuple(value), rule.kind[:-1]
    else:
        elements, kind = (value,), rule.kind
    for element in elements:
        if kind == "str" and rule.choices and isinstance(element, str) \
                and not _is_choice(element, rule.choices):
            quoting = (f"; quote each string of a tuple: --{where}=\"('a', 'b')\""
                       if rule.kind == "strs" and any(c in element for c in "(),") else "")
            raise ConfigError(
                f"unknown {name} {element!r}{closest(element, rule.choices)}"
                f"{'' if where == f'config.{name}' else f' in {where}'}; "
                f"choose one of {', '.join(rule.choices)} {fix}{quoting}")
        problem = _check_element(rule, kind, element)
        if problem:
            each = "each element " if kind != rule.kind else ""
            raise ConfigError(f"{where}: {each}{problem} {fix}")


def _is_choice(value: str, choices) -> bool:
    """`value` is one of `choices`; a choice ending in '<name>' (tfds:<name>) is a prefix."""
    return value in choices or any(
        c.endswith("<name>") and value.startswith(c[:-6]) and len(value) > len(c) - 6
        for c in choices)


# --------------------------------------------------------------------------- field names
def unknown_field_message(path: str, config) -> str | None:
    """A one-line message for `--config.<path>` when `path` names no field of `config`
    (with the closest valid names), or None when it does."""
    parts = path.split(".")
    node = config
    for i, part in enumerate(parts):
        keys = list(node.keys()) if hasattr(node, "keys") else []
        if part in keys:
            node = node[part]
            continue
        prefix = ".".join(parts[:i])
        if prefix == "sweep" and part in config:
            return (f"config.sweep.{part}: {part!r} cannot be swept; sweepable fields are "
                    f"{', '.join(hparams.SWEEPABLE)} (one program) and "
                    f"{', '.join(population.STATIC_SWEEPABLE)} (one program each). Run other "
                    "variations as separate commands.")
        if not keys:
            return f"config.{prefix} is a value, not a group of fields: --config.{path} is unknown"
        near = difflib.get_close_matches(part, keys, n=3, cutoff=0.6)
        full = [f"{prefix}.{n}" if prefix else n for n in near]
        if full:
            hint = f"; did you mean {' or '.join(full)}?"
        elif prefix == "sweep":
            hint = f"; sweepable fields: {', '.join(keys)}"
        else:
            hint = "; the fields are in docs/configuration.md"
        return f"unknown config field {'.'.join(parts[:i + 1])!r}{hint}"
    return None


# ----------------------------------------------------------------------------- the pass
def _check_sweep(config) -> None:
    sweep = config.get("sweep") or {}
    for name, values in dict(sweep).items():
        if values is None:
            continue
        if sweepable(name) == "no":
            raise ConfigError(unknown_field_message(f"sweep.{name}", defaults.base_config())
                              or f"config.sweep.{name}: unknown field")
        values = tuple(values) if isinstance(values, tuple | list) else (values,)
        if not values:
            raise ConfigError(f"config.sweep.{name} is empty; give at least one value or drop it")
        for value in values:
            if name in FIELD_RULES:
                check_value(name, value, where=f"config.sweep.{name}")


def check(config, log_warnings: bool = True) -> list[str]:
    """Raises a ConfigError for the first field, sweep value or combination that cannot work;
    returns, and logs (absl, WARNING) unless told not to, one warning per field that the run
    ignores."""
    known = set(defaults.base_config().keys())
    for name in config.keys():
        if name not in known:
            raise ConfigError(unknown_field_message(name, defaults.base_config()))
    for name in config.keys():
        if name in FIELD_RULES:
            check_value(name, config[name])
    _check_sweep(config)
    warnings: dict[str, str] = {}  # one per field, however many members ignore it
    members = population.member_configs(config)
    population.slice_indices(len(members), config.get("sweep_slice", ""))
    for field in ("conv_kernels", "deconv_kernels"):
        if config[field] and len(config[field]) != len(config.conv_channels):
            raise ConfigError(f"config.{field}={tuple(config[field])} needs one kernel size "
                              f"per conv_channels layer ({len(config.conv_channels)}), or () "
                              "for 3x3 everywhere")
    for member in members:
        warnings = check_member(member) | warnings
    for warning in warnings.values() if log_warnings else ():
        logging.warning("%s", warning)
    return list(warnings.values())


if __name__ == "__main__":
    print(fields_markdown())
