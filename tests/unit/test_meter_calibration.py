"""Per-meter thresholds (issue 16): each meter's factor on the model's threshold comes from
its own training scores and its false-alarm budget, within [1, max_factor], and moves with
nothing another meter does."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from energy_adapters.memory import (
    ManualClock,
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)
from energy_core import Monitor, MonitorSettings, Reading, Simulator, feature_matrix
from energy_core.detection import meter_calibration
from energy_core.detection.feedback import FeedbackCalibration
from energy_core.detection.meter_calibration import (
    DEFAULT_MAX_FACTOR,
    AlarmBudget,
    budget_factor,
    calibrate_meters,
    combine_factors,
    exceedance_probability,
    meter_cadence,
    parse_meter_budgets,
    score_meters,
)
from energy_core.detection.registry import make_detector
from energy_core.usecases.monitor import score_with

START = datetime(2026, 3, 2, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


class ValueDetector:
    """A detector whose score is the reading's ``active_power`` itself (threshold 1): the
    tests choose every score."""

    features = ("active_power",)
    threshold_ = 1.0
    context_rows = 0
    calibration = "the value"

    def fit(self, X, y=None, *, groups=None, times=None):
        return self

    def score(self, X, *, context=None, groups=None, times=None):
        return np.asarray(X[:, 0], dtype=np.float64)

    def predict(self, X, *, context=None, groups=None, times=None):
        return self.score(X) > self.threshold_

    def explain(self, X, top=3, *, context=None, groups=None, times=None):
        return [("active_power",) for _ in range(len(X))]

    def score_and_explain(self, X, top=3, *, context=None, groups=None, times=None):
        scores = self.score(X)
        return scores, self.explain(X[scores > self.threshold_])

    def expected_range(self, X, *, context=None, groups=None, times=None):
        return np.full(X.shape, np.nan), np.full(X.shape, np.nan)


def meter_rows(
    scores_by_meter: dict[str, Sequence[float]], cadence: dict[str, timedelta] | None = None
) -> tuple[np.ndarray, np.ndarray, list[datetime]]:
    """``X``, groups and timestamps of meters whose readings score ``scores_by_meter``
    (``ValueDetector``), in time order, one a minute unless ``cadence`` says otherwise."""
    rows: list[tuple[datetime, str, float]] = []
    for meter, scores in scores_by_meter.items():
        step = (cadence or {}).get(meter, MINUTE)
        rows += [(START + step * index, meter, float(s)) for index, s in enumerate(scores)]
    rows.sort(key=lambda row: (row[0], row[1]))
    X = np.array([[score] for _, _, score in rows])
    return X, np.array([meter for _, meter, _ in rows]), [at for at, _, _ in rows]


# --- one meter's calibration moves with nothing another meter does -------------------------
@settings(max_examples=40, deadline=None)
@given(
    other=st.lists(
        st.floats(min_value=-5.0, max_value=50.0, allow_nan=False), min_size=0, max_size=3000
    ),
    seed=st.integers(0, 2**16),
)
def test_a_meters_factor_does_not_move_when_another_meters_data_changes(other, seed):
    rng = np.random.default_rng(seed)
    mine = 0.2 + rng.exponential(0.3, 2880)  # a noisy meter: factor well above 1
    budget = AlarmBudget(per_day=1.0)
    alone = calibrate_meters(ValueDetector(), *meter_rows({"motor": mine}), budget)
    together = calibrate_meters(
        ValueDetector(), *meter_rows({"motor": mine, "building": other}), budget
    )
    assert alone["motor"] > 1.0
    assert together["motor"] == alone["motor"]


@pytest.fixture(scope="module")
def plant() -> dict[str, list[Reading]]:
    """Four meters, two days at one reading a minute, no faults."""
    simulator = Simulator(meters=4, anomaly_ratio=0.0, seed=16)
    readings = simulator.history(4 * 2 * 1440, end=START + timedelta(days=2), cadence=MINUTE)
    return {meter: [r for r in readings if r.meter_id == meter] for meter in simulator.meter_ids}


def noisier(readings: Sequence[Reading], seed: int, spread: float = 0.08) -> list[Reading]:
    rng = np.random.default_rng(seed)
    return [
        replace(
            reading,
            values={
                name: value * (1.0 + rng.normal(0.0, spread))
                if name in ("current", "active_power")
                else value
                for name, value in reading.values.items()
            },
        )
        for reading in readings
    ]


def interleaved(by_meter: dict[str, list[Reading]]) -> list[Reading]:
    return sorted(
        (r for readings in by_meter.values() for r in readings),
        key=lambda r: (r.timestamp, r.meter_id),
    )


def calibrated(detector, readings: Sequence[Reading], budget: AlarmBudget) -> dict[str, float]:
    X = feature_matrix(readings, detector.features)
    groups = np.array([r.meter_id for r in readings])
    return calibrate_meters(detector, X, groups, [r.timestamp for r in readings], budget)


def test_with_the_default_detector_changing_one_meter_leaves_the_others_factors(plant):
    meters = sorted(plant)
    noisy = {**plant, meters[3]: noisier(plant[meters[3]], 1)}
    training = interleaved(noisy)
    detector = make_detector("temporal").fit(
        feature_matrix(training), groups=[r.meter_id for r in training]
    )
    budget = AlarmBudget(per_day=0.5)
    before = calibrated(detector, training, budget)
    assert before.get(meters[3], 1.0) > 1.0  # the noisy meter is raised
    # The first meter's data changes (noisier still, then quiet); the model stays.
    for changed in (noisier(plant[meters[0]], 2, 0.2), plant[meters[0]][: 1440 // 2]):
        after = calibrated(detector, interleaved({**noisy, meters[0]: changed}), budget)
        assert {m: after.get(m) for m in meters[1:]} == {m: before.get(m) for m in meters[1:]}


# --- the budget --------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(st.floats(min_value=-10, max_value=100, allow_nan=False), min_size=100),
    per_day=st.floats(min_value=0.0, max_value=500.0),
    cadence_s=st.floats(min_value=1.0, max_value=3600.0),
)
def test_in_training_a_factor_lets_through_at_most_the_budget_or_sits_at_the_cap(
    scores, per_day, cadence_s
):
    """Counted among the scores under the cap: those above it alarm whatever the factor."""
    probability = exceedance_probability(per_day, timedelta(seconds=cadence_s))
    factor = budget_factor(np.array(scores), probability)
    assert 1.0 <= factor <= DEFAULT_MAX_FACTOR
    kept = [score for score in scores if score <= DEFAULT_MAX_FACTOR]
    through = sum(score > factor for score in kept)
    assert through <= math.floor(probability * len(kept)) or factor == DEFAULT_MAX_FACTOR


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    scale=st.floats(min_value=0.1, max_value=0.6),
    per_day=st.floats(min_value=0.2, max_value=5.0),
    seed=st.integers(0, 2**16),
)
def test_on_exponential_scores_the_extrapolated_level_meets_the_budget(scale, per_day, seed):
    """Scores with an exponential tail, too few training readings to read the level off:
    the chance that a new normal reading passes the factor is at most the budget's (within
    4×, the sampling error of a day's tail), and, once the training part may let two
    readings through, not needlessly below it."""
    rng = np.random.default_rng(seed)
    offset = 0.1
    scores = offset + rng.exponential(scale, 20_000)
    probability = exceedance_probability(per_day, timedelta(seconds=5))
    assert probability * len(scores) < meter_calibration.TAIL_EXCEEDANCES  # extrapolated
    factor = budget_factor(scores, probability, max_factor=100.0)
    true = math.exp(-(factor - offset) / scale)  # P(score > factor)
    if factor > 1.0:
        assert true <= 4 * probability
        if probability * len(scores) >= 2:
            assert true >= probability / 4


def test_on_the_simulator_a_noisy_meter_flags_within_its_budget_on_new_normal_days(plant):
    """The model's own threshold lets a noisy meter alarm dozens of times a day; its factor,
    learnt on two days, keeps a third normal day within the budget."""
    meters = sorted(plant)
    simulator = Simulator(meters=4, anomaly_ratio=0.0, seed=17)
    later = simulator.history(4 * 1440, end=START + timedelta(days=3), cadence=MINUTE)
    fresh = {m: [r for r in later if r.meter_id == m] for m in meters}
    training = interleaved({**plant, meters[3]: noisier(plant[meters[3]], 1)})
    test = interleaved({**fresh, meters[3]: noisier(fresh[meters[3]], 3)})
    detector = make_detector("temporal").fit(
        feature_matrix(training), groups=[r.meter_id for r in training]
    )
    factors = calibrated(detector, training, AlarmBudget(per_day=1.0))

    def flagged(factors: dict[str, float]) -> dict[str, int]:
        scored = score_with(detector, test, threshold_factors=factors)
        return {m: sum(r.is_flagged for r in scored if r.meter_id == m) for m in meters}

    assert flagged({})[meters[3]] >= 10  # the noisy meter, at the model's threshold
    assert all(count <= 3 for count in flagged(factors).values())  # budget 1 a day, 1 day


def test_a_slower_meter_may_flag_a_larger_share_of_its_readings():
    rng = np.random.default_rng(5)
    scores = list(0.3 + rng.exponential(0.25, 3000))
    X, groups, at = meter_rows(
        {"fast": scores, "slow": scores}, cadence={"slow": timedelta(minutes=15)}
    )
    factors = calibrate_meters(ValueDetector(), X, groups, at, AlarmBudget(per_day=2.0))
    assert 1.0 < factors["slow"] < factors["fast"]


def test_a_budget_per_meter_overrides_the_default_by_glob():
    budget = AlarmBudget(per_day=2.0, meters=(("plant-1", 5.0), ("boiler-*", 0.5)))
    assert budget.for_meter("plant-1") == 5.0
    assert budget.for_meter("boiler-north") == 0.5
    assert budget.for_meter("plant-10") == 2.0
    rng = np.random.default_rng(6)
    scores = list(0.3 + rng.exponential(0.3, 3000))
    factors = calibrate_meters(
        ValueDetector(), *meter_rows({"boiler-1": scores, "press": scores}), budget
    )
    assert factors["boiler-1"] > factors["press"] > 1.0


def test_meter_budgets_parse_and_name_a_bad_entry():
    assert parse_meter_budgets(" plant-1=5, boiler-*=0.5 ,") == (
        ("plant-1", 5.0),
        ("boiler-*", 0.5),
    )
    assert parse_meter_budgets("") == ()
    for bad in ("plant-1", "=3", "plant-1=-1", "plant-1=lots", "a=inf"):
        with pytest.raises(ValueError, match="meter-or-glob=alarms-per-day"):
            parse_meter_budgets(bad)
    with pytest.raises(ValueError, match="per_day"):
        AlarmBudget(per_day=-1.0)
    with pytest.raises(ValueError, match="max_factor"):
        AlarmBudget(max_factor=0.5)


# --- bounds ---------------------------------------------------------------------------------
def test_a_quiet_meter_keeps_the_models_threshold_never_a_lower_one():
    quiet = list(np.linspace(0.0, 0.5, 3000))
    assert budget_factor(np.array(quiet), 0.5) == 1.0
    factors = calibrate_meters(ValueDetector(), *meter_rows({"quiet": quiet}), AlarmBudget())
    assert factors == {}


def test_a_meter_with_too_few_readings_keeps_factor_one():
    few = [5.0] * (meter_calibration.MIN_READINGS - 1)
    assert calibrate_meters(ValueDetector(), *meter_rows({"new": few}), AlarmBudget()) == {}
    assert budget_factor(np.array([5.0] * 100), 0.0, min_readings=101) == 1.0


def test_a_meter_whose_training_is_full_of_faults_does_not_go_blind_beyond_the_cap():
    rng = np.random.default_rng(7)
    faulty = 0.2 + rng.exponential(0.2, 3000)
    faults = rng.random(3000) < 0.3  # a third of its training: faults scoring 1.5 to 40
    faulty[faults] = rng.uniform(1.5, 40.0, faults.sum())
    budget = AlarmBudget(per_day=1.0)
    factors = calibrate_meters(ValueDetector(), *meter_rows({"sick": faulty}), budget)
    assert factors["sick"] == DEFAULT_MAX_FACTOR
    assert budget_factor(faulty, 0.0) == DEFAULT_MAX_FACTOR  # a budget of 0: the cap
    # A new fault scoring above the cap still alarms on that meter.
    readings = [
        Reading(START + MINUTE * i, "sick", {"active_power": s})
        for i, s in enumerate((1.5, 2.9, 3.5))
    ]
    scored = score_with(ValueDetector(), readings, threshold_factors=factors)
    assert [r.is_flagged for r in scored] == [False, False, True]


def test_faults_above_the_cap_in_training_leave_a_quiet_meter_at_the_models_threshold():
    """They alarm whatever the factor: they say nothing of the meter's normal."""
    rng = np.random.default_rng(10)
    quiet = rng.uniform(0.0, 0.4, 3000)
    quiet[rng.choice(3000, 30, replace=False)] = rng.uniform(5.0, 50.0, 30)
    assert calibrate_meters(ValueDetector(), *meter_rows({"quiet": quiet}), AlarmBudget()) == {}


