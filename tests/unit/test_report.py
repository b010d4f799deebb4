"""The monthly report: one HTML page that fetches nothing (its charts inline SVG drawn by us,
all text escaped) with the month's figures, cost and anomalies; and a CSV of the days."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from energy_adapters.memory import ManualClock
from energy_core import Simulator
from energy_core.energy import EnergySummary
from energy_ui.bootstrap import bootstrap
from energy_ui.energy_views import energy_summary, month_window
from energy_ui.report import CSV_COLUMNS, nice_ticks, report_csv, report_html
from energy_ui.settings import Settings
from tests.energy_support import (
    BURST_END,
    METER,
    TARIFFS,
    burst,
    flag_burst,
    two_kw_for_two_hours,
)

GENERATED = datetime(2025, 7, 1, 8, tzinfo=UTC)


def june(monkeypatch, tmp_path, tariffs: str | None = TARIFFS) -> EnergySummary:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    path = None
    if tariffs is not None:
        path = tmp_path / "tariffs.toml"
        path.write_text(tariffs, encoding="utf-8")
    application = bootstrap(
        Settings(_env_file=None, max_readings=None, tariffs=path),
        clock=ManualClock(BURST_END),
        simulator=Simulator(meters=1),
    )
    application.monitor.readings.add_many(two_kw_for_two_hours() + burst())
    flag_burst(application)
    start, end = month_window("2025-06", "UTC")
    return energy_summary(application, start, end, period="day")


class Fetches(HTMLParser):
    """Every tag, and every attribute that would make a browser fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.fetching: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.fetching += [
            (tag, name) for name, _ in attrs if name in ("src", "href", "xlink:href", "srcset")
        ]


def test_the_page_fetches_nothing_and_draws_its_charts_inline(monkeypatch, tmp_path):
    page = report_html(
        june(monkeypatch, tmp_path), month="2025-06", language="es", generated=GENERATED
    )
    parser = Fetches()
    parser.feed(page)
    assert parser.fetching == []
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert "url(" not in page and "@import" not in page and "http" not in page
    charts = re.findall(r"<svg .*?</svg>", page, re.S)
    assert len(charts) == 2
    for chart in charts:
        ElementTree.fromstring(chart)  # well-formed: everything in it escaped


def test_the_page_shows_the_months_figures_in_the_language(monkeypatch, tmp_path):
    summary = june(monkeypatch, tmp_path)
    spanish = report_html(summary, month="2025-06", language="es", generated=GENERATED)
    assert "<title>Informe energético 2025-06</title>" in spanish
    assert "Del 2025-06-01 al 2025-06-30 (UTC)" in spanish
    assert "5,50 kWh" in spanish  # 4 kWh at 2 kW for two hours, 1.5 at 6 kW for 15 minutes
    assert "Máxima 6,00 kW · 06-02 12:00" in spanish  # the peak marked on the curve
    assert "<td>2025 · peak</td><td>1,500</td>" in spanish
    assert "Término de potencia 2025-06" in spanish
    assert f"<td>{METER}</td>" in spanish
    assert "2025-06-02 12:00" in spanish  # the incident's start, among the anomalies
    english = report_html(summary, month="2025-06", language="en", generated=GENERATED)
    assert "<title>Energy report 2025-06</title>" in english and "5.50 kWh" in english


def test_text_from_the_tariff_file_is_escaped(monkeypatch, tmp_path):
    hostile = TARIFFS.replace('name = "peak"', 'name = "<script>alert(1)</script>"')
    page = report_html(
        june(monkeypatch, tmp_path, hostile), month="2025-06", language="en", generated=GENERATED
    )
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_without_tariffs_the_page_says_how_to_get_costs(monkeypatch, tmp_path):
    page = report_html(
        june(monkeypatch, tmp_path, None), month="2025-06", language="en", generated=GENERATED
    )
    assert "set ENERGY_TARIFFS" in page


def test_the_csv_has_each_day_of_each_meter_then_the_total(monkeypatch, tmp_path):
    rows = list(csv.DictReader(io.StringIO(report_csv(june(monkeypatch, tmp_path)))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 2 * 30  # 30 days of press-1, then 30 of the total
    meter_day = next(r for r in rows if r["meter_id"] == METER and r["period"] == "2025-06-02")
    assert float(meter_day["import_kwh"]) == pytest.approx(5.5, rel=0.005)
    assert meter_day["start"] == "2025-06-02T00:00:00+00:00"
    total_day = next(r for r in rows if r["meter_id"] == "" and r["period"] == "2025-06-02")
    assert total_day["import_kwh"] == meter_day["import_kwh"]
    quiet = next(r for r in rows if r["meter_id"] == METER and r["period"] == "2025-06-03")
    assert (float(quiet["import_kwh"]), float(quiet["coverage"])) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("top", "ticks"),
    [
        (6.6, [0, 2, 4, 6, 8]),
        (0.37, [0, 0.1, 0.2, 0.3, 0.4]),
        (1000, [0, 200, 400, 600, 800, 1000]),
        (0, [0, 1]),
    ],
)
def test_axes_get_round_ticks(top, ticks):
    assert nice_ticks(top) == pytest.approx(ticks)
