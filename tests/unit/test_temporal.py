from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from energy_adapters.model_codec import dump_detector, load_detector
from energy_core.detection.drill import run_drill
from energy_core.detection.protocol import Detector, NotFittedError
from energy_core.detection.registry import make_detector
from energy_core.detection.temporal import (
    VIEWS,
    RecentMedians,
    TemporalDetector,
    batched_sequence_features,
    holiday_mask,
    run_lengths,
    seasonal_lags_for,
    sequence_features,
)
from energy_core.telemetry.catalogue import DEFAULT_FEATURES
from energy_core.telemetry.readings import feature_matrix, labels
from energy_core.telemetry.simulator import AnomalyKind, Simulator


def test_run_lengths_count_consecutive_equal_values():
    X = np.array([[1.0], [1.0], [2.0], [2.0], [2.0], [1.0]])
    assert run_lengths(X)[:, 0].tolist() == [1, 2, 1, 2, 3, 1]


def test_seasonal_lags_follow_the_cadence_and_the_training_length():
    assert seasonal_lags_for(timedelta(hours=1), 1000) == (24, 168)
    assert seasonal_lags_for(timedelta(minutes=5), 3400) == (288,)
    assert seasonal_lags_for(timedelta(seconds=1), 400) == ()


def meter_rows(seed=3, count=6000):
    simulator = Simulator(meters=1, seed=seed, anomaly_ratio=0.02)
    readings = simulator.history(count, end=datetime(2024, 1, 5, tzinfo=UTC))
    return feature_matrix(readings), labels(readings), readings


def test_the_temporal_detector_is_a_detector_and_must_be_fitted_first():
    detector = TemporalDetector()
    with pytest.raises(NotFittedError):
        detector.score(np.zeros((3, len(DEFAULT_FEATURES))))
    X, _, _ = meter_rows()
    assert detector.fit(X[:500]) is detector
    assert isinstance(detector, Detector)  # the protocol the monitor relies on
    scores = detector.score(X[500:520])
    assert scores.shape == (20,) and np.isfinite(scores).all()


def test_scoring_with_context_equals_scoring_the_whole_sequence():
    X, _, _ = meter_rows()
    detector = TemporalDetector().fit(X[:3000])
    whole = detector.score(X)
    batched = np.concatenate(
        [detector.score(X[:4000]), detector.score(X[4000:], context=X[3000:4000])]
    )
    assert np.allclose(whole, batched)


def test_groups_keep_each_meters_history_apart():
    X, _, _ = meter_rows()
    detector = TemporalDetector().fit(X[:3000])
    alone = detector.score(X[4000:4100], context=X[:4000])
    keys = np.array(["a", "b"] * 100)
    mixed = np.empty((200, X.shape[1]))
    mixed[0::2] = X[4000:4100]
    mixed[1::2] = X[4000:4100] * 1.5
    scores = detector.score(mixed, groups=keys, context={"a": X[:4000], "b": X[:4000] * 1.5})
    assert np.allclose(alone, scores[0::2])