# --- with users' feedback -------------------------------------------------------------------
def test_budget_and_feedback_factors_combine_as_the_larger():
    combined = combine_factors({"press": 1.6, "pump": 1.2}, {"pump": 1.9, "fan": 1.3})
    assert combined == {"press": 1.6, "pump": 1.9, "fan": 1.3}
    assert combine_factors({}, {}) == {}


def value_monitor(budget: AlarmBudget | None) -> Monitor:
    store = MemoryReadingRepository()
    return Monitor(
        readings=store,
        queries=store,
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=MemoryChangeFeed(),
        clock=ManualClock(START + timedelta(days=3)),
        settings=MonitorSettings(max_readings=None, alarm_budget=budget),
        detector_factory=lambda features: ValueDetector(),
    )


def readings_scoring(meter: str, scores: Sequence[float], start: datetime = START) -> list:
    return [
        Reading(start + MINUTE * i, meter, {"active_power": float(s)}) for i, s in enumerate(scores)
    ]


def test_training_stores_each_meters_factor_and_scoring_uses_the_larger_with_feedback():
    rng = np.random.default_rng(8)
    monitor = value_monitor(AlarmBudget(per_day=1.0))
    monitor.ingest(
        readings_scoring("noisy", 0.3 + rng.exponential(0.25, 2000))
        + readings_scoring("quiet", rng.uniform(0.0, 0.4, 2000))
    )
    info = monitor.train()
    assert set(info.meter_factors) == {"noisy"}
    noisy = info.meter_factors["noisy"]
    assert 1.0 < noisy < DEFAULT_MAX_FACTOR
    assert monitor.model_info().meter_factors == info.meter_factors  # stored with the model

    later = START + timedelta(days=2)
    batch = readings_scoring("noisy", [noisy - 0.05, noisy + 0.05], later) + readings_scoring(
        "quiet", [1.2], later
    )
    report = monitor.ingest(batch)
    assert [(r.meter_id, r.is_flagged) for r in report.stored] == [
        ("noisy", False),
        ("noisy", True),
        ("quiet", True),
    ]
    # Users' feedback raises the quiet meter; on the noisy one the larger factor holds.
    monitor.calibration = FeedbackCalibration(threshold_factors={"noisy": 1.0, "quiet": 1.5})
    assert monitor.threshold_factors(info) == {"noisy": noisy, "quiet": 1.5}
    again = monitor.ingest(
        readings_scoring("noisy", [noisy - 0.05], later + MINUTE * 5)
        + readings_scoring("quiet", [1.2, 1.6], later + MINUTE * 5)
    )
    assert [(r.meter_id, r.is_flagged) for r in again.stored] == [
        ("noisy", False),
        ("quiet", False),
        ("quiet", True),
    ]


