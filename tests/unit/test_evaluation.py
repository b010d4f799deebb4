from __future__ import annotations

import json

import numpy as np
import pandas as pd
import polars as pl
import pytest

from energy_core.detection.evaluation import (
    EvaluationError,
    EvaluationOptions,
    ScoredPart,
    detection_delays,
    evaluate_files,
    evaluate_frames,
    figures,
    load_windows,
    segments,
)


def part(scores, flags, truth, times=None, threshold=0.0):
    return ScoredPart(
        file="f.csv",
        group=None,
        train_rows=2,
        threshold=threshold,
        scores=np.asarray(scores, dtype=float),
        flags=np.asarray(flags, dtype=bool),
        truth=np.asarray(truth, dtype=bool),
        times=None if times is None else np.asarray(times, dtype=float),
    )


def test_figures_on_a_hand_made_example_match_the_hand_computed_values():
    # truth:  0 0 1 1 1 0 1 1 ; flags: 0 1 0 1 1 0 0 0
    truth = [0, 0, 1, 1, 1, 0, 1, 1]
    flags = [0, 1, 0, 1, 1, 0, 0, 0]
    scores = [0.1, 0.9, 0.3, 0.8, 0.7, 0.2, 0.4, 0.35]
    times = [0, 10, 20, 30, 40, 50, 60, 70]
    fig = figures([part(scores, flags, truth, times)])
    # TP=2 FP=1 FN=3 TN=2
    assert (
        fig.true_positives,
        fig.false_positives,
        fig.false_negatives,
        fig.true_negatives,
    ) == (2, 1, 3, 2)
    assert fig.precision == pytest.approx(2 / 3)
    assert fig.recall == pytest.approx(2 / 5)
    assert fig.f1 == pytest.approx(2 * (2 / 3) * (2 / 5) / (2 / 3 + 2 / 5))
    assert fig.false_alarm_rate == pytest.approx(1 / 3)
    assert fig.missed_alarm_rate == pytest.approx(3 / 5)
    # Positives' scores 0.3 0.8 0.7 0.4 0.35 vs negatives 0.1 0.9 0.2: pairs won = 4+4... by hand:
    # each positive beats 0.1 and 0.2 (2 each = 10) and none beats 0.9 → 10 / 15.
    assert fig.roc_auc == pytest.approx(10 / 15)
    # Segments [2,5) found at row 3 (10 s late), [6,8) missed.
    assert (fig.segments, fig.detected_segments, fig.delays) == (2, 1, (10.0,))
    assert fig.delay_unit == "s"


def test_pooled_auc_ranks_each_part_relative_to_its_own_threshold():
    a = part([10.0, 11.0], [False, True], [False, True], threshold=10.5)
    b = part([0.0, 1.0], [False, True], [False, True], threshold=0.5)
    # Raw scores would rank b's anomaly (1.0) below a's normal row (10.0); margins do not.
    assert figures([a, b]).roc_auc == 1.0


def test_segments_and_delays_without_times_count_rows():
    truth = np.array([1, 1, 0, 0, 1, 1, 1], dtype=bool)
    flags = np.array([0, 0, 0, 1, 0, 0, 1], dtype=bool)
    assert segments(truth) == [(0, 2), (4, 7)]
    assert detection_delays(truth, flags) == (2, [2.0])


def frame(n=120, anomaly_at=(105, 120), seed=0):
    rng = np.random.default_rng(seed)
    times = pd.date_range("2024-01-01", periods=n, freq="min")
    a = rng.normal(0.0, 1.0, n)
    b = rng.normal(5.0, 0.5, n)
    label = np.zeros(n, dtype=int)
    label[anomaly_at[0] : anomaly_at[1]] = 1
    a[anomaly_at[0] : anomaly_at[1]] += 25.0
    return pd.DataFrame({"timestamp": times, "a": a, "b": b, "anomaly": label})