@pytest.mark.parametrize("seed", range(12))
def test_batched_features_equal_each_sequences_own_bit_for_bit(seed):
    """Many meters with a few new rows each, computed side by side: exactly the numbers
    ``sequence_features`` gives each meter's own context + rows (ties, runs and missing
    or short contexts included)."""
    rng = np.random.default_rng(seed)
    short, long = int(rng.integers(2, 12)), int(rng.integers(3, 70))
    lags = [(), (3,), (5, 12)][seed % 3]
    periods = seed % 4  # the same-hour profile over 0 (none) … 3 periods
    needed = short + max(long, *lags, periods * max(lags, default=0), 1)
    variables = [f"v{index}" for index in range(4)]
    sequences = []
    for _ in range(int(rng.integers(1, 9))):
        before = int(rng.choice([0, int(rng.integers(1, needed + 1)), needed]))
        data = rng.normal(size=(before + int(rng.integers(1, 10)), len(variables)))
        if seed % 2:
            data = np.round(data, 1)  # ties in medians, repeated values
        data[:, 2] = 1.0 if seed % 4 == 1 else data[:, 2]  # a stuck variable
        sequences.append((data[before:], data[:before] if before else None))
    limits = (rng.normal(size=4) * 0.1, np.abs(rng.normal(size=4)) + 0.2) if seed % 3 else None
    options = {
        "short_window": short,
        "long_window": long,
        "seasonal_lags": lags,
        "jump_limits": limits,
        "profile_periods": periods,
        "recent": seed % 5 < 3,  # the median of the last period before each row
    }
    # Some rows are holidays (compared with the same hour of earlier Sundays).
    backs = [
        np.where(rng.random(len(rows)) < 0.3, rng.integers(1, 2 * max(lags, default=1) + 1), 0)
        if lags and periods
        else None
        for rows, _ in sequences
    ]
    batched = batched_sequence_features(sequences, variables, holiday_back=backs, **options)
    for (rows, previous), back, got in zip(sequences, backs, batched, strict=True):
        whole = rows if previous is None else np.vstack([previous, rows])
        if back is not None:
            back = np.concatenate([np.zeros(len(whole) - len(rows), dtype=np.intp), back])
        expected = sequence_features(whole, variables, holiday_back=back, **options).values[
            -len(rows) :
        ]
        np.testing.assert_array_equal(got, expected)


def test_a_live_batch_of_many_meters_scores_as_each_meter_alone():
    """Scoring a batch of many meters (a gateway) with context gives each reading the score
    and explanation it gets when its meter is scored alone; features computed once."""
    simulator = Simulator(meters=40, seed=4, anomaly_ratio=0.05)
    history = simulator.history(40 * 150, cadence=timedelta(seconds=1))
    rows = feature_matrix(history)
    meters = np.array([reading.meter_id for reading in history])
    detector = TemporalDetector().fit(rows[: 40 * 100], groups=meters[: 40 * 100])
    batch = slice(40 * 140, 40 * 150)  # ten new rows per meter, after 140 of context
    context = {meter: rows[: batch.start][meters[: batch.start] == meter] for meter in set(meters)}
    scores, explained = detector.score_and_explain(
        rows[batch], context=context, groups=meters[batch]
    )
    flagged = scores > detector.threshold_
    assert flagged.any()
    for meter in sorted(set(meters))[:5]:
        mine = meters[batch] == meter
        alone = detector.score(rows[batch][mine], context=context[meter])
        np.testing.assert_array_equal(scores[mine], alone)
    every = detector.explain(rows[batch], context=context, groups=meters[batch])
    assert explained == [every[row] for row in np.flatnonzero(flagged)]


def test_it_finds_the_simulators_faults_stuck_sensors_included():
    X, y, readings = meter_rows()
    detector = TemporalDetector().fit(X[:3000])
    scores = detector.score(X[3000:], context=X[:3000])
    flags = detector.predict(X[3000:], context=X[:3000])
    # Measured with seed 3: ROC-AUC 0.99, recall 0.98, false alarms 0.1 %.
    assert roc_auc_score(y[3000:], scores) >= 0.95
    assert flags[y[3000:]].mean() >= 0.9
    assert flags[~y[3000:]].mean() <= 0.01
    stuck = np.array([r.anomaly_kind == "stuck_sensor" for r in readings[3000:]])
    assert flags[stuck].mean() >= 0.8


def test_explanations_name_original_variables_and_the_faulty_one_first():
    X, y, _ = meter_rows()
    detector = TemporalDetector().fit(X[:3000])
    at = next(i for i in range(3500, 4000) if not y[i - 12 : i + 1].any())
    row = X[at : at + 1].copy()
    row[0, DEFAULT_FEATURES.index("frequency")] += 3.0
    top = detector.explain(row, context=X[3000:at])[0]
    assert top[0] == "frequency"
    assert set(top) <= set(DEFAULT_FEATURES)


