"""energy_core must stay importable without any I/O framework."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import energy_core

FORBIDDEN = (
    "sqlalchemy",
    "psycopg2",
    "psycopg",
    "nicegui",
    "fastapi",
    "starlette",
    "paho",
    "aiomqtt",
    "alembic",
    "typer",
    "energy_adapters",
    "energy_ui",
)
CORE = Path(energy_core.__file__).parent


def test_no_core_module_imports_an_io_framework():
    offenders = []
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {name}" for name in names if name.split(".")[0] in FORBIDDEN
            ]
    assert offenders == []


def test_importing_the_core_loads_no_io_framework():
    probe = (
        "import sys, energy_core, energy_core.usecases.monitor, energy_core.telemetry.simulator;"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
