"""Regenerate the parts of the docs that the code produces, so that they cannot drift.

    python scripts/update_docs.py          # rewrite every generated region that differs
    python scripts/update_docs.py --check  # change nothing; exit 1 naming the regions that differ

A generated region sits between two HTML comments, invisible on the rendered page:
``<!-- generated: NAME -->`` … ``<!-- /generated: NAME -->``. Its text comes from
``REGIONS[NAME]``; tests/docs/test_generated_docs.py fails when a doc differs from it.

- ``drill`` (docs/detection.md): the table ``smartenergy drill --json`` prints with its default
  settings (deterministic: seeded simulator and detector).
- ``exit-codes`` (README.md): the exit codes and their meanings, from ``energy_ui.cli.EXIT_CODES``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


@dataclass(frozen=True)
class Region:
    """A generated region: the doc that holds it and how to produce its text."""

    doc: str
    render: Callable[[], str]
    inline: bool = False  # inside a sentence, rather than a block of its own lines


def drill_table() -> str:
    """The fire drill as ``smartenergy drill --json`` reports it, as a Markdown table."""
    from typer.testing import CliRunner

    from energy_ui.cli import app

    result = CliRunner().invoke(app, ["drill", "--json"], prog_name="smartenergy")
    if result.exit_code != 0:
        raise RuntimeError(f"smartenergy drill exited {result.exit_code}: {result.stderr}")
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    settings = (
        f"`smartenergy drill`: detector {report['detector']}, {report['meters']} meters, "
        f"{report['training_readings']} clean readings to train on, then "
        f"{report['drill_readings']} drill readings per fault kind with anomaly ratio "
        f"{report['anomaly_ratio']:g}, seed {report['seed']}."
    )
    lines = [
        textwrap.fill(settings, width=100),
        "",
        "| kind | anomalous | recall | false alarms | FAR % | median delay s |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["results"]:
        delay = row["median_delay_s"]
        lines.append(
            f"| {row['kind']} | {row['anomalous']} | {row['recall']:.3f} | "
            f"{row['false_alarms']} | {100 * row['false_alarm_rate']:.2f} | "
            f"{'—' if delay is None else f'{delay:g}'} |"
        )
    return "\n".join(lines)


def exit_codes() -> str:
    """``0 (done), 1 (…), …``: every exit code with its meaning."""
    from energy_ui.cli import EXIT_CODES

    return ", ".join(f"{int(code)} ({meaning})" for code, meaning in EXIT_CODES.items())


REGIONS: dict[str, Region] = {
    "drill": Region("docs/detection.md", drill_table),
    "exit-codes": Region("README.md", exit_codes, inline=True),
}


def pattern(name: str) -> re.Pattern[str]:
    """The region ``name``: group 1 its opening comment, 2 its text, 3 its closing comment."""
    quoted = re.escape(name)
    return re.compile(
        rf"(<!-- generated: {quoted}(?: [^>]*)? -->)(.*?)(<!-- /generated: {quoted} -->)", re.S
    )


def expected_text(region: Region) -> str:
    text = region.render()
    return text if region.inline else f"\n\n{text}\n\n"


def comparable(region: Region, text: str) -> str:
    """``text`` as compared: an inline region may be wrapped over lines like its paragraph."""
    return " ".join(text.split()) if region.inline else text


def current_text(name: str, root: Path = ROOT) -> str:
    """The text of region ``name`` as its doc holds it now."""
    doc = (root / REGIONS[name].doc).read_text(encoding="utf-8")
    found = pattern(name).findall(doc)
    if len(found) != 1:
        raise LookupError(
            f"{REGIONS[name].doc}: expected one region <!-- generated: {name} --> … "
            f"<!-- /generated: {name} -->, found {len(found)}"
        )
    return str(found[0][1])


def update(name: str, root: Path = ROOT) -> bool:
    """Rewrite region ``name`` in its doc; True if it changed."""
    region = REGIONS[name]
    path = root / region.doc
    before = current_text(name, root)
    wanted = expected_text(region)
    if comparable(region, before) == comparable(region, wanted):
        return False
    doc = path.read_text(encoding="utf-8")
    updated = pattern(name).sub(lambda match: match[1] + wanted + match[3], doc, count=1)
    path.write_text(updated, encoding="utf-8")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report differences, change nothing")
    parser.add_argument("names", nargs="*", help=f"regions: {', '.join(REGIONS)} (default: all)")
    options = parser.parse_args()
    if unknown := set(options.names) - set(REGIONS):
        parser.error(f"unknown region(s) {', '.join(sorted(unknown))}; known: {', '.join(REGIONS)}")
    differ = []
    for name in options.names or REGIONS:
        region = REGIONS[name]
        if options.check:
            if comparable(region, current_text(name)) != comparable(region, expected_text(region)):
                differ.append(name)
                print(f"{region.doc}: region {name} differs from what the code produces")
        elif update(name):
            print(f"{region.doc}: region {name} updated")
    if differ:
        print("run `python scripts/update_docs.py` to regenerate them")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