def test_the_threshold_comes_from_training_and_clean_data_rarely_alarms():
    simulator = Simulator(meters=1, seed=5, anomaly_ratio=0.0)
    X = feature_matrix(simulator.history(4000, end=datetime(2024, 1, 5, tzinfo=UTC)))
    detector = TemporalDetector().fit(X[:2000])
    assert detector.threshold_ == 1.0
    assert detector.predict(X[2000:], context=X[:2000]).mean() <= 0.01


def test_any_numeric_columns_work_not_only_the_catalogue():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 2))
    X[450:460, 1] += 20.0
    detector = make_detector("temporal", ("pressure", "flow")).fit(X[:300])
    flags = detector.predict(X[300:], context=X[:300])
    assert flags[150:160].all()
    assert {"flow"} == set(detector.explain(X[455:456], context=X[:455])[0])


def test_the_fire_drill_reports_every_kind_and_catches_them():
    report = run_drill(training_readings=2000, drill_readings=1000, meters=1)
    assert [k.value for k in AnomalyKind] == [r.kind for r in report.results]
    for result in report.results:
        assert result.anomalous > 0
        assert result.recall >= 0.8, result
        assert result.false_alarm_rate <= 0.02, result


def test_the_season_feature_is_the_reading_minus_the_median_of_the_same_hour_before():
    """With a period of 4 rows and 3 periods, each reading's ``season`` feature is its value
    minus the median of the readings 4, 8 and 12 rows before (those there are)."""
    X = np.arange(20, dtype=float)[:, None] ** 1.5
    block = sequence_features(
        X, ["v"], short_window=2, long_window=3, seasonal_lags=(4,), profile_periods=3
    )
    season = block.values[:, block.names.index("v|season")]
    assert np.isnan(season[:4]).all()
    assert season[5] == X[5, 0] - X[1, 0]
    assert season[9] == X[9, 0] - (X[5, 0] + X[1, 0]) / 2
    assert season[15] == X[15, 0] - X[7, 0]


def test_scores_stay_comparable_when_training_is_nearly_constant():
    """A series at 0 with a rare spike: training quantiles of zero must not turn every later
    spike into a score of 1e13 (one threshold means the same on every series)."""
    rng = np.random.default_rng(0)
    X = np.zeros((600, 1))
    X[rng.choice(600, 6, replace=False), 0] = 20.0
    detector = TemporalDetector(features=("active_power",)).fit(X[:300])
    scores = detector.score(X[300:], context=X[:300])
    assert scores.max() < 1e3
    assert (scores > detector.threshold_).sum() <= 8


def test_a_few_stuck_episodes_in_training_do_not_blind_the_stuck_view():
    """A meter frozen at a plausible value in the training part (five runs of 8 equal
    readings among thousands of varying ones): runs are counted once each, not once per
    reading, so a later frozen run of 8 still alarms."""
    rng = np.random.default_rng(1)
    X = rng.normal(100.0, 5.0, size=(3000, 1)).round(1)
    for start in (200, 600, 1000, 1400, 1800, 2600):
        X[start : start + 8, 0] = X[start - 1, 0]
    detector = TemporalDetector(features=("active_power",)).fit(X[:2000])
    flags = detector.predict(X[2000:], context=X[:2000])
    assert flags[2600 - 2000 + 6 : 2600 - 2000 + 8].all()


def _hourly_building(weeks: int, holiday: datetime) -> tuple[np.ndarray, np.ndarray]:
    """An office: busy 8-18 on weekdays, quiet at night and on Sundays; ``holiday`` run as
    a Sunday. Hourly, from a Monday."""
    start = datetime(2024, 6, 3, tzinfo=UTC)  # a Monday
    rng = np.random.default_rng(3)
    times, values = [], []
    for hour in range(weeks * 7 * 24):
        when = start + timedelta(hours=hour)
        closed = when.weekday() == 6 or when.date() == holiday.date()
        busy = 8 <= when.hour < 18 and not closed
        times.append(when.timestamp())
        values.append((100.0 if busy else 20.0) + rng.normal(0.0, 2.0))
    return np.array(values)[:, None], np.array(times)


