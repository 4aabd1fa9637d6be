"""The README's promises: the quick start is `make run` / `make test`, CI runs exactly the
README's test command, and the configuration table names every setting."""

from __future__ import annotations

import re
from pathlib import Path

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _env_name(field: str) -> str:
    info = Settings.model_fields[field]
    choices = getattr(info.validation_alias, "choices", None)
    return str(choices[0]) if choices else str(info.alias or field).upper()


def test_quick_start_is_the_two_make_commands() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(make \w+)", quick, flags=re.M)
    assert commands == ["make run", "make test"]


def test_ci_runs_the_readme_test_command_in_a_fresh_clone() -> None:
    """CI clones HEAD into a new empty directory and runs `make test` there, and nothing
    else: a test that reads outside the repository fails CI instead of hiding."""
    script = (ROOT / ".ci" / "run").read_text()
    lines = [line.strip() for line in script.splitlines()]
    commands = [line for line in lines if line and not line.startswith(("#", "set ", "trap "))]
    assert commands[-1] == "make test"
    assert re.search(r'mktemp -d /var/tmp/\S+', script)
    assert any(line.startswith("git clone ") for line in commands)
    runs = [line for line in commands if re.search(r"\b(make|pytest|pip|python3?)\b", line)]
    assert runs == ["make test"]


def test_configuration_table_lists_every_setting() -> None:
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([A-Z_]+)`", table, flags=re.M))
    expected = {_env_name(field) for field in Settings.model_fields}
    assert expected - listed == set(), f"README lacks: {sorted(expected - listed)}"
    assert listed - expected == set(), f"README lists unknown settings: {sorted(listed - expected)}"


def test_the_architecture_map_names_only_paths_that_exist() -> None:
    """docs/architecture.md is the map of the code: every file or folder it names in backticks
    must exist, so a rename that forgets the map fails here."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:bot|cogs|storage|tests|bench|docs)/[\w./*-]*)`", text))
    assert len(named) > 20
    missing = sorted(path for path in named if not any(ROOT.glob(path.rstrip("/"))))
    assert missing == [], f"docs/architecture.md names paths that do not exist: {missing}"


def test_the_readme_points_at_the_architecture_map_and_nothing_outside_the_repository() -> None:
    assert "docs/architecture.md" in README
    assert "../" not in README


def test_every_bench_reports_under_its_own_name() -> None:
    """Each bench ends with one JSON line named after it, printed by bench/_common.report."""
    for path in sorted((ROOT / "bench").glob("[a-z]*.py")):
        names = re.findall(r'\breport\(\s*"(\w+)"', path.read_text(encoding="utf-8"))
        assert names == [path.stem], f"{path.name} must call report({path.stem!r}, ...) once"
