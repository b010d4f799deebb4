"""Run the shell and Python examples of the README, docs/*.md and bench/README.md.

Sybil reads the Markdown: every fenced code block, and the markers before them.

- ```` ```python ```` blocks run as they are, one namespace per document (sybil's evaluator).
- ```` ```bash ```` / ```` ```sh ```` blocks run line by line, in a temporary working folder of
  the document's own. ``smartenergy …`` and ``python -m energy_ui …`` run in this process
  (typer's ``CliRunner``: the same app, without seconds of interpreter start-up per line), their
  words expanded by bash exactly as a shell would (quotes, globs); any other line runs in bash
  itself, and only if its program is in ``SHELL_PROGRAMS``. Each line must exit 0, or the N of a
  trailing ``# exits N`` comment.
- With no marker a block runs on the in-memory demo: no ``DATABASE_URL``, no ``ENERGY_*``
  variable of the developer's own (the dashboard port is a free one).

Markers, an HTML comment right before a block (invisible on the rendered page):

- ``<!-- docs-test: postgres -->``: ``DATABASE_URL`` names a fresh, empty database of the
  document's own on the test server (``ENERGY_TEST_DATABASE_URL``); it wins over a ``.env`` the
  block may write, as in the README.
- ``<!-- docs-test: long-running -->``: each command is started as a real process in turn and
  left running until it prints what shows it at work (``READY``); at the block's end all are
  interrupted with Ctrl-C (SIGINT) and must exit 0 or 130.
- ``<!-- docs-test: local-data -->``: ``smartenergy datasets fetch NAMES`` does not download: the
  verified local copy of each data set (tests/shared_data.py) is linked into ``./data`` instead,
  as if fetched; the command itself is still parsed by the CLI.
- ``<!-- docs-test: not-run "why" -->``: the block does not run (it installs packages, needs a
  server of its own, is a benchmark…), for the reason given; still, its ``smartenergy`` commands
  are parsed by the CLI (command, options and values must be accepted), ``nox -s NAME`` must
  name a nox session and ``python bench/NAME.py --option`` a bench script that takes the option.

A block that would run forever, download, or call a program the runner does not know, without
a marker, fails saying which marker to add: no example is left out silently.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer
from sybil import Document, Example, Region
from sybil.evaluators.python import PythonEvaluator
from sybil.parsers.markdown.lexers import DirectiveInHTMLCommentLexer, FencedCodeBlockLexer

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench/README.md")
SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "console"})
MARKER_WORDS = frozenset({"postgres", "long-running", "local-data", "not-run"})
SHELL_PROGRAMS = frozenset({"echo", "cat", "ls", "mkdir", "test"})
"""Programs other than ``smartenergy`` that an unmarked shell block may run."""
FOREVER = frozenset({"serve", "stream", "auto-train", "mqtt"})
"""Commands that run until stopped (``stream --batches`` and ``auto-train --cycles`` end)."""
READY = {
    "serve": r"ready to go on http",
    "stream": r"(batch|lote) 2\b",  # two batches of the default 5: enough to train on
    "auto-train": r"(cycle|ciclo) 1\b",
    "mqtt": r"MQTT \S+",
}
"""What a long-running command prints once it is at work, by command (in either language:
the documents leave ENERGY_LANGUAGE at its default)."""
READY_TIMEOUT_S = 90.0
CLI_PREFIX = re.compile(r"^(?:smartenergy|python3? -m energy_ui)(?=\s|$)")
EXPECTED_EXIT = re.compile(r"\bexits (\d+)")


@dataclass(frozen=True)
class Marker:
    words: frozenset[str]
    reason: str | None
    line: int


@dataclass
class Block:
    """One fenced code block of a document and the marker before it, if any."""

    document: Path
    line: int
    language: str
    source: str
    marker: Marker | None
    example: Example

    @property
    def name(self) -> str:
        shown = (
            self.document.relative_to(ROOT) if self.document.is_relative_to(ROOT) else self.document
        )
        return f"{shown}:{self.line}"

    def marked(self, word: str) -> bool:
        return self.marker is not None and word in self.marker.words


def parse_marker(arguments: str, line: int) -> Marker:
    """``postgres long-running`` or ``not-run "why"``: the words and the quoted reason."""
    quoted = re.search(r'"([^"]*)"', arguments)
    words = frozenset((arguments[: quoted.start()] if quoted else arguments).split())
    if unknown := words - MARKER_WORDS:
        raise ValueError(
            f"line {line}: unknown docs-test word(s) {sorted(unknown)}; known: "
            f"{sorted(MARKER_WORDS)}"
        )
    reason = quoted[1].strip() if quoted else None
    if "not-run" in words and not reason:
        raise ValueError(f'line {line}: docs-test: not-run needs a reason: not-run "why"')
    return Marker(words, reason, line)


class _Markers:
    lexer = DirectiveInHTMLCommentLexer(directive="docs-test", arguments=".+?")

    def __call__(self, document: Document) -> Iterator[Region]:
        for lexed in self.lexer(document):
            line = document.text.count("\n", 0, lexed.start) + 1
            yield Region(lexed.start, lexed.end, parse_marker(lexed.lexemes["arguments"], line))


class _FencedBlocks:
    lexer = FencedCodeBlockLexer(language=r"[\w-]*")
    python = PythonEvaluator()

    def __call__(self, document: Document) -> Iterator[Region]:
        for region in self.lexer(document):
            region.parsed = region.lexemes["source"]
            if region.lexemes["language"] == "python":
                region.evaluator = self.python
            yield region


def parse(path: Path) -> tuple[list[Block], list[Marker]]:
    """The blocks of ``path`` in order, each with its marker; and the markers before no block."""
    document = Document.parse(str(path), _Markers(), _FencedBlocks())
    blocks: list[Block] = []
    pending: tuple[Example, Marker] | None = None
    orphans: list[Marker] = []
    for example in document.examples():
        if isinstance(example.parsed, Marker):
            if pending is not None:
                orphans.append(pending[1])
            pending = (example, example.parsed)
            continue
        marker = None
        if pending is not None:
            # sybil's region of a comment ends before its closing "-->"
            between = document.text[pending[0].end : example.start]
            if not re.fullmatch(r"\s*-*>?\s*", between):
                orphans.append(pending[1])
            else:
                marker = pending[1]
            pending = None
        blocks.append(
            Block(
                document=path,
                line=example.line,
                language=example.region.lexemes["language"],
                source=str(example.parsed),
                marker=marker,
                example=example,
            )
        )
    if pending is not None:
        orphans.append(pending[1])
    return blocks, orphans


@dataclass(frozen=True)
class ShellLine:
    """One command of a shell block: its text (comment dropped), comment, and whether it
    uses shell operators (pipes, redirections, lists) outside quotes."""

    text: str
    comment: str
    operators: bool


def shell_lines(source: str) -> list[ShellLine]:
    """The commands of a shell block, read as a shell does: a backslash-newline continues the
    line, a newline inside quotes does not end it, ``#`` at a word's start begins a comment."""
    lines: list[ShellLine] = []
    text: list[str] = []
    comment = ""
    operators = False
    quote = ""
    index = 0

    def finish() -> None:
        nonlocal text, comment, operators
        if "".join(text).strip():
            lines.append(ShellLine(" ".join("".join(text).split(" ")).strip(), comment, operators))
        text, comment, operators = [], "", False

    while index < len(source):
        char = source[index]
        if quote:
            text.append(char)
            if char == "\\" and quote == '"' and index + 1 < len(source):
                text.append(source[index + 1])
                index += 1
            elif char == quote:
                quote = ""
        elif char == "\\" and source[index + 1 : index + 2] == "\n":
            text.append(" ")
            index += 1
        elif char in "'\"":
            quote = char
            text.append(char)
        elif char == "#" and (not text or text[-1] in " \t"):
            end = source.find("\n", index)
            end = len(source) if end < 0 else end
            comment = source[index + 1 : end].strip()
            index = end - 1
        elif char == "\n":
            finish()
        else:
            operators = operators or char in "|;&<>"
            text.append(char)
        index += 1
    finish()
    return lines