def test_a_holiday_is_compared_with_sundays_when_the_calendar_knows_it():
    """15 August 2024 (a Thursday) is a public holiday in Spain: run as a Sunday, it is an
    anomaly for a detector without the calendar and ordinary for one with ``holidays="ES"``."""
    holiday = datetime(2024, 8, 15, tzinfo=UTC)
    X, times = _hourly_building(12, holiday)
    train = 6 * 7 * 24
    lags = seasonal_lags_for(timedelta(hours=1), train)
    assert lags == (24, 168)
    on_holiday = np.array([datetime.fromtimestamp(t, UTC).date() == holiday.date() for t in times])
    flagged = {}
    for calendar in (None, "ES"):
        detector = TemporalDetector(
            features=("active_power",), seasonal_lags=lags, holidays=calendar
        )
        detector.fit(X[:train], times=times[:train])
        flags = detector.predict(X[train:], context=X[:train], times=times[train:])
        flagged[calendar] = int(flags[on_holiday[train:]].sum())
    assert flagged[None] >= 5  # the working hours of a "Thursday" at Sunday level
    assert flagged["ES"] == 0


def test_holiday_mask_knows_a_country_and_names_an_unknown_one():
    times = np.array(
        [
            datetime(2025, 1, 6, 12, tzinfo=UTC).timestamp(),  # Epiphany in Spain
            datetime(2025, 1, 7, 12, tzinfo=UTC).timestamp(),
        ]
    )
    assert holiday_mask(times, "ES").tolist() == [True, False]
    assert holiday_mask(times, "US").tolist() == [False, False]
    with pytest.raises(ValueError, match="XX"):
        holiday_mask(times, "XX")


def test_a_model_stored_before_the_new_settings_scores_as_it_was_trained():
    """skops restores a stored model's attributes; one saved before the profile, holiday and
    floor settings existed lacks them and must score as the detector it was (classic)."""
    X, _, _ = meter_rows(count=3000)
    classic = make_detector("temporal_classic", DEFAULT_FEATURES).fit(X[:2000])
    old = make_detector("temporal_classic", DEFAULT_FEATURES).fit(X[:2000])
    for name in (
        "profile_periods",
        "profile_view",
        "holidays",
        "adapt",
        "stuck_rule",
        "level_floor",
        "scale_floor",
        "trim_rounds",
        "profile_level_",
        "adapt_below_periods",
        "recent_baseline",
    ):
        old.__dict__.pop(name, None)
    np.testing.assert_array_equal(
        old.score(X[2000:], context=X[:2000]), classic.score(X[2000:], context=X[:2000])
    )


def _hourly_with_step(weeks: int, step_week: int) -> tuple[np.ndarray, np.ndarray]:
    """A daily pattern, hourly, whose level rises by 100 from week ``step_week`` on (a new
    machine on the same meter)."""
    hours = np.arange(weeks * 7 * 24)
    rng = np.random.default_rng(5)
    daily = 50.0 + 30.0 * np.sin(2 * np.pi * (hours % 24) / 24)
    level = np.where(hours >= step_week * 7 * 24, 100.0, 0.0)
    times = datetime(2024, 1, 1, tzinfo=UTC).timestamp() + 3600.0 * hours
    return (daily + level + rng.normal(0.0, 1.0, len(hours)))[:, None], times


def test_with_a_profile_the_baseline_follows_a_level_that_stays():
    """A meter whose load rose for good alarms when it rises, and no longer once its last
    periods carry the new level; judged against training alone it would alarm for ever."""
    X, times = _hourly_with_step(10, 5)
    train = 4 * 7 * 24
    lags = seasonal_lags_for(timedelta(hours=1), train)
    flags = {}
    for adapt in (True, False):
        detector = TemporalDetector(features=("active_power",), seasonal_lags=lags, adapt=adapt)
        detector.fit(X[:train], times=times[:train])
        flags[adapt] = detector.predict(X[train:], context=X[:train], times=times[train:])
    step = 7 * 24  # the rise, in the scored rows
    assert flags[True][step : step + 24].any()  # the change itself alarms
    assert not flags[True][step + 4 * 7 * 24 :].any()  # four weeks later it is the normal
    assert flags[False][step + 4 * 7 * 24 :].mean() > 0.5


