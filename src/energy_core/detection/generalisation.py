"""A protocol that rewards generalising: in-sample, split-half and leave-one-out figures.

The development data sets (under a data folder laid out as ``../shared/data``) are each a list
of **units**: a file, a chunk of a file, or one building of LEAD. Every detector is evaluated on
every unit exactly as ``energy_core.detection.evaluation`` does (fit on the unit's leading
training part, score the rest, alarms at the detector's own threshold; labels never reach the
detector). What differs between the protocols below is only **which units' labels are used to
choose among candidate detectors** and which units the chosen one is reported on:

- **in-sample**: each candidate's figures pooled over every unit of the data set. Choosing the
  best of these and quoting its figures flatters it: the labels that chose it also grade it.
- **split-half**: the units, in natural order of their names, alternate between half A (1st,
  3rd, …) and half B (2nd, 4th, …). A detector is chosen on A by ``RULE`` and reported on B,
  and one chosen on B is reported on A; the two reported halves are then pooled, so each unit
  is graded once, by a detector chosen without its labels.
- **leave-one-out** (data sets with at least 3 units): for each unit, a detector is chosen on
  all the other units by ``RULE`` and reported on the left-out unit; the left-out results are
  pooled.

``RULE`` (``choose``): among the candidates whose pooled false-alarm rate on the choosing
units is at most ``max_false_alarms`` (15 % by default), the one with the best pooled ROC-AUC
there; when none keeps to that bound, the one with the fewest false alarms. An undefined
ROC-AUC (choosing units without any anomalous row, such as the anomaly-free chunks) ranks
below any defined one, and then the fewer false alarms win; remaining ties go to the
candidate named first.

With a single candidate there is nothing to choose and the cross-validated figures are the
in-sample ones: the protocols measure how much choosing among variants overfits.

Beside them, ``one_threshold``: the figure a user with many meters and one alert threshold
meets. Raw scores of every unit ranked together (one ROC-AUC over the data set), the share of
all scored rows flagged at the detector's own threshold, and the largest score seen: scores of
1e13 on one series make a shared threshold meaningless on the others.

Pure: reads files only through ``evaluation.read_csv`` / ``load_windows`` (``catalogue``);
everything else works on in-memory frames and ``ScoredPart``s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score

from energy_core.detection.evaluation import (
    EvaluationOptions,
    Figures,
    ScoredPart,
    evaluate_frames,
    figures,
    load_windows,
    read_csv,
)

MAX_FALSE_ALARMS = 0.15
"""The false-alarm bound of ``RULE``: SKAB's target (issue 16)."""
RULE = (
    "best pooled ROC-AUC on the choosing units among candidates with pooled false alarms"
    " <= {bound:.0%} there (none: fewest false alarms; ties: first named)"
)
"""``choose``'s rule in words (``RULE.format(bound=...)``)."""

SKAB_TRAIN_ROWS = 400
ANOMALY_FREE_CHUNK_ROWS = 1150
ANOMALY_FREE_CHUNKS = 8
NAB_PROBATION = 0.15
LEAD_TRAIN_FRACTION = 0.25
LEAD_GROUP_COLUMN = "building_id"
LEAD_FEATURE = "meter_reading"


# --- the catalogue ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Unit:
    """One thing a detector is fitted on and scored on: a file, a chunk, a building."""

    name: str
    file: str
    """The name the scored parts carry (for NAB the CSV's name: the windows are keyed by it)."""
    frame: pl.DataFrame = field(repr=False)
    options: EvaluationOptions = field(repr=False)
    """How to split and label it; ``detector`` is replaced at evaluation."""

    def evaluate(self, detector: str) -> tuple[ScoredPart, ...]:
        """The scored part(s) of this unit for ``detector`` (``evaluation.evaluate_frames``)."""
        options = replace(self.options, detector=detector)
        return evaluate_frames({self.file: self.frame}, options).parts


