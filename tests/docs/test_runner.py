"""The docs runner itself: it fails on what is wrong in a documented example, and says why."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.runner import (
    Block,
    CliRefusedError,
    Workspace,
    new_workspace,
    parse,
    parse_cli,
    parse_marker,
    run_block,
    shell_lines,
)

Failed = pytest.fail.Exception


def blocks_of(tmp_path: Path, markdown: str) -> list[Block]:
    document = tmp_path / "doc.md"
    document.write_text(markdown, encoding="utf-8")
    blocks, orphans = parse(document)
    assert orphans == []
    return blocks


@pytest.fixture
def workspace() -> Iterator[Workspace]:
    made = new_workspace("runner")
    yield made
    shutil.rmtree(made.folder, ignore_errors=True)


def test_a_continued_line_and_a_quote_over_two_lines_are_one_command() -> None:
    lines = shell_lines("a \\\n  --x 1  # note, exits 1\nb 'two\nlines'\n# only a comment\n")
    assert [line.text.split()[0] for line in lines] == ["a", "b"]
    assert "--x 1" in lines[0].text and lines[0].comment == "note, exits 1"
    assert "two\nlines" in lines[1].text


def test_operators_inside_quotes_are_words_outside_they_are_operators() -> None:
    assert not shell_lines("smartenergy evaluate x.csv --sep ';'")[0].operators
    assert shell_lines("echo x > .env")[0].operators


def test_a_not_run_marker_needs_its_reason_and_words_must_be_known() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        parse_marker("not-run", 3)
    with pytest.raises(ValueError, match="unknown docs-test word"):
        parse_marker("postgre", 3)
    assert parse_marker('not-run "a server"', 3).reason == "a server"


def test_the_cli_parser_refuses_an_unknown_option_and_names_the_command_path() -> None:
    assert parse_cli(["tokens", "add", "gw", "--meters", "x-*"]) == ["tokens", "add"]
    with pytest.raises(CliRefusedError, match="--no-such"):
        parse_cli(["drill", "--no-such"])


def test_a_documented_command_with_an_unknown_option_fails(tmp_path, workspace) -> None:
    (block,) = blocks_of(tmp_path, "```bash\nsmartenergy drill --no-such-option\n```\n")
    with pytest.raises(Failed, match="the CLI refuses it"):
        run_block(block, workspace)


def test_a_not_run_block_is_still_parsed_by_the_cli(tmp_path, workspace) -> None:
    markdown = '<!-- docs-test: not-run "a server" -->\n```bash\nsmartenergy serve --prot 1\n```\n'
    (block,) = blocks_of(tmp_path, markdown)
    with pytest.raises(Failed, match=r"(?i)no such option: --prot"):
        run_block(block, workspace)


def test_a_command_that_fails_fails_the_example_unless_the_doc_says_so(tmp_path, workspace):
    (failing,) = blocks_of(tmp_path, "```bash\nsmartenergy evaluate missing.csv\n```\n")
    with pytest.raises(AssertionError, match="exited 1, not 0"):
        run_block(failing, workspace)
    (said,) = blocks_of(tmp_path, "```bash\nsmartenergy evaluate missing.csv  # exits 1\n```\n")
    run_block(said, workspace)


@pytest.mark.parametrize(
    ("command", "marker"),
    [
        ("smartenergy serve", "long-running"),
        ("smartenergy stream", "long-running"),
        ("smartenergy datasets fetch skab", "local-data"),
        ("curl -s http://127.0.0.1:8080/healthz", "not-run"),
    ],
)
def test_an_unmarked_block_that_cannot_run_says_which_marker_to_add(
    tmp_path: Path, workspace: Workspace, command: str, marker: str
) -> None:
    (block,) = blocks_of(tmp_path, f"```bash\n{command}\n```\n")
    with pytest.raises(Failed, match=f"docs-test: {marker}"):
        run_block(block, workspace)


def test_a_python_block_is_run_and_its_errors_fail(tmp_path: Path) -> None:
    (block,) = blocks_of(tmp_path, "```python\nassert 1 + 1 == 3, 'arithmetic'\n```\n")
    with pytest.raises(AssertionError, match="arithmetic"):
        block.example.evaluate()
