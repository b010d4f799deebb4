"""Detectors on every development data set: in-sample beside split-half and leave-one-out.

For each data set under the data folder (``energy_core.detection.generalisation.catalogue``:
SKAB valve1, SKAB anomaly-free in 8 chunks, NAB, LEAD per building) every detector is fitted
on each unit's training part and scored on the rest once; then:

- **in-sample**: each detector's figures pooled over all units;
- **split-half**: a detector chosen on half A of the units (alternating in name order) by the
  module's rule, reported on half B, and the other way round; the two reports pooled;
- **leave-one-out** (3 or more units): chosen on the others, reported on the left-out unit;
  the left-out results pooled;
- **one threshold**: raw scores of every unit ranked together, the share of all rows flagged,
  the largest score (incomparable scales between series show here).

    python bench/generalise.py                       # every unit of every data set
    python bench/generalise.py --quick               # the first 4 units of each data set
    python bench/generalise.py --detectors temporal  # one candidate: nothing to choose

Prints tables, then, as the last line, one JSON object.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Bench this checkout's sources, not whichever copy the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import ROOT, emit_json, print_table

from energy_core.detection.evaluation import Figures
from energy_core.detection.generalisation import (
    MAX_FALSE_ALARMS,
    RULE,
    CrossValidation,
    DatasetReport,
    catalogue,
    report,
)
from energy_core.detection.registry import DEFAULT_DETECTOR, DETECTORS

QUICK_UNITS = 4
DEFAULT_DATA_DIR = ROOT.parent / "shared" / "data"


def default_detectors() -> list[str]:
    """Every registered detector whose name starts with ``temporal``, and isolation_forest."""
    names = [name for name in DETECTORS if name.startswith("temporal")]
    return [*names, "isolation_forest"] if "isolation_forest" in DETECTORS else names


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def big(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def cells(fig: Figures) -> list[str]:
    """F1, FAR %, MAR %, ROC-AUC, AP, faults found."""
    return [
        num(fig.f1) if fig.anomalous_rows else "—",
        pct(fig.false_alarm_rate),
        pct(fig.missed_alarm_rate),
        num(fig.roc_auc),
        num(fig.average_precision),
        f"{fig.detected_segments}/{fig.segments}",
    ]


FIGURE_HEADER = ["F1", "FAR %", "MAR %", "ROC-AUC", "AP", "found"]


def chosen(cv: CrossValidation) -> str:
    return ", ".join(f"{name} ×{count}" for name, count in cv.chosen.items())


def print_report(result: DatasetReport) -> None:
    units = len(result.units)
    print()
    print_table(
        f"{result.dataset}: {units} units, in-sample (each detector pooled over every unit)",
        [
            [
                name,
                *cells(fig),
                num(result.one_threshold[name].roc_auc),
                num(result.one_threshold[name].unit_roc_auc_median),
                pct(result.one_threshold[name].flagged_share),
                big(result.one_threshold[name].max_score),
            ]
            for name, fig in result.in_sample.items()
        ],
        ["detector", *FIGURE_HEADER, "1-thr AUC", "unit AUC med", "flagged %", "max score"],
    )
    best = result.in_sample_choice
    rows: list[list[str]] = [["in-sample (chosen on all)", best, *cells(result.in_sample[best])]]
    for cv in (result.split_half, result.leave_one_out):
        if cv is None:
            continue
        rows.append([f"{cv.protocol} pooled", chosen(cv), *cells(cv.pooled)])
        if cv.protocol == "split-half":
            for fold, label in zip(cv.folds, ("A → B", "B → A"), strict=True):
                rows.append([f"  chosen on {label}", fold.detector, *cells(fold.reported)])
    print()
    print_table(
        f"{result.dataset}: the rule's choice in-sample, then cross-validated"
        " (graded on units the choice never saw)",
        rows,
        ["protocol", "chosen", *FIGURE_HEADER],
    )
    if len(rows) == 1:
        print(f"{result.dataset}: too few units to cross-validate")


def commit() -> str | None:
    """This checkout's commit, ``+dirty`` when ``src/`` has uncommitted changes; None
    outside a git checkout."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return None
    if head.returncode or not head.stdout.strip():
        return None
    return head.stdout.strip() + ("+dirty" if changed.stdout.strip() else "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Detectors on every development data set.")
    parser.add_argument(
        "--quick", action="store_true", help=f"the first {QUICK_UNITS} units of each data set"
    )
    parser.add_argument(
        "--detectors",
        default=None,
        help="comma-separated detector names (default: temporal* and isolation_forest)",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="default: ../shared/data"
    )
    parser.add_argument(
        "--max-false-alarms",
        type=float,
        default=MAX_FALSE_ALARMS,
        help="the choosing rule's false-alarm bound (fraction)",
    )
    args = parser.parse_args(argv)
    detectors = (
        [name.strip() for name in args.detectors.split(",") if name.strip()]
        if args.detectors
        else default_detectors()
    )
    unknown = [name for name in detectors if name not in DETECTORS]
    if unknown or not detectors:
        parser.error(f"unknown detector(s) {unknown}; known: {', '.join(DETECTORS)}")
    started = time.perf_counter()
    found = catalogue(args.data_dir)
    if not found.datasets:
        parser.error(f"no development data set under {args.data_dir}: {'; '.join(found.missing)}")
    print(f"data: {args.data_dir}; detectors: {', '.join(detectors)}")
    print(f"choosing rule: {RULE.format(bound=args.max_false_alarms)}")
    for missing in found.missing:
        print(f"missing: {missing}")
    results: dict[str, Any] = {}
    for dataset in found.datasets:
        subset = dataset.first(QUICK_UNITS if args.quick else None)
        result = report(subset, detectors, max_false_alarms=args.max_false_alarms)
        print_report(result)
        results[dataset.name] = result.to_dict()
    seconds = time.perf_counter() - started
    print(f"\n{seconds:.1f} s")
    emit_json(
        {
            "data_dir": str(args.data_dir),
            "detectors": detectors,
            "default_detector": DEFAULT_DETECTOR,
            "quick": args.quick,
            "rule": RULE.format(bound=args.max_false_alarms),
            "missing": list(found.missing),
            "commit": commit(),
            "date": datetime.now(UTC).date().isoformat(),
            "seconds": round(seconds, 2),
            "datasets": results,
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
