"""Measured on the shared labelled data (docs/detection.md has the tables). Floors sit a
little below the measured figures; the baseline replica is pinned with a small tolerance."""

from __future__ import annotations

import pytest

from energy_core.detection.evaluation import EvaluationOptions, evaluate_files, load_windows
from tests.shared_data import shared_data, valve1_files

SKAB = EvaluationOptions(sep=";", train_rows=400)


def test_the_skab_isolation_forest_replica_gives_the_measured_valve1_figures():
    pooled = evaluate_files(
        valve1_files(), EvaluationOptions(sep=";", train_rows=400, detector="skab_isolation_forest")
    ).pooled
    # Measured: F1 0.2064, FAR 1.14 %, MAR 88.38 % (published, whole SKAB: 0.29 / 2.56 / 82.89).
    assert pooled.f1 == pytest.approx(0.2064, abs=0.005)
    assert pooled.false_alarm_rate == pytest.approx(0.0114, abs=0.002)
    assert pooled.missed_alarm_rate == pytest.approx(0.8838, abs=0.005)
    assert pooled.rows == 11760


def test_the_default_detector_meets_the_valve1_targets_at_its_own_threshold():
    pooled = evaluate_files(valve1_files(), SKAB).pooled
    # Measured: F1 0.851, FAR 11.45 %, ROC-AUC 0.905, 16/16 faults found.
    assert pooled.f1 >= 0.83
    assert pooled.false_alarm_rate <= 0.13
    assert pooled.roc_auc >= 0.895
    assert pooled.detected_segments == 16


def test_the_default_detector_holds_on_the_valve1_half_it_was_not_tuned_on():
    pooled = evaluate_files(valve1_files()[8:], SKAB).pooled
    # Measured on files 8-15: F1 0.889, FAR 14.8 %, ROC-AUC 0.934.
    assert pooled.f1 >= 0.87
    assert pooled.false_alarm_rate <= 0.16
    assert pooled.roc_auc >= 0.92


def test_nab_machine_temperature_ranks_its_failures_after_probation():
    data = shared_data() / "nab"
    options = EvaluationOptions(
        windows=load_windows(data / "windows.json"), probation_fraction=0.15
    )
    machine = evaluate_files([data / "machine_temperature_system_failure.csv"], options).pooled
    ambient = evaluate_files([data / "ambient_temperature_system_failure.csv"], options).pooled
    # Measured: machine 0.897 (target 0.85 met); ambient 0.743 (target 0.85 missed, see docs).
    assert machine.roc_auc >= 0.88
    assert ambient.roc_auc >= 0.72


def test_lead_buildings_rank_their_anomalies_with_the_same_hour_profile():
    lead = shared_data() / "lead" / "lead1.0_dev5.csv"
    if not lead.exists():  # its license keeps it out of any download: only ../shared/data has it
        pytest.skip(f"LEAD 1.0 development file not found at {lead}")
    options = EvaluationOptions(group_column="building_id", train_fraction=0.25)
    pooled = evaluate_files([lead], options).pooled
    # Measured: pooled ROC-AUC 0.899 over 5 buildings (0.756 before the profile, issue 16).
    assert pooled.roc_auc >= 0.88
    assert pooled.false_alarm_rate <= 0.03
