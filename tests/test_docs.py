"""The docs stay true to the code: docs/configuration.md is regenerated with every config field,
and the README keeps its two commands and its length."""

import ast
import pathlib
import re

import pytest

from vae_jax import config_docs, defaults

REPO = pathlib.Path(__file__).resolve().parents[1]
INSTALL_AND_RUN = 'pip install -e ".[dev]" && python experiments/compare.py --workdir=/tmp/compare'
TEST_COMMAND = "VAE_JAX_DATA_DIR=../shared/data python -m pytest -q"

SOURCE = '''
def base_config():
    config = ml_collections.ConfigDict()

    # Data.
    config.dataset = "mnist"  # which images
    # Read from here.
    config.data_dir = ""

    # Objective (static): elbo | iwae.
    config.objective = "elbo"
    config.beta = 1.0  # KL weight
'''


def test_configuration_md_is_regenerated():
    # Fails when a field or comment in defaults.py changed without `python -m vae_jax.config_docs`.
    assert (REPO / "docs" / "configuration.md").read_text() == config_docs.generate()


def test_every_config_field_has_a_comment():
    source = pathlib.Path(defaults.__file__).read_text()
    fields = {f.name: f.comment for s in config_docs.parse_sections(source) for f in s.fields}
    assert set(fields) == set(defaults.base_config().keys())
    assert [name for name, comment in fields.items() if not comment] == []


def test_parser_reads_sections_trailing_and_leading_comments():
    sections = config_docs.parse_sections(SOURCE)
    assert [(s.title, s.note) for s in sections] == [("Data", ""),
                                                    ("Objective (static)", "elbo | iwae.")]
    assert [(f.name, f.comment) for f in sections[0].fields] == [
        ("dataset", "which images"), ("data_dir", "Read from here.")]
    assert [(f.name, f.comment) for f in sections[1].fields] == [
        ("objective", ""), ("beta", "KL weight")]


@pytest.mark.parametrize("described", [{"beta": ">= 0"},
                                       [{"name": "beta", "allowed": ">= 0", "type": "float"}]])
def test_rules_provider_adds_a_range_column(described):
    text = config_docs.generate(lambda: described)
    assert "| field | default | type | sweepable | meaning | range |" in text
    beta_row = next(line for line in text.splitlines() if line.startswith("| `beta` |"))
    assert beta_row.endswith("| >= 0 |")
    latents_row = next(line for line in text.splitlines() if line.startswith("| `latents` |"))
    assert latents_row.endswith("|  |")
    assert "| range |" not in config_docs.generate(dict)


def test_readme_is_short_and_keeps_both_commands():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert INSTALL_AND_RUN in readme
    assert TEST_COMMAND in readme
    assert TEST_COMMAND in (REPO / ".ci" / "run").read_text()


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_markdown_links_to_docs_and_their_sections_exist():
    pages = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
    for page in pages:
        links = re.findall(r"\]\(([^)#\s]+\.md)(?:#([^)]*))?\)", page.read_text())
        for target, anchor in links:
            if "://" in target:
                continue
            path = page.parent / target
            assert path.is_file(), f"{page.name} links to missing {target}"
            if anchor:
                assert anchor in _anchors(path.read_text()), f"{page.name}: {target}#{anchor}"


# A number as written in the docs: 3,280 / 102.30 / 3.4e-6 (not a digit of a longer number).
_NUMBER = re.compile(r"(?<![\d.])\d[\d,]*(?:\.\d+)?(?:e-?\d+)?(?!\.?\d)")


def _numbers(text: str) -> set[str]:
    return {n.rstrip(",") for n in _NUMBER.findall(text)}


def _readme_results_rows(readme: str) -> list[str]:
    section = readme.split("\n## Results\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| [")]


def _numbers_missing_from_docs(readme: str) -> list[tuple[str, str]]:
    """(number, row) for each number of the README's results table that the page its row links
    to (docs/results.md or docs/performance.md) does not contain."""
    missing = []
    for row in _readme_results_rows(readme):
        linked = {re.match(r"docs/[\w.]+\.md", target).group(0)
                  for target in re.findall(r"\]\(([^)]+)\)", row)}
        allowed = set().union(*(_numbers((REPO / path).read_text()) for path in linked))
        missing += [(number, row[:40]) for number in sorted(_numbers(row) - allowed)]
    return missing


def test_readme_results_numbers_come_from_the_docs():
    readme = (REPO / "README.md").read_text()
    assert len(_readme_results_rows(readme)) >= 10
    assert _numbers_missing_from_docs(readme) == []


@pytest.mark.parametrize(("number", "altered"), [("96.44", "96.45"), ("30,141", "30,142"),
                                                 ("3.4e-6", "3.5e-6"), ("0.692", "0.693")])
def test_an_altered_readme_number_is_caught(number, altered):
    readme = (REPO / "README.md").read_text()
    assert number in readme
    assert (altered, ) == tuple(n for n, _ in
                                _numbers_missing_from_docs(readme.replace(number, altered, 1)))


def test_config_docstrings_point_to_results_sections_that_exist():
    # The numbers live in docs/results.md alone: a config's `Result:` names its sections there.
    headings = re.findall(r"^## (.+)$", (REPO / "docs" / "results.md").read_text(), re.MULTILINE)
    for path in sorted((REPO / "configs").glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        result = doc.split("Result:", 1)[1].split("\n\n")[0] if "Result:" in doc else ""
        if path.stem != "test":
            assert result.strip().startswith("docs/results.md"), path.name
        for section in re.findall(r'"([^"]+)"', result):
            assert any(h.startswith(section) for h in headings), (path.name, section)