def test_robust_training_leaves_a_fault_in_the_training_part_out():
    """A training part a fifth of which is a sustained fault: learnt as normal, the same
    fault later passes; with ``trim_rounds`` the refit leaves it out and catches it."""
    rng = np.random.default_rng(6)
    X = rng.normal(0.0, 1.0, size=(3000, 2)).cumsum(axis=0) * 0.01 + rng.normal(0, 1, (3000, 2))
    fault = np.zeros(3000, dtype=bool)
    fault[700:900] = fault[2000:2200] = True
    X[fault, 0] += 8.0
    caught = {}
    for rounds in (0, 1):
        detector = TemporalDetector(features=("voltage", "current"), trim_rounds=rounds)
        detector.fit(X[:1000])
        flags = detector.predict(X[1000:], context=X[:1000])
        caught[rounds] = flags[fault[1000:]].mean()
    assert caught[0] < 0.5
    assert caught[1] > 0.8


def _views_fired(detector, X, context, times=None):
    scores, tops, views = detector.score_explain_views(X, context=context, times=times)
    above = np.flatnonzero(scores > detector.threshold_)
    assert len(tops) == len(views) == len(above)
    return dict(zip(above.tolist(), views, strict=True))


def test_each_alarm_names_the_view_that_fired_it():
    """A spike is a jump, a value held is stuck, a slow climb is collective; and the scores
    are those of ``score``."""
    rng = np.random.default_rng(5)
    X = rng.normal(230.0, 1.0, size=(3000, 1)).round(2)
    X[2200, 0] = 260.0  # a spike
    X[2400:2440, 0] = X[2399, 0]  # frozen
    X[2600:2900, 0] += np.linspace(0.0, 25.0, 300)  # a slow climb
    detector = TemporalDetector(features=("voltage",)).fit(X[:2000])
    fired = _views_fired(detector, X[2000:], X[:2000])
    scores, _, _ = detector.score_explain_views(X[2000:], context=X[:2000])
    assert np.array_equal(scores, detector.score(X[2000:], context=X[:2000]))
    assert fired[200] == "point"
    assert fired[2439 - 2000] == "stuck"
    assert fired[2880 - 2000] == "collective"
    assert set(fired.values()) <= set(VIEWS)


def test_a_busy_night_is_named_unusual_for_its_hour():
    """An office running its daytime load at 3 a.m. on a Wednesday: every reading is at a
    level training knows, only the hour is wrong, and the profile view says so."""
    X, times = _hourly_building(10, datetime(2000, 1, 1, tzinfo=UTC))
    train = 6 * 7 * 24
    night = train + 2 * 24 + 3  # Wednesday of week 7, 03:00
    X[night : night + 3, 0] = 100.0
    detector = TemporalDetector(
        features=("active_power",), seasonal_lags=seasonal_lags_for(timedelta(hours=1), train)
    ).fit(X[:train], times=times[:train])
    fired = _views_fired(detector, X[train:], X[:train], times[train:])
    assert fired[night - train] == "profile"


def _server_load(days: int) -> tuple[np.ndarray, np.ndarray]:
    """A 5-minute series with no daily shape (noise around 50) that moves to 65 for good
    after two days."""
    rng = np.random.default_rng(4)
    rows = days * 288
    X = rng.normal(50.0, 2.0, size=(rows, 1))
    X[2 * 288 :, 0] += 15.0
    times = datetime(2024, 3, 4, tzinfo=UTC).timestamp() + 300.0 * np.arange(rows)
    return X, times


