"""Honest evaluation of a detector on labelled CSV files.

Protocol, per file (and per group of rows when a group column is given: each meter or
building on its own): order the rows by time, fit a new detector on the leading training
part (``train_rows`` or ``train_fraction``; NAB's probation period is the same idea), score
the rest with the training part as context, and compare with the labels. Nothing learnt
from the scored rows' labels reaches the detector: the alarms are the detector's own
(``predict``, i.e. its ``threshold_``), never a threshold picked afterwards.

Labels come from a 0/1 label column or from a windows JSON (an object keyed by each CSV's
file name, each a list of ``[start, end]`` timestamps, bounds included, as NAB's).

Figures (fractions in [0, 1]), per file, per group and pooled over every scored row:
ROC-AUC and average precision of the scores; precision, recall, F1, false-alarm rate
(FP / normal rows) and missed-alarm rate (FN / anomalous rows) of the alarms; and per
labelled anomaly segment (a run of consecutive anomalous rows) whether it was detected and
the detection delay from its first row to the first alarm inside it (seconds when there is
a time column, rows otherwise). Pooled ROC-AUC and average precision rank the scores minus
each detector's own threshold, so that rows scored by different per-file detectors are
compared by how far they are above or below their own alarm level.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.metrics import average_precision_score, roc_auc_score

from energy_core.detection.registry import DEFAULT_DETECTOR, make_detector
from energy_core.detection.temporal import seasonal_lags_for
from energy_core.health.analysis import detection_quality

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Windows = Mapping[str, Sequence[Sequence[str]]]

TIME_COLUMN_NAMES = ("timestamp", "datetime", "time", "date")
"""Column names taken as the time column when none is named (first match, any case)."""
NEVER_FEATURES = ("changepoint",)
"""Columns never used as features by default (labels of another kind)."""


class EvaluationError(ValueError):
    """Input that cannot be evaluated; the message names the file, column and line."""


@dataclass(frozen=True, slots=True)
class EvaluationOptions:
    """How to read, split and score the files. ``None`` means "work it out":

    - ``time_column``: the first of ``TIME_COLUMN_NAMES`` present, else none (row order);
    - ``label_column``: ``"anomaly"`` unless ``windows`` is given;
    - ``features``: every numeric column except label, changepoint, time and group columns;
    - the training part: ``train_rows``, else ``train_fraction``, else ``probation_fraction``,
      else 15 % (NAB's probation). Rows in the probation part are never scored either.
    """

    sep: str = ","
    time_column: str | None = None
    label_column: str | None = None
    features: tuple[str, ...] | None = None
    group_column: str | None = None
    train_rows: int | None = None
    train_fraction: float | None = None
    windows: Windows | None = None
    probation_fraction: float | None = None
    detector: str = DEFAULT_DETECTOR
    seasonal: bool = True
    """Give temporal detectors day/week lags when the cadence and training part allow."""
    holidays: str | None = None
    """A country code: temporal detectors compare its public holidays with Sundays."""

    def __post_init__(self) -> None:
        if self.train_rows is not None and self.train_rows < 2:
            raise EvaluationError(f"train rows must be at least 2, got {self.train_rows}")
        for name in ("train_fraction", "probation_fraction"):
            value = getattr(self, name)
            if value is not None and not 0.0 < value < 1.0:
                raise EvaluationError(f"{name.replace('_', ' ')} must be in (0, 1), got {value}")
        if self.train_rows is not None and self.train_fraction is not None:
            raise EvaluationError("give train rows or a train fraction, not both")


@dataclass(frozen=True, slots=True)
class Figures:
    """Detection figures over some scored rows. Rates are fractions; ``None`` = undefined."""

    rows: int
    anomalous_rows: int
    flagged_rows: int
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    roc_auc: float | None
    average_precision: float | None
    precision: float
    recall: float
    f1: float
    false_alarm_rate: float | None
    missed_alarm_rate: float | None
    segments: int
    detected_segments: int
    delays: tuple[float, ...]
    """Detection delay of each detected segment (``delay_unit``)."""
    delay_unit: str

    @property
    def median_delay(self) -> float | None:
        return float(np.median(self.delays)) if self.delays else None

    @property
    def mean_delay(self) -> float | None:
        return float(np.mean(self.delays)) if self.delays else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("delays")
        data["median_delay"] = self.median_delay
        data["mean_delay"] = self.mean_delay
        return data


@dataclass(frozen=True, slots=True)
class ScoredPart:
    """The scored rows of one file (or one group of a file) with the detector's verdict."""

    file: str
    group: str | None
    train_rows: int
    threshold: float
    scores: FloatArray = field(repr=False)
    flags: BoolArray = field(repr=False)
    truth: BoolArray = field(repr=False)
    times: FloatArray | None = field(repr=False)
    """Seconds since the epoch of each scored row, when there is a time column."""
    seasonal_lags: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        return self.file if self.group is None else f"{self.file} [{self.group}]"

    def figures(self) -> Figures:
        return figures([self])


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    """Per-part (file or file × group), per-file and pooled figures of one detector."""

    detector: str
    parts: tuple[ScoredPart, ...]

    @property
    def files(self) -> dict[str, Figures]:
        names = dict.fromkeys(part.file for part in self.parts)
        return {name: figures([p for p in self.parts if p.file == name]) for name in names}

    @property
    def pooled(self) -> Figures:
        return figures(self.parts)

    def to_dict(self) -> dict[str, Any]:
        """The pooled figures at the top level, then ``files`` and (when grouped) ``groups``."""
        data: dict[str, Any] = {"detector": self.detector, **self.pooled.to_dict()}
        data["files"] = {name: fig.to_dict() for name, fig in self.files.items()}
        if any(part.group is not None for part in self.parts):
            data["groups"] = {part.name: part.figures().to_dict() for part in self.parts}
        return data

    def to_json(self) -> str:
        """``to_dict()`` as one line of JSON."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)


# --- figures -----------------------------------------------------------------------------
def segments(truth: BoolArray) -> list[tuple[int, int]]:
    """``(start, stop)`` row ranges of each run of consecutive True values."""
    padded = np.concatenate([[False], truth.astype(bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(edges[i]), int(edges[i + 1])) for i in range(0, len(edges), 2)]


def detection_delays(
    truth: BoolArray, flags: BoolArray, times: FloatArray | None = None
) -> tuple[int, list[float]]:
    """How many labelled segments there are and, for each detected one, the delay from its
    first row to its first flagged row (seconds with ``times``, else rows)."""
    spans = segments(truth)
    delays: list[float] = []
    for start, stop in spans:
        hits = np.flatnonzero(flags[start:stop])
        if len(hits):
            first = start + int(hits[0])
            delays.append(float(times[first] - times[start]) if times is not None else hits[0])
    return len(spans), delays


def figures(parts: Sequence[ScoredPart]) -> Figures:
    """Figures over the scored rows of ``parts`` pooled together."""
    truth = _concat([p.truth for p in parts], bool)
    flags = _concat([p.flags for p in parts], bool)
    margins = _concat([p.scores - p.threshold for p in parts], np.float64)
    tp = int(np.sum(flags & truth))
    fp = int(np.sum(flags & ~truth))
    fn = int(np.sum(~flags & truth))
    tn = int(np.sum(~flags & ~truth))
    quality = detection_quality(flags, truth)
    both = 0 < tp + fn < len(truth)
    count = 0
    delays: list[float] = []
    for part in parts:
        n, found = detection_delays(part.truth, part.flags, part.times)
        count += n
        delays += found
    timed = all(part.times is not None for part in parts)
    return Figures(
        rows=len(truth),
        anomalous_rows=tp + fn,
        flagged_rows=tp + fp,
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        true_negatives=tn,
        roc_auc=float(roc_auc_score(truth, margins)) if both else None,
        average_precision=float(average_precision_score(truth, margins)) if both else None,
        precision=quality.precision,
        recall=quality.recall,
        f1=quality.f1,
        false_alarm_rate=fp / (fp + tn) if fp + tn else None,
        missed_alarm_rate=fn / (fn + tp) if fn + tp else None,
        segments=count,
        detected_segments=len(delays),
        delays=tuple(delays),
        delay_unit="s" if timed else "rows",
    )


def _concat(arrays: Sequence[npt.NDArray[Any]], dtype: Any) -> npt.NDArray[Any]:
    if not arrays:
        return np.empty(0, dtype=dtype)
    return np.concatenate(arrays).astype(dtype)


# --- reading -----------------------------------------------------------------------------
def load_windows(path: str | Path) -> dict[str, list[list[str]]]:
    """A windows JSON file: ``{"file.csv": [[start, end], ...], ...}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvaluationError(f"{path}: no such windows file") from None
    except json.JSONDecodeError as error:
        raise EvaluationError(
            f"{path}, line {error.lineno}: not valid JSON ({error.msg})"
        ) from None
    if not isinstance(data, dict):
        raise EvaluationError(f"{path}: expected a JSON object keyed by CSV file name")
    for name, spans in data.items():
        if not isinstance(spans, list) or not all(
            isinstance(span, list) and len(span) == 2 for span in spans
        ):
            raise EvaluationError(f"{path}: {name!r} must be a list of [start, end] pairs")
    return data


def read_csv(path: str | Path, sep: str = ",") -> pl.DataFrame:
    """A CSV file as a polars frame (every value as read; types are checked later)."""
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"{path}: no such file")
    try:
        return pl.read_csv(path, separator=sep, infer_schema_length=None)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise EvaluationError(
            f"{path}: cannot read it as CSV with separator {sep!r}: {first}"
        ) from None


