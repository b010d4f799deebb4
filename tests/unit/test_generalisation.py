"""The protocol that rewards generalising (energy_core.detection.generalisation): the split,
the choice that only reads the choosing units' labels, leave-one-out, pooled figures with
units lacking anomalies, the one-threshold figures, and the catalogue's units."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from energy_core.detection.evaluation import ScoredPart
from energy_core.detection.generalisation import (
    Dataset,
    DatasetScores,
    anomaly_free_units,
    catalogue,
    choose,
    halves,
    in_sample,
    lead_units,
    leave_one_out,
    natural_key,
    one_threshold,
    report_from_scores,
    score_dataset,
    split_half,
    summary,
)
from tests.shared_data import shared_data


def part(name: str, truth: Sequence[int], scores: Sequence[float], threshold: float = 1.0):
    values = np.asarray(scores, dtype=np.float64)
    return ScoredPart(
        file=name,
        group=None,
        train_rows=10,
        threshold=threshold,
        scores=values,
        flags=values >= threshold,
        truth=np.asarray(truth, dtype=bool),
        times=None,
    )


def truth_of(anomalies: int, normal: int) -> list[int]:
    return [0] * normal + [1] * anomalies


def ranks_well(name: str, truth: Sequence[int]) -> ScoredPart:
    """Anomalies above normal rows, nothing flagged (AUC 1, no false alarm)."""
    return part(name, truth, [0.5 + 0.4 * t for t in truth])


def ranks_badly(name: str, truth: Sequence[int]) -> ScoredPart:
    """Anomalies below normal rows, nothing flagged (AUC 0, no false alarm)."""
    return part(name, truth, [0.9 - 0.4 * t for t in truth])


def scores_of(table: Mapping[str, Mapping[str, ScoredPart]], units: Sequence[str]):
    return DatasetScores(
        "synthetic",
        tuple(units),
        {det: {unit: (p,) for unit, p in by_unit.items()} for det, by_unit in table.items()},
    )


# --- the split ---------------------------------------------------------------------------------
def test_units_are_in_natural_order_and_the_halves_alternate():
    names = ["10.csv", "2.csv", "1.csv", "0.csv", "3.csv"]
    assert sorted(names, key=natural_key) == ["0.csv", "1.csv", "2.csv", "3.csv", "10.csv"]
    first, second = halves(names)
    assert first == ("0.csv", "2.csv", "10.csv")
    assert second == ("1.csv", "3.csv")


def test_the_split_is_deterministic_and_disjoint_and_covers_every_unit():
    names = [f"building {n}" for n in (1120, 254, 950, 623, 710, 17)]
    first, second = halves(names)
    assert halves(list(reversed(names))) == (first, second)
    assert not set(first) & set(second)
    assert set(first) | set(second) == set(names)
    assert abs(len(first) - len(second)) <= 1


# --- choosing ----------------------------------------------------------------------------------
def planted_halves() -> DatasetScores:
    """Half A = u1, u3 (small), half B = u2, u4 (large). ``fits_a`` ranks A's anomalies well
    and B's badly, ``fits_b`` the other way round; B being larger, ``fits_b`` is also the best
    in-sample, so a choice that peeks at B (or at everything) picks it."""
    small, large = truth_of(3, 7), truth_of(30, 70)
    units = {"u1": small, "u2": large, "u3": small, "u4": large}
    in_a = {"u1", "u3"}
    return scores_of(
        {
            "fits_a": {
                u: (ranks_well if u in in_a else ranks_badly)(u, t) for u, t in units.items()
            },
            "fits_b": {
                u: (ranks_badly if u in in_a else ranks_well)(u, t) for u, t in units.items()
            },
        },
        list(units),
    )


def test_split_half_chooses_on_one_half_only_and_reports_on_the_other():
    scores = planted_halves()
    assert in_sample(scores)["fits_b"].roc_auc > in_sample(scores)["fits_a"].roc_auc
    cv = split_half(scores, ["fits_a", "fits_b"])
    assert cv is not None
    a_to_b, b_to_a = cv.folds
    assert (a_to_b.chosen_on, a_to_b.reported_on) == (("u1", "u3"), ("u2", "u4"))
    assert a_to_b.detector == "fits_a"  # best on A, worst on B: still the one chosen for B
    assert a_to_b.choosing.roc_auc == 1.0
    assert a_to_b.reported.roc_auc == 0.0
    assert b_to_a.detector == "fits_b"
    assert b_to_a.reported.roc_auc == 0.0
    # Every unit graded once, by a detector chosen without it: the pooled report is bad.
    assert cv.pooled.rows == in_sample(scores)["fits_a"].rows
    assert cv.pooled.roc_auc == 0.0
    assert cv.chosen == {"fits_a": 1, "fits_b": 1}
    assert report_from_scores(scores).in_sample_choice == "fits_b"  # the flattering choice


class Spy(Mapping[str, tuple[ScoredPart, ...]]):
    """A detector's parts by unit that records which units were read."""

    def __init__(self, parts: Mapping[str, tuple[ScoredPart, ...]], seen: set[str]) -> None:
        self.parts, self.seen = parts, seen

    def __getitem__(self, unit: str) -> tuple[ScoredPart, ...]:
        self.seen.add(unit)
        return self.parts[unit]

    def __iter__(self) -> Iterator[str]:
        return iter(self.parts)

    def __len__(self) -> int:
        return len(self.parts)


