"""Developer workflow: `nox -s tests`, `nox -s lint`, `nox -s typecheck`; by hand only,
not in CI (too slow): `nox -s mutants` (docs/testing.md)."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Install the project with its dev extra and run the whole test suite."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy, strict on energy_core (settings in pyproject.toml)."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session(python=PYTHON, default=False)
def mutants(session: nox.Session) -> None:
    """Mutation testing with mutmut, module by module (scripts/mutants.py; docs/testing.md).

    `nox -s mutants` runs every module (hours on two cores); `nox -s mutants -- --critical`
    the security- and data-critical ones; `nox -s mutants -- energy_core.telemetry.rules`
    one module; `nox -s mutants -- --list` shows them with the tests each is mutated against.
    """
    session.install("-e", ".[dev,mutants]")
    session.run("python", "scripts/mutants.py", *session.posargs)