def test_evaluation_of_an_obvious_shift_finds_it_with_pandas_and_polars_alike():
    options = EvaluationOptions(train_rows=60)
    from_pandas = evaluate_frames({"x.csv": frame()}, options)
    from_polars = evaluate_frames({"x.csv": pl.from_pandas(frame())}, options)
    assert from_pandas.pooled.to_dict() == from_polars.pooled.to_dict()
    pooled = from_pandas.pooled
    assert pooled.rows == 60
    assert pooled.roc_auc > 0.95
    assert pooled.recall > 0.9
    assert pooled.detected_segments == 1


def test_features_default_to_numeric_columns_but_label_time_and_changepoint(tmp_path):
    data = frame()
    data["changepoint"] = 0
    data["note"] = "x"
    path = tmp_path / "x.csv"
    data.to_csv(path, index=False, sep=";")
    report = evaluate_files([path], EvaluationOptions(sep=";", train_rows=60, detector="temporal"))
    assert report.pooled.rows == 60
    payload = json.loads(report.to_json())
    for key in ("roc_auc", "average_precision", "precision", "recall", "f1"):
        assert 0.0 <= payload[key] <= 1.0
    assert {"false_alarm_rate", "missed_alarm_rate"} <= payload.keys()


def test_windows_label_the_rows_inside_them(tmp_path):
    data = frame(anomaly_at=(0, 0)).drop(columns="anomaly")
    path = tmp_path / "w.csv"
    data.to_csv(path, index=False)
    windows = tmp_path / "windows.json"
    windows.write_text(
        json.dumps({"w.csv": [["2024-01-01 01:30:00.000000", "2024-01-01 01:39:00.000000"]]})
    )
    options = EvaluationOptions(windows=load_windows(windows), train_rows=60)
    report = evaluate_files([path], options)
    # 01:30..01:39 inclusive is 10 rows, all after the 60 training rows.
    assert report.pooled.anomalous_rows == 10


def test_probation_rows_are_neither_trained_on_beyond_the_training_part_nor_scored():
    report = evaluate_frames({"x": frame()}, EvaluationOptions(probation_fraction=0.5))
    assert report.pooled.rows == 60
    assert report.parts[0].train_rows == 60
    short_train = evaluate_frames(
        {"x": frame()}, EvaluationOptions(train_rows=30, probation_fraction=0.5)
    )
    assert (short_train.parts[0].train_rows, short_train.pooled.rows) == (30, 60)


def test_each_group_is_fitted_and_scored_on_its_own_then_pooled():
    one, two = frame(seed=1), frame(seed=2)
    two["b"] += 1000.0  # a different meter: its own scale must not matter
    both = pd.concat([one.assign(meter="m1"), two.assign(meter="m2")])
    both = both.sort_values("timestamp", kind="stable")  # interleaved rows
    report = evaluate_frames(
        {"mix.csv": both}, EvaluationOptions(group_column="meter", train_rows=60)
    )
    assert sorted(p.group for p in report.parts) == ["m1", "m2"]
    assert report.pooled.rows == 120
    assert report.pooled.segments == 2
    assert report.pooled.roc_auc > 0.95
    assert "groups" in report.to_dict()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timestamp,a,anomaly\n2024-01-01 00:00,1,0\n2024-01-01 00:01,oops,0\n", "line 3"),
        ("timestamp,a,anomaly\n2024-01-01 00:00,1,0\nnot a time,2,0\n", "line 3"),
        ("timestamp,a,anomaly\n2024-01-01 00:00,1,0\n2024-01-01 00:01,2,7\n", "line 3"),
    ],
)
def test_bad_values_are_reported_with_file_column_and_line(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(EvaluationError) as error:
        evaluate_files([path], EvaluationOptions(train_rows=1 + 1, features=("a",)))
    assert "bad.csv" in str(error.value)
    assert message in str(error.value)
    assert "column" in str(error.value)


def test_a_missing_column_is_named_with_the_columns_that_exist(tmp_path):
    path = tmp_path / "x.csv"
    frame().to_csv(path, index=False)
    with pytest.raises(EvaluationError, match=r"x.csv: no column 'nope'; columns: timestamp"):
        evaluate_files([path], EvaluationOptions(features=("nope",)))


def test_an_unknown_detector_is_named():
    with pytest.raises(ValueError, match="unknown detector 'magic'"):
        evaluate_frames({"x": frame()}, EvaluationOptions(detector="magic"))
