"""What users said of each reading (labels for exports and `evaluate`) and of each span a
chart shades."""

from __future__ import annotations

from datetime import timedelta

from energy_core import Reading
from energy_core.alerts.store import Feedback
from energy_core.detection.feedback import verdicts
from energy_ui.dashboard.series import epoch_ms, feedback_areas
from tests.strategies import BASE

VALUES = {"voltage": 230.0}


def at(seconds: int, meter: str = "m-1") -> Reading:
    return Reading(BASE + timedelta(seconds=seconds), meter, VALUES)


def said(verdict: str, start: int, end: int, *, meter: str = "m-1", given: int = 0) -> Feedback:
    return Feedback(
        meter_id=meter,
        start=BASE + timedelta(seconds=start),
        end=BASE + timedelta(seconds=end),
        verdict=verdict,  # type: ignore[arg-type]
        by="Ana",
        at=BASE + timedelta(hours=1, seconds=given),
    )


def test_a_span_covers_its_meters_readings_both_ends_included() -> None:
    confirmed = said("confirmed", 10, 20)
    readings = [at(9), at(10), at(15), at(20), at(21), at(15, "m-2")]
    assert verdicts(readings, [confirmed]) == [
        None,
        confirmed,
        confirmed,
        confirmed,
        None,
        None,
    ]


def test_the_latest_verdict_given_wins_where_spans_overlap() -> None:
    first = said("confirmed", 0, 30, given=0)
    later = said("false_alarm", 10, 12, given=60)
    got = verdicts([at(5), at(11)], [later, first])
    assert [item.verdict if item else None for item in got] == ["confirmed", "false_alarm"]
    got = verdicts([at(5), at(11)], [first, later])  # whatever order the store gives
    assert [item.verdict if item else None for item in got] == ["confirmed", "false_alarm"]


def test_a_verdict_on_one_reading_is_shaded_at_least_the_minimum_wide() -> None:
    one = said("false_alarm", 30, 30)
    wide = said("confirmed", 0, 600, given=1)
    narrow, broad = feedback_areas([wide, one], timedelta(seconds=10))
    assert (narrow.start, narrow.end) == (
        epoch_ms(BASE + timedelta(seconds=25)),
        epoch_ms(BASE + timedelta(seconds=35)),
    )
    assert (broad.start, broad.end) == (epoch_ms(BASE), epoch_ms(BASE + timedelta(seconds=600)))
