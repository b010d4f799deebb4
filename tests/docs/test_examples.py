"""Every shell and Python example of the README, docs/*.md and bench/README.md runs as written
(or, marked not-run with its reason, is at least accepted by the CLI). How: tests/docs/runner.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.docs.runner import (
    CLI_PREFIX,
    DOCUMENTS,
    ROOT,
    SHELL_LANGUAGES,
    Block,
    Workspace,
    describe,
    new_workspace,
    parse,
    run_block,
    shell_lines,
    stop_all,
    working_directory,
)

PARSED = {document: parse(document) for document in DOCUMENTS}
RUNNABLE = [
    block
    for blocks, _ in PARSED.values()
    for block in blocks
    if block.language in SHELL_LANGUAGES | {"python"}
]


@pytest.fixture(scope="module")
def workspaces() -> Iterator[Callable[[Block], Workspace]]:
    """One working folder per document and mode, the postgres one with a fresh, empty
    database of its own (not migrated: `smartenergy seed-db` in the README does that)."""
    made: dict[tuple[Path, bool], Workspace] = {}
    with ExitStack() as stack:

        def workspace(block: Block) -> Workspace:
            postgres = block.marked("postgres")
            key = (block.document, postgres)
            if key not in made:
                found = new_workspace(block.document.stem + ("-pg" if postgres else ""))
                stack.callback(shutil.rmtree, found.folder, ignore_errors=True)
                stack.callback(stop_all, found)
                if postgres:
                    from tests.postgres_support import (
                        check_server,
                        scratch_database,
                        server_url,
                        unavailable,
                    )

                    if (problem := check_server(server_url())) is not None:
                        unavailable(problem)
                    found.database_url = stack.enter_context(
                        scratch_database(server_url(), "smartenergy_docs")
                    )
                made[key] = found
            return made[key]

        yield workspace


@pytest.mark.parametrize("block", RUNNABLE, ids=describe)
def test_documented_example_runs(block: Block, workspaces: Callable[[Block], Workspace]) -> None:
    workspace = workspaces(block)
    if block.language != "python":
        run_block(block, workspace)
    elif block.marked("not-run"):
        compile(block.source, block.name, "exec")
    else:
        with working_directory(workspace.folder):
            block.example.evaluate()


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_marker_stands_right_before_a_block(document: Path) -> None:
    _, orphans = PARSED[document]
    assert [f"line {marker.line}" for marker in orphans] == [], (
        "a <!-- docs-test: … --> marker must be followed, after blank lines only, by a code block"
    )


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_commands_are_in_blocks_labelled_as_shell(document: Path) -> None:
    blocks, _ = PARSED[document]
    unlabelled = [
        block.name
        for block in blocks
        if block.language not in SHELL_LANGUAGES | {"python"}
        and any(CLI_PREFIX.match(line.text) for line in shell_lines(block.source))
    ]
    assert unlabelled == [], "label these blocks ```bash so that their commands run in the tests"


def test_the_readme_has_shell_and_python_examples_that_run() -> None:
    readme = [block for block in RUNNABLE if block.document.name == "README.md"]
    assert {"bash", "python"} <= {block.language for block in readme}
    assert any(not block.marked("not-run") for block in readme if block.language == "bash")
