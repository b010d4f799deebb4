"""Where the shared labelled data lives: ``../shared/data`` beside the repository, or the
directory named by ``SMARTENERGY_SHARED_DATA``. Tests that need it skip, saying why, without."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    override = os.environ.get("SMARTENERGY_SHARED_DATA")
    candidates = [Path(override)] if override else []
    # ../shared/data beside the checkout, or beside any folder above it.
    candidates += [folder / "shared" / "data" for folder in ROOT.parents]
    for candidate in candidates:
        if (candidate / "skab").is_dir() and (candidate / "nab").is_dir():
            return candidate
    pytest.skip(f"shared data not found (looked in {', '.join(map(str, candidates))})")


def valve1_files() -> list[Path]:
    folder = shared_data() / "skab" / "valve1"
    return sorted(folder.glob("*.csv"), key=lambda path: int(path.stem))