def test_choose_reads_the_labels_of_the_choosing_units_only():
    scores = planted_halves()
    seen: set[str] = set()
    spied = DatasetScores(
        scores.dataset,
        scores.units,
        {det: Spy(by_unit, seen) for det, by_unit in scores.parts.items()},
    )
    assert choose(spied, ["fits_a", "fits_b"], ["u2", "u4"]) == "fits_b"
    assert seen == {"u2", "u4"}


def test_the_rule_keeps_to_the_false_alarm_bound_then_prefers_the_fewest_false_alarms():
    truth = truth_of(10, 90)
    noisy = part("u", truth, [0.5 + 0.4 * t for t in truth][:70] + [1.5] * 20 + [1.9] * 10)
    quiet = part("u", truth, [0.5 + 0.1 * (i % 3) + 0.2 * t for i, t in enumerate(truth)])
    scores = scores_of({"noisy": {"u": noisy}, "quiet": {"u": quiet}}, ["u"])
    assert scores.pooled("noisy").roc_auc > scores.pooled("quiet").roc_auc
    assert scores.pooled("noisy").false_alarm_rate > 0.15
    assert choose(scores, ["noisy", "quiet"], ["u"]) == "quiet"
    assert choose(scores, ["noisy", "quiet"], ["u"], max_false_alarms=0.5) == "noisy"
    # Neither keeps a bound of 0 %: the fewest false alarms win.
    louder = part("u", truth, [2.0] * 5 + [0.5] * 85 + [0.9] * 10)
    scores = scores_of({"noisy": {"u": noisy}, "louder": {"u": louder}}, ["u"])
    assert choose(scores, ["noisy", "louder"], ["u"], max_false_alarms=0.0) == "louder"


def test_leave_one_out_never_chooses_with_the_left_out_unit():
    """``local`` ranks u0 (the largest unit) perfectly and the others badly, ``general`` the
    other way round; ``local`` is the best in-sample. Left out, u0 must get ``general``."""
    units = {"u0": truth_of(40, 160), "u1": truth_of(2, 8), "u2": truth_of(2, 8)}
    units["u3"] = truth_of(2, 8)
    scores = scores_of(
        {
            "local": {
                u: (ranks_well if u == "u0" else ranks_badly)(u, t) for u, t in units.items()
            },
            "general": {
                u: (ranks_badly if u == "u0" else ranks_well)(u, t) for u, t in units.items()
            },
        },
        list(units),
    )
    assert in_sample(scores)["local"].roc_auc > in_sample(scores)["general"].roc_auc
    cv = leave_one_out(scores, ["local", "general"])
    assert cv is not None
    assert [fold.reported_on for fold in cv.folds] == [(u,) for u in units]
    for fold in cv.folds:
        assert fold.reported_on[0] not in fold.chosen_on
        assert set(fold.chosen_on) | set(fold.reported_on) == set(units)
    left_out_u0 = cv.folds[0]
    assert left_out_u0.detector == "general"
    assert left_out_u0.reported.roc_auc == 0.0
    assert cv.pooled.rows == sum(len(t) for t in units.values())