def as_polars(frame: Any) -> pl.DataFrame:
    """A polars frame from a polars or pandas frame (pandas' index is ignored)."""
    if isinstance(frame, pl.DataFrame):
        return frame
    columns = getattr(frame, "columns", None)
    if columns is None:
        raise EvaluationError(f"expected a polars or pandas DataFrame, got {type(frame).__name__}")
    data: dict[str, Any] = {}
    for column in columns:
        values = frame[column].to_numpy()
        data[str(column)] = values.tolist() if values.dtype == object else values
    return pl.DataFrame(data)


# --- evaluating --------------------------------------------------------------------------
def evaluate_files(
    paths: Sequence[str | Path], options: EvaluationOptions | None = None
) -> EvaluationReport:
    """Evaluate ``options.detector`` on each CSV in ``paths``; see the module docstring."""
    options = options or EvaluationOptions()
    if not paths:
        raise EvaluationError("no files to evaluate")
    frames = {str(path): read_csv(path, options.sep) for path in paths}
    return evaluate_frames(frames, options)


def evaluate_frames(
    frames: Mapping[str, Any], options: EvaluationOptions | None = None
) -> EvaluationReport:
    """Evaluate on in-memory frames (polars or pandas) keyed by file name."""
    options = options or EvaluationOptions()
    parts: list[ScoredPart] = []
    for name, frame in frames.items():
        parts += evaluate_frame(as_polars(frame), name, options)
    return EvaluationReport(detector=options.detector, parts=tuple(parts))


