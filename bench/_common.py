"""Small helpers shared by the benchmark scripts (not part of the product)."""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Sequence
from typing import Any


def rss_mb() -> float:
    """This process's resident memory in MB (Linux /proc)."""
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found")


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return float(ordered[index])


def print_table(title: str, rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    print(title)
    print("  ".join(str(cell).ljust(width) for cell, width in zip(header, widths, strict=False)))
    print("  ".join("-" * width for width in widths))
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)))


def emit_json(figures: dict[str, Any]) -> None:
    """The last line of every benchmark: one JSON object."""
    print(json.dumps(figures, sort_keys=True))