def test_leave_one_out_needs_three_units_and_split_half_two():
    two = scores_of({"d": {u: ranks_well(u, truth_of(1, 3)) for u in ("a", "b")}}, ["a", "b"])
    assert leave_one_out(two, ["d"]) is None
    assert split_half(two, ["d"]) is not None
    one = scores_of({"d": {"a": ranks_well("a", truth_of(1, 3))}}, ["a"])
    assert split_half(one, ["d"]) is None


def test_a_single_candidate_is_graded_as_in_sample():
    scores = planted_halves()
    cv = leave_one_out(scores, ["fits_a"])
    assert cv is not None
    assert cv.pooled == in_sample(scores)["fits_a"]


# --- units without anomalies -------------------------------------------------------------------
def test_pooled_figures_hold_with_a_unit_that_has_no_anomaly():
    units = {"a": truth_of(3, 7), "b": truth_of(0, 10), "c": truth_of(2, 8)}
    scores = scores_of({"d": {u: ranks_well(u, t) for u, t in units.items()}}, list(units))
    assert scores.pooled("d", ["b"]).roc_auc is None
    assert scores.pooled("d").roc_auc == 1.0
    report = report_from_scores(scores)
    assert report.in_sample["d"].roc_auc == 1.0
    assert report.leave_one_out is not None
    folds = {fold.reported_on[0]: fold for fold in report.leave_one_out.folds}
    assert folds["b"].reported.roc_auc is None
    assert folds["b"].reported.false_alarm_rate == 0.0
    assert report.leave_one_out.pooled.roc_auc == 1.0
    assert report.one_threshold["d"].unit_roc_auc_median == 1.0  # b has none: left out


def test_choosing_on_units_without_anomalies_goes_by_false_alarms():
    truth = truth_of(0, 20)
    scores = scores_of(
        {
            "calm": {"a": part("a", truth, [0.5] * 19 + [1.5]), "b": part("b", truth, [0.2] * 20)},
            "jumpy": {
                "a": part("a", truth, [1.5] * 5 + [0.5] * 15),
                "b": part("b", truth, [2] * 20),
            },
        },
        ["a", "b"],
    )
    assert choose(scores, ["jumpy", "calm"], ["a"]) == "calm"
    cv = split_half(scores, ["jumpy", "calm"])
    assert cv is not None
    assert cv.pooled.roc_auc is None
    assert cv.pooled.false_alarm_rate == pytest.approx(1 / 40)


# --- one threshold -----------------------------------------------------------------------------
def test_one_threshold_ranks_every_series_together_and_shows_the_largest_score():
    truth = truth_of(2, 8)
    quiet = part("quiet", truth, [0.1] * 8 + [5.0, 6.0])
    # Each series ranks its own anomalies first, but this one's normal rows sit at 1e13.
    huge = part("huge", truth, [1e13] * 8 + [3e13, np.inf])
    scores = scores_of({"d": {"quiet": quiet, "huge": huge}}, ["quiet", "huge"])
    one = one_threshold(scores, "d")
    assert one.unit_roc_auc_median == 1.0
    assert one.roc_auc == pytest.approx(0.75)  # huge's normal rows outrank quiet's anomalies
    assert one.max_score == 3e13
    assert one.non_finite_scores == 1
    assert one.flagged_share == pytest.approx(12 / 20)
    assert one.rows == 20
    assert one.thresholds == (1.0, 1.0)


# --- the catalogue -----------------------------------------------------------------------------
def lead_frame() -> pl.DataFrame:
    """Two buildings' hours interleaved, one of them out of time order, an anomaly each."""
    start = datetime(2016, 1, 1)
    rows = []
    for hour in range(96):
        rows.append((12, start + timedelta(hours=hour), 100.0 + hour % 24, int(hour == 80)))
        if hour < 48:
            rows.append((7, start + timedelta(hours=47 - hour), 5.0 + hour % 3, int(hour == 2)))
    building, time, reading, anomaly = zip(*rows, strict=True)
    return pl.DataFrame(
        {
            "building_id": building,
            "timestamp": [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in time],
            "meter_reading": reading,
            "anomaly": anomaly,
        }
    )


