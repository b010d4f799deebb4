"""Where the labelled data sets live for the tests: the data folder ``smartenergy datasets fetch``
fills (``ENERGY_DATA_DIR``, else ``data/`` in the checkout), else ``SMARTENERGY_SHARED_DATA``,
else ``../shared/data`` beside the checkout or any folder above it. A data set counts only when
every file of it is there with its pinned SHA-256 (``energy_ui.datasets``).

Without it, tests that need it skip, saying why and how to fetch it; under ``CI=true`` they fail.
Also: ``serve_folder``, a local HTTP server over a folder, for testing the downloader offline.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from energy_ui.datasets import DATASETS, states
from tests.services import unavailable

ROOT = Path(__file__).resolve().parents[1]


def data_roots() -> list[Path]:
    """The folders looked in, in order."""
    roots = [Path(os.environ.get("ENERGY_DATA_DIR") or ROOT / "data")]
    if override := os.environ.get("SMARTENERGY_SHARED_DATA"):
        roots.append(Path(override))
    # ../shared/data beside the checkout, or beside any folder above it.
    roots += [folder / "shared" / "data" for folder in ROOT.parents]
    return roots


def find(name: str, roots: Sequence[Path]) -> Path | str:
    """The folder of the data set ``name`` in the first of ``roots`` holding all of it verified,
    else why not (what is missing or modified where, and how to fetch it)."""
    data = DATASETS[name]
    problems = []
    for root in roots:
        found = states(root, data)
        if all(state == "ok" for state in found.values()):
            return root / name
        wrong = [f"{path} {state}" for path, state in found.items() if state != "ok"]
        if len(wrong) < len(found):  # partly there: say what is wrong
            problems.append(f"{root / name}: {', '.join(wrong)}")
    looked = ", ".join(str(root) for root in roots)
    detail = f" ({'; '.join(problems)})" if problems else ""
    return (
        f"data set {name} not found complete in {looked}{detail}; "
        f"fetch it with `smartenergy datasets fetch {name}`"
    )


@functools.cache
def _found(name: str) -> Path | str:
    return find(name, data_roots())


def dataset_dir(name: str) -> Path:
    """The folder of the data set ``name``, verified; skips (fails under CI) without it."""
    found = _found(name)
    if isinstance(found, str):
        unavailable(found)
    return found


def shared_data() -> Path:
    """A folder holding both SKAB and NAB (``skab/``, ``nab/``), as ``../shared/data`` does."""
    skab, nab = dataset_dir("skab"), dataset_dir("nab")
    if skab.parent != nab.parent:
        unavailable(f"SKAB ({skab}) and NAB ({nab}) are in different folders")
    return skab.parent


def valve1_files() -> list[Path]:
    folder = dataset_dir("skab") / "valve1"
    return sorted(folder.glob("*.csv"), key=lambda path: int(path.stem))


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """An HTTP server on a free loopback port serving ``folder``; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
