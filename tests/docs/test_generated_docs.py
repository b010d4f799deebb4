"""Figures and facts the docs state that the code can produce are checked against it.

- Generated regions (scripts/update_docs.py): the drill table in docs/detection.md, the exit
  codes in the README.
- The exit codes are what the commands really exit with.
- The README's command table: every command of the CLI, every option it names exists, and every
  `--option VALUE` it shows is that option's default.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from energy_ui.cli import EXIT_CODES, ExitCode, app

ROOT = Path(__file__).resolve().parents[2]
GROUPS = ("tokens", "datasets", "alerts", "alerts windows")
"""Command groups (a group within a group by its full name)."""


def _update_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("update_docs", ROOT / "scripts/update_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("update_docs", module)
    spec.loader.exec_module(module)
    return module


update_docs = _update_docs()


@pytest.mark.parametrize("name", sorted(update_docs.REGIONS))
def test_generated_region_is_what_the_code_produces(name: str) -> None:
    region = update_docs.REGIONS[name]
    expected = update_docs.comparable(region, update_docs.expected_text(region))
    assert expected == update_docs.comparable(region, update_docs.current_text(name)), (
        f"{region.doc}: the region {name!r} differs from what the code produces now: run "
        f"`python scripts/update_docs.py` and review the change"
    )


def test_update_docs_rewrites_a_stale_region_in_place(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "exit codes are <!-- generated: exit-codes -->0 (stale)<!-- /generated: exit-codes -->."
        "\n\nkept as it is\n",
        encoding="utf-8",
    )
    assert update_docs.update("exit-codes", root=tmp_path)
    text = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "0 (done), 1 (error: " in text and "stale" not in text
    assert text.endswith("-->.\n\nkept as it is\n")
    assert not update_docs.update("exit-codes", root=tmp_path)  # now current: unchanged


def test_update_docs_names_a_missing_region(tmp_path: Path) -> None:
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    text = (tmp_path / "README.md").read_text(encoding="utf-8")
    (tmp_path / "README.md").write_text(text.replace("generated: exit-codes", "x"), "utf-8")
    with pytest.raises(LookupError, match=r"README\.md: expected one region"):
        update_docs.current_text("exit-codes", root=tmp_path)


def test_every_exit_code_has_a_meaning() -> None:
    assert set(ExitCode) == set(EXIT_CODES)


# --- exit codes: what the commands really exit with ------------------------------------------
runner = CliRunner()


def _exit(*argv: str) -> int:
    return runner.invoke(app, list(argv), prog_name="smartenergy").exit_code


def test_done_exits_ok(tmp_path: Path) -> None:
    assert _exit("datasets", "list", "--data-dir", str(tmp_path)) == ExitCode.OK


def test_bad_input_data_exits_error(tmp_path: Path) -> None:
    assert _exit("evaluate", str(tmp_path / "missing.csv")) == ExitCode.ERROR


@pytest.mark.parametrize(
    "argv",
    [
        ("--no-such-option",),
        ("no-such-command",),
        ("evaluate", "--detector", "no-such-detector", "x.csv"),
        ("simulate", "--count", "0"),
        ("datasets", "fetch", "no-such-data-set"),
    ],
    ids=["option", "command", "detector", "out of range", "data set"],
)
def test_usage_errors_exit_usage(argv: tuple[str, ...]) -> None:
    assert _exit(*argv) == ExitCode.USAGE


def test_interrupted_work_exits_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    from energy_core import Monitor

    def interrupted(*args: object, **kwargs: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setattr(Monitor, "generate_history", interrupted)
    result = runner.invoke(app, ["simulate", "--count", "10"], prog_name="smartenergy")
    assert result.exit_code == ExitCode.INTERRUPTED


# --- the README's command table -------------------------------------------------------------
def _readme_commands() -> dict[str, str]:
    """The usages in the first column of the README's command table, by command name."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = re.search(r"\| command \| what it does \|\n\|[-|]+\|\n((?:\|.*\n)+)", readme)
    assert table, "the README lost its command table (| command | what it does |)"
    found: dict[str, str] = {}
    for row in table[1].splitlines():
        for usage in re.findall(r"`([^`]+)`", row.split("|")[1]):
            words = usage.replace("[", " ").replace("]", " ").split()
            depth = 1
            while " ".join(words[:depth]) in GROUPS:
                depth += 1
            found[" ".join(words[:depth])] = usage
    return found


def _commands() -> dict[str, Any]:
    """Every command of the CLI by its full name (``tokens add``), as click commands."""
    found: dict[str, Any] = {}

    def add(prefix: str, group: Any) -> None:
        for name, command in group.commands.items():
            if hasattr(command, "commands"):  # a group
                add(f"{prefix}{name} ", command)
            else:
                found[f"{prefix}{name}"] = command

    add("", typer.main.get_command(app))
    return found


README_COMMANDS = _readme_commands()


def test_the_readme_table_lists_every_command() -> None:
    assert sorted(_commands()) == sorted(README_COMMANDS)


@pytest.mark.parametrize("name", sorted(README_COMMANDS))
def test_readme_options_exist_and_show_their_defaults(name: str) -> None:
    command = _commands()[name]
    options = {opt: param for param in command.params for opt in param.opts}
    shown = README_COMMANDS[name]
    named = re.findall(r"(--[\w-]+)(?:\s+([^\s\[\]-][^\s\[\]]*))?", shown)
    assert named or "--" not in shown
    for option, value in named:
        assert option in options, f"README: `{name}` has no option {option}"
        if value and not value.isupper():  # `--meters GLOB`: a placeholder, not a default
            default = options[option].default
            assert _same(value, default), (
                f"README: `{name} {option} {value}` but its default is {default!r}"
            )


def _same(shown: str, default: object) -> bool:
    try:
        return float(shown) == float(default)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return shown == str(default)