@dataclass(frozen=True, slots=True)
class Dataset:
    """A development data set: its units in natural order of their names."""

    name: str
    description: str
    units: tuple[Unit, ...]
    labelled: bool = True
    """False when every row is normal (anomaly-free): only false alarms mean something."""

    def first(self, count: int | None) -> Dataset:
        """The same data set with only its first ``count`` units (all with ``None``)."""
        return self if count is None else replace(self, units=self.units[:count])


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key putting ``2.csv`` before ``10.csv`` (runs of digits compare as numbers)."""
    return tuple(
        (0, int(piece)) if piece.isdigit() else (1, piece)
        for piece in re.split(r"(\d+)", name)
        if piece
    )


def _ordered(units: Sequence[Unit]) -> tuple[Unit, ...]:
    return tuple(sorted(units, key=lambda unit: natural_key(unit.name)))


def skab_units(frames: Mapping[str, pl.DataFrame], folder: str = "skab/valve1") -> tuple[Unit, ...]:
    """SKAB runs keyed by file name: each a unit, fit on its first 400 rows (SKAB's protocol)."""
    options = EvaluationOptions(sep=";", train_rows=SKAB_TRAIN_ROWS)
    return _ordered(
        [Unit(name, f"{folder}/{name}", frame, options) for name, frame in frames.items()]
    )


def anomaly_free_units(
    frame: pl.DataFrame,
    file: str = "skab/anomaly-free/anomaly-free.csv",
    *,
    chunk_rows: int = ANOMALY_FREE_CHUNK_ROWS,
    chunks: int = ANOMALY_FREE_CHUNKS,
) -> tuple[Unit, ...]:
    """SKAB's anomaly-free run cut into ``chunks`` consecutive chunks of ``chunk_rows`` rows
    (the rows after the last chunk are left out), each labelled normal and fit on its first
    400 rows: a unit per chunk, false alarms only."""
    if frame.height < chunk_rows:
        raise ValueError(f"{file}: {frame.height} rows, fewer than one chunk of {chunk_rows}")
    labelled = frame.with_columns(pl.lit(0).alias("anomaly"))
    options = EvaluationOptions(sep=";", train_rows=SKAB_TRAIN_ROWS, label_column="anomaly")
    count = min(chunks, frame.height // chunk_rows)
    return tuple(
        Unit(
            f"chunk {index + 1}",
            f"{file} [chunk {index + 1}]",
            labelled.slice(index * chunk_rows, chunk_rows),
            options,
        )
        for index in range(count)
    )


def nab_units(
    frames: Mapping[str, pl.DataFrame], windows: Mapping[str, Sequence[Sequence[str]]]
) -> tuple[Unit, ...]:
    """NAB series keyed by CSV file name, labelled by ``windows``, the first 15 % of each
    (NAB's probation) for training only. Files the windows do not name are left out."""
    options = EvaluationOptions(windows=windows, probation_fraction=NAB_PROBATION)
    return _ordered(
        [
            Unit(name, f"nab/{name}", frame, options)
            for name, frame in frames.items()
            if name in windows
        ]
    )


def lead_units(frame: pl.DataFrame, file: str = "lead/lead1.0_dev5.csv") -> tuple[Unit, ...]:
    """LEAD 1.0: a unit per building (``building_id``), its rows in time order, fit on its
    first 25 %, the feature ``meter_reading`` and the label ``anomaly``."""
    options = EvaluationOptions(
        group_column=LEAD_GROUP_COLUMN,
        train_fraction=LEAD_TRAIN_FRACTION,
        label_column="anomaly",
        features=(LEAD_FEATURE,),
    )
    keys = frame[LEAD_GROUP_COLUMN].cast(pl.String)
    return _ordered(
        [
            Unit(
                f"building {key}",
                file,
                frame.filter(keys == key),
                options,
            )
            for key in dict.fromkeys(keys.to_list())
        ]
    )


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The development data sets found under a data folder, and what was looked for in vain."""

    datasets: tuple[Dataset, ...]
    missing: tuple[str, ...]


def catalogue(data_dir: str | Path) -> Catalogue:
    """Every development data set under ``data_dir`` (laid out as ``../shared/data``):

    - ``skab_valve1``: ``skab/valve1/*.csv`` (``;``), a unit per run, 400 training rows;
    - ``skab_anomaly_free``: ``skab/anomaly-free/anomaly-free.csv`` in 8 chunks of 1150 rows
      (``anomaly_free_units``), false alarms only;
    - ``nab``: ``nab/*.csv`` named by ``nab/windows.json``, probation 15 %;
    - ``lead``: ``lead/lead1.0_dev5.csv``, a unit per building, training 25 %.

    A data set whose files are absent is named in ``missing`` instead.
    """
    root = Path(data_dir)
    found: list[Dataset] = []
    missing: list[str] = []
    valve1 = sorted((root / "skab" / "valve1").glob("*.csv"))
    if valve1:
        frames = {path.name: read_csv(path, ";") for path in valve1}
        found.append(
            Dataset(
                "skab_valve1",
                "SKAB valve1 runs (1 Hz pump test bed), fit on 400 rows",
                skab_units(frames),
            )
        )
    else:
        missing.append(f"skab_valve1 ({root / 'skab' / 'valve1'}/*.csv)")
    free = root / "skab" / "anomaly-free" / "anomaly-free.csv"
    if free.is_file():
        found.append(
            Dataset(
                "skab_anomaly_free",
                "SKAB anomaly-free run in 8 chunks of 1150 rows, false alarms only",
                anomaly_free_units(read_csv(free, ";")),
                labelled=False,
            )
        )
    else:
        missing.append(f"skab_anomaly_free ({free})")
    windows_file = root / "nab" / "windows.json"
    if windows_file.is_file():
        windows = load_windows(windows_file)
        paths = [path for path in sorted((root / "nab").glob("*.csv")) if path.name in windows]
        found.append(
            Dataset(
                "nab",
                "NAB series named by windows.json, probation 15 %",
                nab_units({path.name: read_csv(path) for path in paths}, windows),
            )
        )
    else:
        missing.append(f"nab ({windows_file})")
    lead = root / "lead" / "lead1.0_dev5.csv"
    if lead.is_file():
        found.append(
            Dataset(
                "lead",
                "LEAD 1.0 hourly building electricity, a unit per building, fit on 25 %",
                lead_units(read_csv(lead)),
            )
        )
    else:
        missing.append(f"lead ({lead})")
    return Catalogue(tuple(dataset for dataset in found if dataset.units), tuple(missing))


# --- scores ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DatasetScores:
    """Each detector's scored parts on each unit of one data set (fitted once, used by every
    protocol: choosing only reads labels, it never refits)."""

    dataset: str
    units: tuple[str, ...]
    """Unit names, in the data set's (natural) order."""
    parts: Mapping[str, Mapping[str, tuple[ScoredPart, ...]]]
    """detector name -> unit name -> scored parts."""
    labelled: bool = True

    @property
    def detectors(self) -> tuple[str, ...]:
        return tuple(self.parts)

    def pooled(self, detector: str, units: Sequence[str] | None = None) -> Figures:
        """``detector``'s figures pooled over ``units`` (all with ``None``)."""
        chosen = self.units if units is None else units
        return figures([part for unit in chosen for part in self.parts[detector][unit]])


def score_dataset(dataset: Dataset, detectors: Sequence[str]) -> DatasetScores:
    """Evaluate every one of ``detectors`` on every unit of ``dataset``."""
    parts = {
        detector: {unit.name: unit.evaluate(detector) for unit in dataset.units}
        for detector in detectors
    }
    return DatasetScores(
        dataset.name, tuple(unit.name for unit in dataset.units), parts, dataset.labelled
    )


def in_sample(scores: DatasetScores) -> dict[str, Figures]:
    """Each detector's figures pooled over every unit: what choosing on them flatters."""
    return {detector: scores.pooled(detector) for detector in scores.detectors}


# --- choosing and cross-validating -------------------------------------------------------------
def choose(
    scores: DatasetScores,
    candidates: Sequence[str],
    units: Sequence[str],
    *,
    max_false_alarms: float = MAX_FALSE_ALARMS,
) -> str:
    """The candidate ``RULE`` picks using the labels of ``units`` only (module docstring)."""
    if not candidates:
        raise ValueError("no candidate detectors to choose from")
    if not units:
        raise ValueError("no units to choose on")

    def key(index: int) -> tuple[bool, float, float, int]:
        fig = scores.pooled(candidates[index], units)
        far = fig.false_alarm_rate if fig.false_alarm_rate is not None else 0.0
        auc = fig.roc_auc if fig.roc_auc is not None else -np.inf
        keeps = far <= max_false_alarms
        return (keeps, auc if keeps else -np.inf, -far, -index)

    return candidates[max(range(len(candidates)), key=key)]


@dataclass(frozen=True, slots=True)
class Fold:
    """One choice: the units whose labels chose, the detector chosen, the units graded."""

    chosen_on: tuple[str, ...]
    detector: str
    reported_on: tuple[str, ...]
    choosing: Figures
    """The chosen detector's figures on ``chosen_on`` (what it was chosen for)."""
    reported: Figures
    """Its figures on ``reported_on`` (never seen by the choice)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen_on": list(self.chosen_on),
            "detector": self.detector,
            "reported_on": list(self.reported_on),
            "choosing": summary(self.choosing),
            "reported": summary(self.reported),
        }


@dataclass(frozen=True, slots=True)
class CrossValidation:
    """Folds of a protocol, and every fold's reported parts pooled together."""

    protocol: str
    rule: str
    folds: tuple[Fold, ...]
    pooled: Figures

    @property
    def chosen(self) -> dict[str, int]:
        """How many folds chose each detector."""
        counts: dict[str, int] = {}
        for fold in self.folds:
            counts[fold.detector] = counts.get(fold.detector, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "rule": self.rule,
            "chosen": self.chosen,
            "pooled": summary(self.pooled),
            "folds": [fold.to_dict() for fold in self.folds],
        }


def halves(units: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Half A (1st, 3rd, … unit in natural name order) and half B (2nd, 4th, …)."""
    ordered = sorted(units, key=natural_key)
    return tuple(ordered[0::2]), tuple(ordered[1::2])


def _cross_validate(
    scores: DatasetScores,
    candidates: Sequence[str],
    splits: Sequence[tuple[tuple[str, ...], tuple[str, ...]]],
    protocol: str,
    max_false_alarms: float,
) -> CrossValidation:
    folds: list[Fold] = []
    reported: list[ScoredPart] = []
    for chosen_on, reported_on in splits:
        detector = choose(scores, candidates, chosen_on, max_false_alarms=max_false_alarms)
        folds.append(
            Fold(
                chosen_on,
                detector,
                reported_on,
                scores.pooled(detector, chosen_on),
                scores.pooled(detector, reported_on),
            )
        )
        reported += [part for unit in reported_on for part in scores.parts[detector][unit]]
    return CrossValidation(
        protocol, RULE.format(bound=max_false_alarms), tuple(folds), figures(reported)
    )


def split_half(
    scores: DatasetScores,
    candidates: Sequence[str],
    *,
    max_false_alarms: float = MAX_FALSE_ALARMS,
) -> CrossValidation | None:
    """Choose on half A, report on B; choose on B, report on A; pool the two reports.
    ``None`` with fewer than 2 units."""
    if len(scores.units) < 2:
        return None
    first, second = halves(scores.units)
    return _cross_validate(
        scores, candidates, [(first, second), (second, first)], "split-half", max_false_alarms
    )


def leave_one_out(
    scores: DatasetScores,
    candidates: Sequence[str],
    *,
    max_false_alarms: float = MAX_FALSE_ALARMS,
) -> CrossValidation | None:
    """For each unit, choose on all the others and report on it; pool the reports. ``None``
    with fewer than 3 units."""
    units = tuple(sorted(scores.units, key=natural_key))
    if len(units) < 3:
        return None
    splits = [(tuple(other for other in units if other != unit), (unit,)) for unit in units]
    return _cross_validate(scores, candidates, splits, "leave-one-out", max_false_alarms)


# --- one threshold over many series ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OneThreshold:
    """What one alert threshold over every series of a data set meets."""

    detector: str
    rows: int
    roc_auc: float | None
    """Raw scores of every unit ranked together (undefined without both classes)."""
    unit_roc_auc_median: float | None
    """Median of each unit's own ROC-AUC (units with both classes): the gap to ``roc_auc``
    is what incomparable scales between series cost."""
    flagged_share: float
    """Share of all scored rows flagged at the detector's own threshold(s)."""
    max_score: float | None
    """The largest finite score seen."""
    non_finite_scores: int
    thresholds: tuple[float, float]
    """Smallest and largest of the per-unit fitted thresholds."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "roc_auc": self.roc_auc,
            "unit_roc_auc_median": self.unit_roc_auc_median,
            "flagged_share": self.flagged_share,
            "max_score": self.max_score,
            "non_finite_scores": self.non_finite_scores,
            "threshold_min": self.thresholds[0],
            "threshold_max": self.thresholds[1],
        }


def _ranked_auc(truth: np.ndarray[Any, Any], scores: np.ndarray[Any, Any]) -> float | None:
    """ROC-AUC of ``scores`` by rank (so infinite scores rank, without overflow)."""
    if len(truth) == 0 or truth.all() or not truth.any():
        return None
    finite = np.where(np.isnan(scores), -np.inf, scores)
    _, ranks = np.unique(finite, return_inverse=True)
    return float(roc_auc_score(truth, ranks.astype(np.float64)))


def one_threshold(scores: DatasetScores, detector: str) -> OneThreshold:
    """``OneThreshold`` of ``detector`` over every unit of ``scores``."""
    parts = [part for unit in scores.units for part in scores.parts[detector][unit]]
    if not parts:
        raise ValueError(f"{scores.dataset}: no scored parts")
    raw = np.concatenate([part.scores for part in parts]).astype(np.float64)
    truth = np.concatenate([part.truth for part in parts]).astype(bool)
    flags = np.concatenate([part.flags for part in parts]).astype(bool)
    per_unit = [
        auc
        for unit in scores.units
        if (
            auc := _ranked_auc(
                np.concatenate([p.truth for p in scores.parts[detector][unit]]).astype(bool),
                np.concatenate([p.scores for p in scores.parts[detector][unit]]),
            )
        )
        is not None
    ]
    finite = np.isfinite(raw)
    thresholds = [part.threshold for part in parts]
    return OneThreshold(
        detector=detector,
        rows=len(raw),
        roc_auc=_ranked_auc(truth, raw),
        unit_roc_auc_median=float(np.median(per_unit)) if per_unit else None,
        flagged_share=float(flags.mean()) if len(flags) else 0.0,
        max_score=float(raw[finite].max()) if finite.any() else None,
        non_finite_scores=int((~finite).sum()),
        thresholds=(min(thresholds), max(thresholds)),
    )


# --- the whole protocol ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DatasetReport:
    """Every protocol's figures on one data set."""

    dataset: str
    description: str
    units: tuple[str, ...]
    labelled: bool
    in_sample: Mapping[str, Figures]
    in_sample_choice: str
    """The detector the rule picks on every unit: its in-sample figures are the optimistic
    ones the cross-validated figures stand beside."""
    split_half: CrossValidation | None
    leave_one_out: CrossValidation | None
    one_threshold: Mapping[str, OneThreshold]

    def to_dict(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "units": list(self.units),
            "labelled": self.labelled,
            "in_sample": {name: summary(fig) for name, fig in self.in_sample.items()},
            "in_sample_choice": self.in_sample_choice,
            "split_half": self.split_half.to_dict() if self.split_half else None,
            "leave_one_out": self.leave_one_out.to_dict() if self.leave_one_out else None,
            "one_threshold": {name: one.to_dict() for name, one in self.one_threshold.items()},
        }


def report(
    dataset: Dataset,
    detectors: Sequence[str],
    *,
    max_false_alarms: float = MAX_FALSE_ALARMS,
) -> DatasetReport:
    """Score ``detectors`` on ``dataset`` once and apply every protocol to the scores."""
    scores = score_dataset(dataset, detectors)
    return report_from_scores(scores, dataset.description, max_false_alarms=max_false_alarms)


def report_from_scores(
    scores: DatasetScores,
    description: str = "",
    *,
    max_false_alarms: float = MAX_FALSE_ALARMS,
) -> DatasetReport:
    """Every protocol applied to scores already computed (``score_dataset``)."""
    candidates = scores.detectors
    return DatasetReport(
        dataset=scores.dataset,
        description=description,
        units=scores.units,
        labelled=scores.labelled,
        in_sample=in_sample(scores),
        in_sample_choice=choose(
            scores, candidates, scores.units, max_false_alarms=max_false_alarms
        ),
        split_half=split_half(scores, candidates, max_false_alarms=max_false_alarms),
        leave_one_out=leave_one_out(scores, candidates, max_false_alarms=max_false_alarms),
        one_threshold={name: one_threshold(scores, name) for name in candidates},
    )


SUMMARY_KEYS = (
    "rows",
    "anomalous_rows",
    "flagged_rows",
    "f1",
    "false_alarm_rate",
    "missed_alarm_rate",
    "roc_auc",
    "average_precision",
    "segments",
    "detected_segments",
)


def summary(fig: Figures) -> dict[str, Any]:
    """The figures a comparison needs, as a JSON-ready dict (``None`` = undefined)."""
    data = fig.to_dict()
    return {key: data[key] for key in SUMMARY_KEYS}
