"""Health alerts: hysteresis so a percentage hovering at a threshold does not flap."""

from __future__ import annotations

import pytest

from energy_core import HealthState, HealthThresholds
from energy_core.health.alarm import HealthAlarm, HealthChange

N, C, X = HealthState.NORMAL, HealthState.CAUTION, HealthState.CRITICAL


def changes(alarm: HealthAlarm, percentages: list[float]) -> list[tuple[HealthState, HealthState]]:
    found = [alarm.observe(p) for p in percentages]
    return [(c.previous, c.current) for c in found if c is not None]


def test_the_first_analysis_sets_the_state_without_an_alert():
    alarm = HealthAlarm(HealthThresholds(5, 15))
    assert alarm.observe(20.0) is None
    assert alarm.state is X


def test_the_state_worsens_as_soon_as_a_threshold_is_reached():
    alarm = HealthAlarm(HealthThresholds(5, 15))
    assert changes(alarm, [1.0, 5.0, 15.0]) == [(N, C), (C, X)]


def test_the_state_improves_only_below_the_threshold_minus_the_margin():
    alarm = HealthAlarm(HealthThresholds(5, 15), margin=1.0)
    assert changes(alarm, [6.0, 4.5, 4.1, 4.0, 3.9]) == [(C, N)]


def test_a_percentage_hovering_at_a_threshold_raises_one_alert():
    alarm = HealthAlarm(HealthThresholds(5, 15), margin=1.0)
    hovering = [4.8, 5.1, 4.9, 5.2, 4.7, 5.0, 4.6, 5.3]
    assert changes(alarm, hovering) == [(N, C)]


def test_a_fall_can_skip_a_level():
    alarm = HealthAlarm(HealthThresholds(5, 15), margin=1.0)
    assert changes(alarm, [20.0, 2.0]) == [(X, N)]


def test_forget_starts_over_silently():
    alarm = HealthAlarm(HealthThresholds(5, 15))
    alarm.observe(20.0)
    alarm.forget()
    assert alarm.observe(1.0) is None
    assert alarm.state is N


def test_a_change_knows_whether_it_is_worse():
    assert HealthChange(N, C, 6.0).worse and not HealthChange(C, N, 3.0).worse


def test_a_negative_margin_is_refused():
    with pytest.raises(ValueError, match="margin"):
        HealthAlarm(HealthThresholds(), margin=-1)
