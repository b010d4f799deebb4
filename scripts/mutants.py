"""Mutation testing with mutmut 3, one module at a time, each against the tests that matter
for it: ``nox -s mutants`` or ``python scripts/mutants.py [MODULE ...]``.

mutmut mutates every function of the files listed under ``[tool.mutmut] only_mutate`` in
pyproject.toml (in a copy of the tree, ``mutants/``) and runs, for each mutant, the tests
that called the mutated function. Which tests it watches is one list for the whole run;
here each module gets its own (``MODULES``), so that a module is mutated against its unit
tests *and* the integration tests that exercise it, without running the whole suite (with
its browser tests) for every module. Each module keeps its own test-to-function map in
``mutants/stats/MODULE.json`` and its scores in ``mutants/scores.json``.

Examples::

    python scripts/mutants.py --list                 # the modules and their tests
    python scripts/mutants.py energy_core.telemetry.rules      # one module
    python scripts/mutants.py --critical             # the security- and data-critical ones
    python scripts/mutants.py energy_core.usecases.monitor --sample 80   # 80 of its mutants, seeded
    mutmut results; mutmut show NAME                 # the survivors, and one as a diff

Needs the PostgreSQL test server for the adapters' modules (tests/postgres_support.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATS = Path("mutants") / "mutmut-stats.json"
STATS_BY_MODULE = Path("mutants") / "stats"
SCORES = Path("mutants") / "scores.json"

_CORE_UNIT = ("tests/unit",)
_READINGS_CONTRACT = (
    "tests/contract/test_reading_repository.py",
    "tests/contract/test_change_feed.py",
)

MODULES: dict[str, tuple[str, ...]] = {
    # --- security- and data-critical: access, ingest, CSV, retention, idempotency, schema
    "energy_core.telemetry.rules": (
        "tests/unit/test_rules.py",
        "tests/unit/test_storage_rules.py",
        "tests/unit/test_monitor.py",
    ),
    "energy_core.telemetry.validation": (
        "tests/unit/test_validation.py",
        "tests/unit/test_storage_rules.py",
        "tests/unit/test_csv_io.py",
        "tests/unit/test_monitor.py",
        "tests/api/test_api.py",
        "tests/api/test_limits.py",
    ),
    "energy_core.telemetry.payload": (
        "tests/unit/test_payload.py",
        "tests/api/test_limits.py",
        "tests/api/test_api.py",
    ),
    "energy_core.usecases.monitor": (
        "tests/unit/test_monitor.py",
        "tests/unit/test_storage_rules.py",
        "tests/integration/test_stored_edges.py",
    ),
    "energy_ui.access": (
        "tests/unit/test_access.py",
        "tests/unit/test_access_sessions.py",
        "tests/ui/test_access.py",
        "tests/api/test_docs.py::test_with_read_access_login_the_docs_need_the_token",
        "tests/api/test_docs.py::test_with_read_access_login_a_dashboard_login_opens_the_docs",
        "tests/api/test_session_cookie.py",
    ),
    "energy_ui.api.tokens": (
        "tests/unit/test_ingest_tokens.py",
        "tests/api/test_tokens.py",
        "tests/integration/test_ingest_tokens.py",
    ),
    "energy_ui.csv_io": (
        "tests/unit/test_csv_io.py",
        "tests/unit/test_csv_export.py",
        "tests/cli/test_cli_import.py",
    ),
    "energy_adapters.memory": (
        *_READINGS_CONTRACT,
        "tests/contract/test_metric_repository.py",
        "tests/contract/test_model_store.py",
        "tests/unit/test_monitor.py",
    ),
    **{
        f"energy_adapters.postgres.{name}": (
            *_READINGS_CONTRACT,
            "tests/integration/test_ingest_and_retention.py",
            "tests/integration/test_batch_isolation.py",
            "tests/integration/test_concurrent_writers.py",
            "tests/integration/test_stored_edges.py",
            "tests/integration/test_downsample.py",
        )
        for name in ("readings", "group_commit", "retention", "reading_queries")
    },
    # Not the commands that store models: skops refuses the classes mutmut has rewritten.
    "energy_adapters.postgres.migrations": (
        "tests/integration/test_migrations.py",
        "tests/cli/test_cli_postgres.py::test_seed_db_creates_the_schema_on_an_empty_database",
    ),
    # --- the rest of the core: its unit tests
    **{
        f"energy_core.{name}": _CORE_UNIT
        for name in (
            "detection.baseline",
            "telemetry.buckets",
            "usecases.retry_buffer",
            "telemetry.catalogue",
            "detection.isolation_forest",
            "detection.protocol",
            "detection.registry",
            "detection.drill",
            "detection.evaluation",
            "detection.fastforest",
            "telemetry.meter_patterns",
            "health.analysis",
            "health.alarm",
            "telemetry.readings",
            "detection.context",
            "telemetry.simulator",
            "detection.temporal",
        )
    },
}
CRITICAL = tuple(name for name in MODULES if MODULES[name] is not _CORE_UNIT)

# Exit codes of mutmut's workers, by what they mean (mutmut.stats.status_by_exit_code).
_KILLED = {"killed", "timeout", "caught by type check", "segfault"}


def module_path(module: str) -> Path:
    return Path("src", *module.split(".")).with_suffix(".py")


def meta_of(module: str) -> Path:
    """mutmut's record of ``module``'s mutants and their results."""
    return Path("mutants") / f"{module_path(module)}.meta"


def existing(tests: Sequence[str]) -> list[str]:
    """The test files, folders and tests (``file::name``) of ``tests`` that exist in this
    checkout (a module's list may name tests written after an older checkout)."""
    found = []
    for test in tests:
        if test.startswith("-"):  # an option of pytest's, such as --deselect
            found.append(test)
            continue
        path, _, name = test.partition("::")
        if not Path(path).exists():
            continue
        if name and f"def {name.split('[')[0]}(" not in Path(path).read_text(encoding="utf-8"):
            continue
        found.append(test)
    return found


def results(module: str) -> dict[str, str]:
    """Each mutant of ``module`` and its status, from mutmut's meta file."""
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.stats import status_by_exit_code

    data = SourceFileMutationData(path=module_path(module))
    data.load()
    return {key: status_by_exit_code[code] for key, code in data.exit_code_by_key.items()}


def score(statuses: dict[str, str]) -> dict[str, object]:
    """Counts by status and the score: killed / (checked), in percent."""
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    checked = sum(n for status, n in counts.items() if status != "not checked")
    killed = sum(n for status, n in counts.items() if status in _KILLED)
    percent = round(100.0 * killed / checked, 1) if checked else None
    return {
        "mutants": len(statuses),
        "checked": checked,
        "killed": killed,
        "score": percent,
        **counts,
    }


def _run_one(module: str, tests: list[str], jobs: int, sample: int | None, seed: int) -> None:
    """In this process: mutmut's own run, its test selection set to ``tests``."""
    import mutmut.configuration as configuration
    from mutmut.__main__ import _run, create_mutants
    from mutmut.utils.file_utils import copy_also_copy_files, copy_src_dir, setup_source_paths

    settings = configuration._load_config()
    settings.pytest_add_cli_args_test_selection = existing(tests)
    configuration._config = settings
    pattern = f"{module}.x*"
    names: list[str] = [pattern]
    if sample is not None:
        Path("mutants").mkdir(exist_ok=True)
        copy_src_dir()
        copy_also_copy_files()
        setup_source_paths()
        create_mutants(jobs)
        every = sorted(results(module))
        names = sorted(random.Random(seed).sample(every, min(sample, len(every))))
        print(f"sampling {len(names)} of {len(every)} mutants of {module} (seed {seed})")
    _run(names, jobs)


def run_module(
    module: str, tests: list[str], jobs: int, sample: int | None, seed: int
) -> dict[str, object]:
    """Run ``module``'s mutants against ``tests`` in a process of their own, with a test map
    of their own."""
    STATS_BY_MODULE.mkdir(parents=True, exist_ok=True)
    kept = STATS_BY_MODULE / f"{module}.json"
    STATS.unlink(missing_ok=True)
    if kept.exists():
        shutil.copy2(kept, STATS)
    command = [sys.executable, __file__, "--one", module, "--jobs", str(jobs), "--seed", str(seed)]
    if sample is not None:
        command += ["--sample", str(sample)]
    command += ["--tests", *tests]
    started = time.monotonic()
    finished = subprocess.run(command, check=False)
    if STATS.exists():
        shutil.copy2(STATS, kept)
    if meta_of(module).exists():
        shutil.copy2(meta_of(module), STATS_BY_MODULE / f"{module}.meta")
    # A new test selection makes mutmut forget every module's results, not only this one's:
    # put back the others' last results, so that `mutmut results` shows them all.
    for saved in STATS_BY_MODULE.glob("*.meta"):
        if saved.stem != module and saved.stem in MODULES:
            shutil.copy2(saved, meta_of(saved.stem))
    statuses = results(module)
    if sample is not None:
        statuses = {key: status for key, status in statuses.items() if status != "not checked"}
    summary = {
        **score(statuses),
        "sampled": sample is not None,
        "tests": tests,
        "seconds": round(time.monotonic() - started),
        "exit_code": finished.returncode,
    }
    scores = json.loads(SCORES.read_text()) if SCORES.exists() else {}
    scores[module] = summary
    SCORES.write_text(json.dumps(scores, indent=2, sort_keys=True) + "\n")
    return summary


def print_table(scores: dict[str, dict[str, object]]) -> None:
    print(f"\n{'module':40} {'mutants':>8} {'killed':>7} {'survived':>9} {'no tests':>9} score")
    for module, row in sorted(scores.items()):
        shown = "-" if row.get("score") is None else f"{row['score']}%"
        sampled = " (sample)" if row.get("sampled") else ""
        print(
            f"{module:40} {row.get('checked', 0):>8} {row.get('killed', 0):>7}"
            f" {row.get('survived', 0):>9} {row.get('no tests', 0):>9} {shown}{sampled}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="dotted module names (default: every one)")
    parser.add_argument("--critical", action="store_true", help="the critical modules only")
    parser.add_argument("--list", action="store_true", help="list the modules and their tests")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once (2)")
    parser.add_argument("--sample", type=int, help="test only this many mutants per module")
    parser.add_argument("--seed", type=int, default=0, help="of the sample (0)")
    parser.add_argument(
        "--tests", nargs="+", help="mutate against these tests instead (files or file::test)"
    )
    parser.add_argument(
        "--deselect", action="append", default=[], help="leave this test out (file::test)"
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    os.chdir(ROOT)
    if arguments.one:
        tests = arguments.tests or list(MODULES[arguments.one])
        tests += [f"--deselect={test}" for test in arguments.deselect]
        _run_one(arguments.one, tests, arguments.jobs, arguments.sample, arguments.seed)
        return 0
    if arguments.list:
        for module, tests in MODULES.items():
            mark = "*" if module in CRITICAL else " "
            print(f"{mark} {module:40} {' '.join(tests)}")
        return 0
    unknown = [module for module in arguments.modules if module not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; see --list")
    chosen = arguments.modules or (list(CRITICAL) if arguments.critical else list(MODULES))
    # Two shared cores: stay out of the way of interactive work and other test runs.
    os.nice(10)
    failed = []
    for module in chosen:
        tests = (arguments.tests or list(MODULES[module])) + [
            f"--deselect={test}" for test in arguments.deselect
        ]
        print(f"\n=== {module}: mutated against {' '.join(tests)}", flush=True)
        summary = run_module(module, tests, arguments.jobs, arguments.sample, arguments.seed)
        if summary["exit_code"] != 0:
            failed.append(module)
    print_table(json.loads(SCORES.read_text()))
    print("\nsurvivors: `mutmut results`; one as a diff: `mutmut show NAME` (docs/testing.md)")
    if failed:
        print(f"mutmut stopped early for: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