# --- the CLI, without running it ---------------------------------------------------------
def cli_command() -> Any:
    """The click command typer builds of the app (typer may vendor click: no click types)."""
    from energy_ui.cli import app

    return typer.main.get_command(app)


class CliRefusedError(Exception):
    """The CLI refuses a command line (a usage error: exit 2)."""


def parse_cli(argv: list[str]) -> list[str]:
    """Parse ``smartenergy ARGV`` as the CLI would, run nothing; the command path (e.g.
    ``["tokens", "add"]``). A bad command, option or value raises ``CliRefusedError``."""
    command = cli_command()
    path: list[str] = []
    try:
        context = command.make_context("smartenergy", list(argv))
        while hasattr(command, "commands"):  # a group (typer may bring its own click)
            remaining = [*getattr(context, "_protected_args", []), *context.args]
            if not remaining:
                break
            name, sub, rest = command.resolve_command(context, remaining)
            path.append(name)
            context = sub.make_context(name, rest, parent=context)
            command = sub
    except Exception as error:
        if getattr(error, "exit_code", None) == 2 and hasattr(error, "format_message"):
            raise CliRefusedError(error.format_message()) from None
        raise
    return path


# --- running ----------------------------------------------------------------------------
def _clean_environment() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ENERGY_", "NICEGUI_", "PYTEST_")) and key != "DATABASE_URL"
    }