@pytest.mark.parametrize("adapt_below_periods", [0.0, 7.0])
def test_after_a_short_training_part_a_new_level_stops_alarming_within_days(
    adapt_below_periods,
):
    """Trained on two days (too few to know the load's ordinary range), a level that moves
    and stays alarms at first and is judged against recent days after that; without the
    rule it alarms to the end."""
    X, times = _server_load(9)
    train = 2 * 288
    detector = TemporalDetector(
        features=("cpu",),
        seasonal_lags=seasonal_lags_for(timedelta(minutes=5), train),
        adapt_below_periods=adapt_below_periods,
    ).fit(X[:train], times=times[:train])
    flags = detector.predict(X[train:], context=X[:train], times=times[train:])
    assert flags[:10].any()  # the move itself
    last_days = flags[-3 * 288 :].mean()
    if adapt_below_periods:
        assert last_days < 0.02
    else:
        assert last_days > 0.9


def test_a_meter_without_a_daily_shape_is_not_judged_by_its_same_hour_yesterday():
    """A load that changes level every six hours, whatever the hour: the same hour of
    earlier days predicts nothing (seasonal strength below 0), so the profile view keeps
    quiet and the level family compares with the last day's median instead; a model built
    without ``recent_baseline`` still raises profile alarms on such loads."""
    profile_alarms = {False: 0, True: 0}
    for seed in range(5):
        rng = np.random.default_rng(seed)
        rows, train = 10 * 288, 2 * 288
        level = np.repeat(rng.normal(40.0, 8.0, rows // 72 + 1), 72)[:rows]
        X = (level + rng.normal(0.0, 1.0, rows))[:, None]
        times = datetime(2024, 3, 4, tzinfo=UTC).timestamp() + 300.0 * np.arange(rows)
        for recent in (False, True):
            detector = TemporalDetector(
                features=("cpu",),
                seasonal_lags=seasonal_lags_for(timedelta(minutes=5), train),
                recent_baseline=recent,
            ).fit(X[:train], times=times[:train])
            if detector.seasonal_strength_ > 0:
                continue
            _, _, views = detector.score_explain_views(
                X[train:], context=X[:train], times=times[train:]
            )
            profile_alarms[recent] += views.count("profile")
    assert profile_alarms[True] == 0
    assert profile_alarms[False] > 20


def test_a_shapeless_meter_learns_a_new_level_from_its_last_day():
    """The load of ``_server_load`` (no daily shape, two days of training) moves for good:
    judged against the median of its last day it alarms until half that day has seen the
    new level, then stops; against the same hour of the last three days (models without
    ``recent_baseline``) it alarms into the second day."""
    X, times = _server_load(9)
    train = 2 * 288
    last_alarm = {}
    for recent in (False, True):
        detector = TemporalDetector(
            features=("cpu",),
            seasonal_lags=seasonal_lags_for(timedelta(minutes=5), train),
            recent_baseline=recent,
        ).fit(X[:train], times=times[:train])
        flags = detector.predict(X[train:], context=X[:train], times=times[train:])
        last_alarm[recent] = int(np.flatnonzero(flags)[-1])
    assert 100 <= last_alarm[True] <= 200  # about half of a day of 288 readings
    assert last_alarm[False] > 288


# --- the short medians kept from one live batch to the next (RecentMedians) -----------------
def featurise_stream(steps, medians, **options):
    """Each step's sequences featurised in turn, with ``medians`` kept between steps (or none)."""
    return [
        batched_sequence_features(
            [sequence for _, sequence in step],
            ["v0", "v1", "v2"],
            keys=[key for key, _ in step],
            medians=medians,
            **options,
        )
        for step in steps
    ]


def live_steps(data, context_rows, seconds, start=0):
    """Per second, every meter's next row with its previous ``context_rows`` rows."""
    return [
        [
            (meter, (rows[at : at + 1], rows[max(0, at - context_rows) : at] if at else None))
            for meter, rows in data.items()
        ]
        for at in range(start, start + seconds)
    ]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    short=st.integers(1, 6),
    long=st.integers(2, 12),
    lags=st.sampled_from([(), (3,), (4, 9)]),
    holes=st.booleans(),
)
def test_kept_medians_give_every_feature_bit_for_bit_as_computing_them_again(
    seed, short, long, lags, holes
):
    """A stream of live batches (meters young and old, ties, signed zeros, missing values,
    past readings corrected in storage, meters skipping seconds) featurised with the medians
    kept from batch to batch equals the stream featurised from scratch, and each meter's own
    ``sequence_features``; and the kept medians are used."""
    rng = np.random.default_rng(seed)
    variables = ["v0", "v1", "v2"]
    options = {"short_window": short, "long_window": long, "seasonal_lags": lags,
               "jump_limits": (np.zeros(3), np.full(3, 0.5))}  # fmt: skip
    context_rows = short + max(long, *lags, 1)
    data = {}
    for meter in range(5):
        rows = np.round(rng.normal(size=(context_rows + 12, 3)), 1)  # ties, -0.0
        if holes:
            rows[rng.random(rows.shape) < 0.15] = np.nan
        data[f"m{meter}"] = rows
    medians = RecentMedians()
    for second in range(12):
        if rng.random() < 0.3:  # a stored reading corrected: the tail changes under a meter
            rows = data[f"m{rng.integers(5)}"]
            rows[rng.integers(max(second, 1)), rng.integers(3)] += 1.0
        step = [
            (meter, (rows[second : second + 1], rows[max(0, second - context_rows) : second]))
            for meter, rows in data.items()
            if rng.random() < 0.8  # a meter that skips a second sends its next one later
        ]
        if not step:
            continue
        sequences = [sequence for _, sequence in step]
        keys = [meter for meter, _ in step]
        got = batched_sequence_features(sequences, variables, keys=keys, medians=medians, **options)
        again = batched_sequence_features(sequences, variables, **options)
        for (rows, previous), mine, theirs in zip(sequences, got, again, strict=True):
            np.testing.assert_array_equal(mine, theirs)
            whole = np.vstack([previous, rows])
            alone = sequence_features(whole, variables, **options).values[-1:]
            np.testing.assert_array_equal(mine, alone)
    assert medians.reused > 0


def test_a_changed_or_reloaded_tail_is_computed_again_and_other_meters_keep_theirs():
    rng = np.random.default_rng(7)
    options = {"short_window": 4, "long_window": 8, "jump_limits": (np.zeros(3), np.ones(3))}
    context_rows = 12
    data = {f"m{meter}": rng.normal(size=(40, 3)) for meter in range(4)}
    medians = RecentMedians()
    featurise_stream(live_steps(data, context_rows, 2, start=20), medians, **options)
    before = medians.reused
    # m0's stored past changed under it (a reading corrected); m1's tail was reloaded from
    # storage with a gap (its previous batch never stored); m2 and m3 go on as usual.
    data["m0"] = data["m0"].copy()
    data["m0"][15, 1] += 1.0
    step = live_steps(data, context_rows, 1, start=22)[0]
    m1_rows = step[1][1][0]
    step[1] = ("m1", (m1_rows, np.vstack([data["m1"][10:21], data["m1"][21:22] * 0])))
    [got] = featurise_stream([step], medians, **options)
    [expected] = featurise_stream([step], None, **options)
    for mine, theirs in zip(got, expected, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert medians.reused - before == 2  # m2 and m3 only
    # Sent again unchanged, m0's and m1's new medians serve the next second.
    after = medians.reused
    featurise_stream(live_steps(data, context_rows, 1, start=23)[:1], medians, **options)
    # m0 (its corrected past is what it stored), m2 and m3; m1's real tail is not the one
    # it was last scored after, so it is computed again.
    assert medians.reused - after == 3


def test_kept_medians_are_bounded_and_forgotten_when_the_windows_change():
    rng = np.random.default_rng(3)
    data = {f"m{meter}": rng.normal(size=(30, 3)) for meter in range(6)}
    medians = RecentMedians(max_keys=4)
    featurise_stream(live_steps(data, 10, 1, start=15), medians, short_window=3, long_window=7)
    assert len(medians) == 4  # the first two meters dropped
    featurise_stream(live_steps(data, 10, 1, start=15), medians, short_window=2, long_window=7)
    assert medians.reused == 0 and len(medians) == 4


def test_a_detector_scores_a_live_fleet_alike_with_its_kept_medians_and_stores_without_them():
    simulator = Simulator(meters=30, seed=6, anomaly_ratio=0.05)
    history = simulator.history(30 * 200, cadence=timedelta(seconds=1))
    rows = feature_matrix(history)
    meters = np.array([reading.meter_id for reading in history])
    detector = TemporalDetector().fit(rows[: 30 * 100], groups=meters[: 30 * 100])
    for second in range(150, 160):
        batch = slice(30 * second, 30 * (second + 1))
        past = meters[: batch.start]
        context = {meter: rows[: batch.start][past == meter] for meter in set(meters)}
        scores, explained = detector.score_and_explain(
            rows[batch], context=context, groups=meters[batch]
        )
        detector._medians().clear()
        again = detector.score_and_explain(rows[batch], context=context, groups=meters[batch])
        np.testing.assert_array_equal(scores, again[0])
        assert explained == again[1]
    assert detector._medians().reused > 0
    # A cache of live scoring is not part of the model.
    assert "_recent_medians" not in detector.__getstate__()
    loaded = load_detector(dump_detector(detector))
    np.testing.assert_array_equal(
        loaded.score(rows[batch], context=context, groups=meters[batch]), scores
    )


def test_a_context_with_an_infinite_value_or_the_wrong_width_is_refused_saying_so():
    X, _, _ = meter_rows(count=800)
    detector = TemporalDetector().fit(X[:600])
    batch, keys = X[700:702], np.array(["a", "b"])
    infinite = X[:600].copy()
    infinite[3, 1] = np.inf  # older than the rows the context needs: refused all the same
    with pytest.raises(ValueError, match="finite"):
        detector.score(batch, groups=keys, context={"a": X[:600], "b": infinite})
    with pytest.raises(ValueError, match="expected a matrix of 6 columns"):
        detector.score(batch, groups=keys, context={"a": X[:600], "b": X[:600, :5]})
    as_lists = {"a": X[600:700].tolist(), "b": X[600:700].astype(np.float32)}
    np.testing.assert_array_equal(
        detector.score(batch, groups=keys, context=as_lists),
        detector.score(batch, groups=keys, context={"a": X[600:700], "b": as_lists["b"]}),
    )


def explained_one_row_at_a_time(contributions, present, features, top):
    """The explanation rule, row by row: up to ``top`` carried variables above 1 by
    contribution (ties in variable order); else the most unusual carried one."""
    result = []
    for row, carried in zip(contributions, present, strict=True):
        row = np.where(carried, row, -np.inf)
        order = np.argsort(-row, kind="stable")
        chosen = [i for i in order[:top] if row[i] > 1.0]
        if not chosen and carried[order[0]]:
            chosen = [int(order[0])]
        result.append(tuple(features[i] for i in chosen))
    return result


@pytest.mark.parametrize("top", [0, 1, 3, 6])
def test_explanations_of_many_rows_follow_the_rule_row_by_row(top):
    X, _, _ = meter_rows(count=1500)
    detector = TemporalDetector().fit(X[:1000])
    F = detector._features(X[1000:], None, None).values
    present = np.random.default_rng(top).random(X[1000:].shape) < 0.8
    present[:5] = False  # rows that carry nothing are named nothing
    expected = explained_one_row_at_a_time(
        detector._contributions(F), present, detector.features, top
    )
    assert expected == detector._explain(F, top, present)
    assert any(len(names) > 1 for names in expected) or top < 2
