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
    "apprise",
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


MONITOR_PORTS = ("readings", "metrics", "models", "feed")
"""``Monitor``'s own ports: entry points change data through its use cases and read through
``Monitor.queries`` and its read methods, never through these."""


def test_no_entry_point_reaches_into_the_monitors_ports():
    import energy_ui

    offenders = []
    for path in Path(energy_ui.__file__).parent.rglob("*.py"):
        if path.name == "bootstrap.py":  # the composition root builds them
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in MONITOR_PORTS
                and isinstance(node.value, ast.Attribute | ast.Name)
                and (node.value.attr if isinstance(node.value, ast.Attribute) else node.value.id)
                == "monitor"
            ):
                offenders.append(f"{path.name}:{node.lineno}: monitor.{node.attr}")
    assert offenders == []
