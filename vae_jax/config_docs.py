"""Writes docs/configuration.md from vae_jax/defaults.py: every field, its default, its type,
its meaning (the comments next to it in defaults.py) and whether a sweep may vary it.

    python -m vae_jax.config_docs            # rewrites docs/configuration.md
    python -m vae_jax.config_docs --check    # exit 1 if docs/configuration.md is stale

The meanings are read from the source with `tokenize`, so the comment in defaults.py stays the
one place a field is described: a field's trailing `# comment` plus the comment lines directly
above it. A comment block after a blank line opens a section ("# Data.", "# Objective (static):
..."); its first clause is the section's title, the rest a note under it. When
`vae_jax.validation` exists and exposes `describe_fields()`, its per-field rules (ranges,
choices) fill a "range" column: either {field: text} or rows {"name": ..., "allowed": ...}.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import io
import pathlib
import re
import sys
import tokenize
from collections.abc import Callable

from vae_jax import defaults, hparams
from vae_jax.train import population

REPO = pathlib.Path(__file__).resolve().parents[1]
OUTPUT = REPO / "docs" / "configuration.md"
_ASSIGN = re.compile(r"^config\.(\w+)\s*=")
_TITLE = re.compile(r"^(?P<title>[^.:(]+(?:\([^)]*\))?)[.:]?\s*(?P<note>.*)$")

RulesProvider = Callable[[], dict[str, str] | list[dict]]


@dataclasses.dataclass
class Field:
    name: str
    comment: str = ""


@dataclasses.dataclass
class Section:
    title: str
    note: str = ""
    fields: list[Field] = dataclasses.field(default_factory=list)


def _comment_text(lines: list[str]) -> str:
    return " ".join(line.lstrip("#").strip() for line in lines).strip()


def parse_sections(source: str) -> list[Section]:
    """Sections of `config.<field> = ...` lines in `source`, each field with its comments."""
    comments: dict[int, str] = {}  # line number -> comment (own line or trailing)
    own_line: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string
            if not tok.line[: tok.start[1]].strip():
                own_line.add(tok.start[0])
    lines = source.splitlines()
    sections = [Section("General")]
    block: list[str] = []  # comment lines directly above the current line
    block_opens_section = False
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if number in own_line:
            if not block:
                previous = lines[number - 2].strip() if number > 1 else ""
                block_opens_section = previous == ""
            block.append(comments[number])
            continue
        match = _ASSIGN.match(text)
        if match:
            if block and block_opens_section:
                sections.append(_section(block))
                block = []
            trailing = comments.get(number, "") if number not in own_line else ""
            above = _comment_text(block)
            sections[-1].fields.append(
                Field(match.group(1), " ".join(p for p in (_comment_text([trailing]), above) if p)))
        block, block_opens_section = [], False
    return [s for s in sections if s.fields]


def _section(block: list[str]) -> Section:
    match = _TITLE.match(_comment_text(block))
    return Section(match.group("title").strip(), match.group("note").strip())


def sweep_kind(name: str) -> str:
    if name in hparams.SWEEPABLE:
        return "yes (one program)"
    if name in population.STATIC_SWEEPABLE:
        return "yes (a program per value)"
    return "no"


def _rules_from_validation() -> dict[str, str]:
    try:
        validation = importlib.import_module("vae_jax.validation")
    except ModuleNotFoundError as e:
        if e.name != "vae_jax.validation":  # it exists but is broken: say so
            raise
        return {}
    describe = getattr(validation, "describe_fields", None)
    return rules_text(describe()) if describe else {}


def rules_text(described) -> dict[str, str]:
    """{field: text} from {field: text} or from rows {"name": field, "allowed": text, ...}."""
    if isinstance(described, dict):
        return {name: str(text) for name, text in described.items()}
    return {row["name"]: str(row.get("allowed", "")) for row in described}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(value) -> str:
    if hasattr(value, "to_dict"):  # config.sweep: a ConfigDict of placeholders
        return "(nothing swept)"
    return f"`{value!r}`"


def _type(value) -> str:
    return "ConfigDict" if hasattr(value, "to_dict") else type(value).__name__


def render(source: str, config, rules: dict[str, str]) -> str:
    """The markdown of docs/configuration.md for defaults.py's `source` and `config`."""
    sections = parse_sections(source)
    documented = {f.name for s in sections for f in s.fields}
    missing = [k for k in config.keys() if k not in documented]
    if missing:  # set outside a `config.x = ...` line: still listed, without a comment
        sections.append(Section("Other", fields=[Field(k) for k in missing]))
    header = ["field", "default", "type", "sweepable", "meaning"] + (["range"] if rules else [])
    out = [
        "# Configuration",
        "",
        "<!-- Generated by `python -m vae_jax.config_docs` from vae_jax/defaults.py: edit the",
        "comments there and regenerate; tests/test_docs.py fails when this file is stale. -->",
        "",
        "Every field of `vae_jax.defaults.base_config()`. Configs in `configs/*.py` start from it",
        "and override a few fields; any field can be set on the command line",
        "(`--config.beta=4`). A sweep (`--config.sweep.beta=\"(1, 4)\"`) may vary the fields",
        "marked *one program* inside one compiled population, and those marked *a program per",
        "value* as one population each; other fields are fixed for the whole run.",
        "",
    ]
    for section in sections:
        out += [f"## {section.title}", ""]
        if section.note:
            out += [section.note, ""]
        out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for field in section.fields:
            value = config[field.name]
            row = [f"`{field.name}`", _default(value), _type(value), sweep_kind(field.name),
                   field.comment]
            if rules:
                row.append(rules.get(field.name, ""))
            out.append("| " + " | ".join(_cell(c) for c in row) + " |")
        out.append("")
    return "\n".join(out)


def generate(rules_provider: RulesProvider | None = None) -> str:
    """docs/configuration.md's text for the current defaults.py (and validation rules)."""
    source = pathlib.Path(defaults.__file__).read_text()
    rules = rules_text((rules_provider or _rules_from_validation)())
    return render(source, defaults.base_config(), rules)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(OUTPUT))
    parser.add_argument("--check", action="store_true", help="fail if --out is stale")
    args = parser.parse_args(argv)
    text = generate()
    path = pathlib.Path(args.out)
    if args.check:
        if not path.exists() or path.read_text() != text:
            print(f"{path} is stale: run python -m vae_jax.config_docs", file=sys.stderr)
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