@dataclass
class Workspace:
    """A document's working folder and environment (``database_url`` for postgres blocks)."""

    folder: Path
    port: int
    database_url: str | None = None
    processes: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def environment(self, postgres: bool) -> dict[str, str]:
        env = _clean_environment()
        env.update(PYTHONUNBUFFERED="1", ENERGY_PORT=str(self.port), COLUMNS="200")
        if postgres:
            assert self.database_url is not None
            env["DATABASE_URL"] = self.database_url
        return env


def expand(words_text: str, folder: Path, env: dict[str, str]) -> list[str]:
    """The arguments bash makes of ``words_text`` in ``folder`` (quotes, globs, variables)."""
    script = f'set -- {words_text}\nfor a in "$@"; do printf "%s\\0" "$a"; done'
    done = subprocess.run(
        ["bash", "-c", script], cwd=folder, env=env, capture_output=True, check=True
    )
    return [word.decode() for word in done.stdout.split(b"\0")[:-1]]


def console_script() -> list[str]:
    script = Path(sys.executable).with_name("smartenergy")
    return [str(script)] if script.exists() else [sys.executable, "-m", "energy_ui"]


@contextmanager
def working_directory(folder: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def run_cli(argv: list[str], workspace: Workspace, postgres: bool) -> tuple[int, str]:
    """``smartenergy ARGV`` in this process; (exit code, what it printed)."""
    from typer.testing import CliRunner

    from energy_ui.cli import app

    wanted = workspace.environment(postgres)
    overrides: dict[str, str | None] = {key: None for key in os.environ if key not in wanted}
    overrides.update(wanted)
    with working_directory(workspace.folder):
        result = CliRunner().invoke(app, argv, env=overrides, prog_name="smartenergy")
    shown = f"--- stdout ---\n{result.stdout[-3000:]}\n--- stderr ---\n{result.stderr[-3000:]}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        trace = "".join(traceback.format_exception(result.exception))
        shown += f"\n--- exception ---\n{trace}"
    return result.exit_code, shown


def link_datasets(names: list[str], folder: Path) -> None:
    """What ``datasets fetch NAMES`` leaves in ``./data``, from the verified local copy."""
    from tests.shared_data import dataset_dir

    data = folder / "data"
    data.mkdir(exist_ok=True)
    for name in names:
        target = data / name
        if not target.exists():
            target.symlink_to(dataset_dir(name), target_is_directory=True)


def start_long_running(argv: list[str], command: str, workspace: Workspace, env: dict[str, str]):
    log = workspace.folder / f"{command}-{len(workspace.processes)}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*console_script(), *argv],
            cwd=workspace.folder,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    workspace.processes.append((command, process, log))
    deadline = time.monotonic() + READY_TIMEOUT_S
    ready = re.compile(READY[command])
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if ready.search(text):
            return
        if process.poll() is not None:
            pytest.fail(
                f"`smartenergy {shlex.join(argv)}` exited {process.returncode} before printing "
                f"/{ready.pattern}/:\n{text[-3000:]}",
                pytrace=False,
            )
        time.sleep(0.2)
    pytest.fail(
        f"`smartenergy {shlex.join(argv)}` printed no /{ready.pattern}/ in {READY_TIMEOUT_S} s:\n"
        f"{log.read_text(errors='replace')[-3000:]}",
        pytrace=False,
    )


def stop_all(workspace: Workspace) -> list[str]:
    """Ctrl-C every process started, newest first; what went wrong, if anything."""
    problems = []
    for command, process, log in reversed(workspace.processes):
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            problems.append(f"{command} did not stop within 30 s of Ctrl-C")
            continue
        if code not in (0, 130):
            text = log.read_text(errors="replace")[-2000:]
            problems.append(f"{command} exited {code} after Ctrl-C (0 or 130 expected):\n{text}")
    workspace.processes.clear()
    return problems


def check_not_run(line: str, words: list[str]) -> None:
    """What can be checked of a line that does not run."""
    for command in " ".join(words).split(" && "):
        parts = command.split()
        if not parts:
            continue
        if CLI_PREFIX.match(command):
            rest = CLI_PREFIX.sub("", command).split()
            try:
                parse_cli(rest)
            except CliRefusedError as error:
                pytest.fail(f"`{line}`: the CLI refuses it: {error}", False)
        elif parts[0] == "nox" and "-s" in parts:
            noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
            for session in parts[parts.index("-s") + 1 :]:
                if session.startswith("-"):
                    break
                assert re.search(rf"@nox\.session[^\n]*\n\s*def {re.escape(session)}\(", noxfile), (
                    f"`{line}`: noxfile.py has no session {session!r}"
                )
        elif parts[0].startswith("python") and len(parts) > 1 and parts[1].startswith("bench/"):
            script = ROOT / parts[1]
            assert script.is_file(), f"`{line}`: no {parts[1]}"
            source = script.read_text(encoding="utf-8")
            for option in (part for part in parts[2:] if part.startswith("--")):
                assert f'"{option}"' in source, f"`{line}`: {parts[1]} takes no {option}"


def run_block(block: Block, workspace: Workspace) -> None:
    """Run (or, marked not-run, check) one shell block; fail naming the line on a problem."""
    postgres = block.marked("postgres")
    not_run = block.marked("not-run")
    long_running = block.marked("long-running")
    env = workspace.environment(postgres)
    try:
        for shell_line in shell_lines(block.source):
            line = shell_line.text
            words = shlex.split(line)
            if not_run:
                check_not_run(line, words)
                continue
            if not CLI_PREFIX.match(line):
                if words[0] not in SHELL_PROGRAMS:
                    pytest.fail(
                        f"{block.name}: `{line}`: the docs runner does not run {words[0]!r}: "
                        f'mark the block <!-- docs-test: not-run "why" -->',
                        pytrace=False,
                    )
                done = subprocess.run(
                    ["bash", "-c", line], cwd=workspace.folder, env=env, capture_output=True
                )
                assert done.returncode == 0, f"`{line}` exited {done.returncode}: {done.stderr!r}"
                continue
            if shell_line.operators:
                pytest.fail(f"{block.name}: `{line}`: one command per line, please", False)
            argv = expand(CLI_PREFIX.sub("", line), workspace.folder, env)
            try:
                path = parse_cli(argv)
            except CliRefusedError as error:
                pytest.fail(f"`{line}`: the CLI refuses it: {error}", False)
            command = path[0] if path else "serve"
            endless = command in FOREVER and not (
                (command == "stream" and "--batches" in argv)
                or (command == "auto-train" and "--cycles" in argv)
            )
            if path[:2] == ["datasets", "fetch"]:
                if not block.marked("local-data"):
                    pytest.fail(
                        f"{block.name}: `{line}` downloads: mark the block "
                        "<!-- docs-test: local-data --> (or not-run)",
                        pytrace=False,
                    )
                link_datasets([a for a in argv[2:] if not a.startswith("-")], workspace.folder)
                continue
            if long_running:
                if not endless:
                    pytest.fail(f"{block.name}: `{line}` ends: not for a long-running block")
                start_long_running(argv, command, workspace, env)
                continue
            if endless:
                pytest.fail(
                    f"{block.name}: `{line}` runs until stopped: mark the block "
                    "<!-- docs-test: long-running --> (or not-run)",
                    pytrace=False,
                )
            expected = EXPECTED_EXIT.search(shell_line.comment)
            wanted = int(expected[1]) if expected else 0
            code, shown = run_cli(argv, workspace, postgres)
            assert code == wanted, f"{block.name}: `{line}` exited {code}, not {wanted}\n{shown}"
    finally:
        problems = stop_all(workspace)
    assert not problems, "\n".join(problems)


def new_workspace(prefix: str) -> Workspace:
    from tests.services import free_port

    return Workspace(Path(tempfile.mkdtemp(prefix=f"smartenergy-docs-{prefix}-")), free_port())


def describe(block: Block) -> str:
    """The test id of a block: where it is and how it runs."""
    how = "runs" if block.marker is None else "+".join(sorted(block.marker.words))
    return f"{block.name} ({block.language or 'text'}, {how})"


def python_namespace(block: Block) -> dict[str, Any]:
    return block.example.namespace