def test_without_a_budget_every_meter_keeps_the_models_threshold():
    rng = np.random.default_rng(9)
    monitor = value_monitor(None)
    monitor.ingest(readings_scoring("noisy", 0.3 + rng.exponential(0.4, 2000)))
    assert monitor.train().meter_factors == {}


# --- in several processes --------------------------------------------------------------------
def test_scoring_in_processes_gives_the_same_scores_as_in_one(plant, monkeypatch):
    training = interleaved(plant)
    X = feature_matrix(training)
    groups = np.array([r.meter_id for r in training])
    detector = make_detector("temporal").fit(X, groups=groups)
    monkeypatch.setattr(meter_calibration, "PARALLEL_MIN_ROWS", 0)
    together = score_meters(detector, X, groups, jobs=1)
    split = score_meters(detector, X, groups, jobs=2)
    np.testing.assert_array_equal(split, together)


def test_a_meters_cadence_is_its_median_spacing():
    at = [START, START + MINUTE, START + 2 * MINUTE, START + 2 * MINUTE, START + 10 * MINUTE]
    assert meter_cadence(at) == MINUTE
    assert meter_cadence([START]) is None


# --- settings ---------------------------------------------------------------------------------
def test_the_budget_settings_reach_the_monitor(monkeypatch):
    from energy_ui.settings import Settings

    monkeypatch.setenv("ENERGY_ALARM_BUDGET", "2")
    monkeypatch.setenv("ENERGY_ALARM_BUDGET_METERS", "plant-1=5, boiler-*=0.5")
    budget = Settings(_env_file=None).monitor_settings().alarm_budget
    assert budget == AlarmBudget(per_day=2.0, meters=(("plant-1", 5.0), ("boiler-*", 0.5)))
    assert Settings(_env_file=None, alarm_budget="").monitor_settings().alarm_budget is None
    assert Settings(_env_file=None, alarm_budget_meters="").alarm_budgets() == AlarmBudget(2.0)
    with pytest.raises(ValueError, match="ENERGY_ALARM_BUDGET_METERS: 'boiler-\\*'"):
        Settings(_env_file=None, alarm_budget_meters="plant-1=5,boiler-*")
    with pytest.raises(ValueError, match="alarm_budget"):
        Settings(_env_file=None, alarm_budget=-1)