def test_lead_is_cut_into_a_unit_per_building_each_fit_on_its_own_first_quarter():
    units = lead_units(lead_frame())
    assert [unit.name for unit in units] == ["building 7", "building 12"]
    assert [unit.frame["building_id"].unique().to_list() for unit in units] == [[7], [12]]
    scores = score_dataset(Dataset("lead", "two buildings", units), ["temporal"])
    (small,), (large,) = scores.parts["temporal"].values()
    assert (small.group, small.train_rows, len(small.truth)) == ("7", 12, 36)
    assert (large.group, large.train_rows, len(large.truth)) == ("12", 24, 72)
    # Time order within each building: building 7's anomaly (hour 45) is its 45-12=33rd scored row.
    assert np.flatnonzero(small.truth).tolist() == [33]
    assert np.flatnonzero(large.truth).tolist() == [80 - 24]
    assert scores.pooled("temporal").anomalous_rows == 2


def test_the_anomaly_free_run_is_cut_into_chunks_labelled_normal():
    frame = pl.DataFrame({"datetime": [f"r{i}" for i in range(170)], "x": range(170)})
    units = anomaly_free_units(frame, chunk_rows=50, chunks=8)
    assert [unit.name for unit in units] == ["chunk 1", "chunk 2", "chunk 3"]
    assert [unit.frame["x"].to_list()[0] for unit in units] == [0, 50, 100]
    assert all(unit.frame.height == 50 for unit in units)
    assert all(unit.frame["anomaly"].to_list() == [0] * 50 for unit in units)
    assert len(anomaly_free_units(frame, chunk_rows=50, chunks=2)) == 2


def write_layout(root: Path) -> None:
    """A tiny data folder laid out as ../shared/data: 3 SKAB runs, NAB with windows for one
    of its two CSVs, no anomaly-free run, no LEAD."""
    valve = root / "skab" / "valve1"
    valve.mkdir(parents=True)
    for n in (0, 1, 10):
        lines = ["datetime;Current;anomaly;changepoint"]
        lines += [f"2020-03-09 10:{i // 60:02d}:{i % 60:02d};{i % 7};0;0" for i in range(450)]
        (valve / f"{n}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    nab = root / "nab"
    nab.mkdir()
    for name in ("kept.csv", "unnamed.csv"):
        lines = ["timestamp,value"] + [f"2014-01-01 00:{i:02d}:00,{i % 5}" for i in range(60)]
        (nab / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (nab / "windows.json").write_text(
        '{"kept.csv": [["2014-01-01 00:40:00", "2014-01-01 00:45:00"]]}', encoding="utf-8"
    )


def test_the_catalogue_finds_the_data_sets_of_the_layout_and_names_the_missing(tmp_path):
    write_layout(tmp_path)
    found = catalogue(tmp_path)
    assert [d.name for d in found.datasets] == ["skab_valve1", "nab"]
    skab, nab = found.datasets
    assert [u.name for u in skab.units] == ["0.csv", "1.csv", "10.csv"]
    assert [u.name for u in nab.units] == ["kept.csv"]
    assert [m.split(" ")[0] for m in found.missing] == ["skab_anomaly_free", "lead"]
    scored = score_dataset(nab, ["temporal"])
    (kept,) = scored.parts["temporal"]["kept.csv"]
    assert (kept.train_rows, int(kept.truth.sum())) == (9, 6)
    (run,) = score_dataset(skab.first(1), ["temporal"]).parts["temporal"]["0.csv"]
    assert (run.train_rows, len(run.truth)) == (400, 50)


# --- on the shared data ------------------------------------------------------------------------
def test_the_shared_data_catalogue_and_a_single_candidate_graded_as_in_sample():
    found = catalogue(shared_data())
    datasets = {d.name: d for d in found.datasets}
    assert [u.name for u in datasets["skab_valve1"].units] == [f"{n}.csv" for n in range(16)]
    free = datasets["skab_anomaly_free"]
    assert (len(free.units), free.labelled) == (8, False)
    assert "machine_temperature_system_failure.csv" in [u.name for u in datasets["nab"].units]
    if "lead" in datasets:
        assert len(datasets["lead"].units) == 5
    scores = score_dataset(datasets["skab_valve1"].first(4), ["temporal"])
    cv = split_half(scores, ["temporal"])
    assert cv is not None
    assert summary(cv.pooled) == pytest.approx(summary(in_sample(scores)["temporal"]))
    assert sorted(cv.pooled.delays) == sorted(in_sample(scores)["temporal"].delays)
    assert cv.pooled.rows == sum(u.frame.height - 400 for u in datasets["skab_valve1"].units[:4])
