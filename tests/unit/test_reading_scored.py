"""A scored reading is the same reading carrying a verdict: nothing else changes."""

from __future__ import annotations

from dataclasses import fields, replace

from hypothesis import given
from hypothesis import strategies as st

from energy_core.telemetry.readings import Origin, Reading
from tests.strategies import readings


@given(
    reading=readings(),
    reading_id=st.one_of(st.none(), st.integers(1, 10**9)),
    kind=st.one_of(st.none(), st.sampled_from(["spike", "stuck"])),
    origin=st.one_of(st.none(), st.builds(Origin, st.sampled_from(["http", "mqtt"]))),
    score=st.floats(0, 100),
    flagged=st.booleans(),
    top=st.lists(st.sampled_from(["voltage", "current"]), max_size=2),
    view=st.one_of(st.none(), st.sampled_from(["point", "stuck"])),
)
def test_scored_keeps_every_other_field_as_replace_would(
    reading, reading_id, kind, origin, score, flagged, top, view
):
    reading = replace(reading, id=reading_id, anomaly_kind=kind, origin=origin)
    expected = replace(
        reading,
        score=float(score),
        is_flagged=flagged,
        top_variables=tuple(top),
        flagged_by=view,
    )
    got = reading.scored(score, flagged, top, view)
    # Field by field: ``origin`` takes no part in equality.
    for field in fields(Reading):
        assert getattr(expected, field.name) == getattr(got, field.name), field.name
    assert type(got.score) is float and type(got.is_flagged) is bool
    assert type(got.top_variables) is tuple


def test_scored_names_every_field_of_a_reading():
    """``Reading.scored`` copies the fields by name: a field added to ``Reading`` must be
    added there too (this test lists them so that it is not forgotten)."""
    assert [field.name for field in fields(Reading)] == [
        "timestamp", "meter_id", "values", "is_anomaly", "anomaly_kind", "score",
        "is_flagged", "top_variables", "flagged_by", "id", "origin",
    ]  # fmt: skip