def evaluate_frame(frame: pl.DataFrame, name: str, options: EvaluationOptions) -> list[ScoredPart]:
    """The scored parts (one per group, or one) of the file ``name``."""
    table = _Table(frame, name, options)
    return [table.score_part(rows, group) for group, rows in table.groups()]


class _Table:
    """One file's columns checked and converted, with the errors naming file, column, line."""

    def __init__(self, frame: pl.DataFrame, name: str, options: EvaluationOptions) -> None:
        self.name = name
        self.options = options
        self.frame = frame
        if frame.height == 0:
            raise EvaluationError(f"{name}: no rows")
        columns = frame.columns
        self.time_column = options.time_column or next(
            (c for c in columns if c.lower() in TIME_COLUMN_NAMES), None
        )
        self.label_column = options.label_column
        if self.label_column is None and options.windows is None:
            self.label_column = "anomaly"
        for column in (self.time_column, self.label_column, options.group_column):
            if column is not None:
                self._require(column)
        excluded = {self.time_column, self.label_column, options.group_column, *NEVER_FEATURES}
        if options.features is not None:
            self.features = tuple(options.features)
            for column in self.features:
                self._require(column)
        else:
            self.features = tuple(
                c for c in columns if c not in excluded and frame.schema[c].is_numeric()
            )
        if not self.features:
            raise EvaluationError(f"{name}: no numeric feature columns among {', '.join(columns)}")
        self.X = np.column_stack([self._numbers(c) for c in self.features])
        self.times = self._times() if self.time_column else None
        self.truth = self._truth()
        self.keys = (
            np.asarray(frame[options.group_column].cast(pl.String).to_list(), dtype=object)
            if options.group_column
            else None
        )

    def groups(self) -> list[tuple[str | None, npt.NDArray[np.intp]]]:
        """Row indices of each group, ordered by time (stable), or all rows."""
        if self.keys is None:
            batches: list[tuple[str | None, npt.NDArray[np.intp]]] = [
                (None, np.arange(len(self.X)))
            ]
        else:
            batches = [
                (str(key), np.flatnonzero(self.keys == key))
                for key in dict.fromkeys(self.keys.tolist())
            ]
        if self.times is not None:
            times = self.times
            batches = [(g, rows[np.argsort(times[rows], kind="stable")]) for g, rows in batches]
        return batches

    def score_part(self, rows: npt.NDArray[np.intp], group: str | None) -> ScoredPart:
        where = self.name if group is None else f"{self.name}, group {group!r}"
        train, first_scored = self._split(len(rows), where)
        X = self.X[rows]
        times = self.times[rows] if self.times is not None else None
        lags: tuple[int, ...] = ()
        if self.options.seasonal and times is not None and train > 2:
            steps = np.diff(times[:train])
            steps = steps[steps > 0]
            if len(steps):
                cadence = timedelta(seconds=float(np.median(steps)))
                lags = seasonal_lags_for(cadence, train)
        detector = make_detector(
            self.options.detector, self.features, seasonal_lags=lags, holidays=self.options.holidays
        )
        detector.fit(X[:train], times=times[:train] if times is not None else None)
        scored = X[first_scored:]
        context = X[:first_scored]
        scored_times = times[first_scored:] if times is not None else None
        scores = detector.score(scored, context=context, times=scored_times)
        flags = detector.predict(scored, context=context, times=scored_times)
        return ScoredPart(
            file=self.name,
            group=group,
            train_rows=train,
            threshold=float(detector.threshold_),
            scores=np.asarray(scores, dtype=np.float64),
            flags=np.asarray(flags, dtype=bool),
            truth=self.truth[rows][first_scored:],
            times=times[first_scored:] if times is not None else None,
            seasonal_lags=lags,
        )

    def _split(self, rows: int, where: str) -> tuple[int, int]:
        options = self.options
        probation = (
            math.floor(rows * options.probation_fraction) if options.probation_fraction else 0
        )
        if options.train_rows is not None:
            train = options.train_rows
            what = f"train rows {train}"
        else:
            fraction = options.train_fraction or options.probation_fraction or 0.15
            train = math.floor(rows * fraction)
            what = f"train fraction {fraction}"
        first_scored = max(train, probation)
        if train < 2 or first_scored >= rows:
            raise EvaluationError(
                f"{where}: {rows} rows leave nothing to train on or to score with {what}"
            )
        return train, first_scored

    def _require(self, column: str) -> None:
        if column not in self.frame.columns:
            raise EvaluationError(
                f"{self.name}: no column {column!r}; columns: {', '.join(self.frame.columns)}"
            )

    def _numbers(self, column: str) -> FloatArray:
        series = self.frame[column]
        if series.dtype == pl.String:
            converted = series.str.strip_chars().cast(pl.Float64, strict=False)
        else:
            try:
                converted = series.cast(pl.Float64)
            except pl.exceptions.PolarsError:
                raise EvaluationError(
                    f"{self.name}: column {column!r} is not numeric ({series.dtype})"
                ) from None
        values = converted.to_numpy().astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            row = int(bad[0])
            raw = series[row]
            reason = "is empty" if raw is None or str(raw).strip() == "" else f"is {raw!r}"
            raise EvaluationError(
                f"{self.name}, line {row + 2}, column {column!r}:"
                f" value {reason}, not a finite number"
            )
        return values

    def _times(self) -> FloatArray:
        assert self.time_column is not None
        series = self.frame[self.time_column]
        if series.dtype == pl.String:
            parsed = series.str.strip_chars().str.to_datetime(strict=False, time_unit="us")
        elif series.dtype.is_temporal():
            parsed = series.cast(pl.Datetime("us"))
        else:
            raise EvaluationError(
                f"{self.name}: time column {self.time_column!r} holds {series.dtype}, not times"
            )
        if parsed.dtype == pl.Datetime and getattr(parsed.dtype, "time_zone", None):
            parsed = parsed.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        bad = parsed.is_null().arg_true()
        if len(bad):
            row = int(bad[0])
            raise EvaluationError(
                f"{self.name}, line {row + 2}, column {self.time_column!r}:"
                f" {series[row]!r} is not a time"
            )
        micros = parsed.dt.epoch("us").to_numpy().astype(np.float64)
        return micros / 1e6

    def _truth(self) -> BoolArray:
        if self.options.windows is not None and self.label_column is None:
            return self._windows_truth()
        assert self.label_column is not None
        values = self._numbers(self.label_column)
        bad = np.flatnonzero((values != 0) & (values != 1))
        if len(bad):
            row = int(bad[0])
            raise EvaluationError(
                f"{self.name}, line {row + 2}, column {self.label_column!r}:"
                f" label {values[row]:g} is not 0 or 1"
            )
        truth: BoolArray = values == 1
        return truth

    def _windows_truth(self) -> BoolArray:
        assert self.options.windows is not None
        if self.times is None:
            raise EvaluationError(f"{self.name}: windows need a time column; none was found")
        key = Path(self.name).name
        if key not in self.options.windows:
            known = ", ".join(sorted(self.options.windows)) or "none"
            raise EvaluationError(f"{self.name}: the windows name no {key!r}; they name: {known}")
        truth = np.zeros(len(self.times), dtype=bool)
        for index, span in enumerate(self.options.windows[key]):
            start, end = (_seconds(text, key, index) for text in span)
            truth |= (self.times >= start) & (self.times <= end)
        return truth


def _seconds(text: str, file: str, index: int) -> float:
    try:
        moment = datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise EvaluationError(
            f"windows for {file!r}, window {index + 1}: {text!r} is not a time"
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return (moment - datetime(1970, 1, 1)).total_seconds()


def with_windows_file(options: EvaluationOptions, path: str | Path) -> EvaluationOptions:
    """``options`` labelling rows from the windows JSON at ``path``."""
    return replace(options, windows=load_windows(path))
