"""A detector that sees time: temporal features, several views, a calibrated threshold.

Why: a detector that looks at one reading at a time cannot see a stuck meter (it repeats a
plausible value), a slow collective fault (every single reading is plausible, their run is
not) or a reading that is normal for noon but not for midnight. ``TemporalDetector`` turns
each meter's ordered readings into features that carry their recent past, scores them with
three views, and calibrates one threshold from the training scores alone.

Features (per original variable, per meter, computed on rows in time order):

- ``jump``: the value minus the median of the ``short_window`` readings before it (a spike or
  a dip stands out whatever the slow level is doing);
- ``median``: the rolling median of the last ``short_window`` readings (a level shift that
  lasts);
- ``mean`` and ``std``: the rolling mean and standard deviation over ``long_window`` readings
  of the ``median`` series (so one wild reading does not smear over the next rows);
- ``run``: how many consecutive readings carried exactly the same value (a stuck sensor);
- ``lag<k>``: the rolling median minus the rolling median ``k`` readings earlier, for each
  ``k`` in ``seasonal_lags`` (e.g. one day and one week of readings: same time yesterday or
  last week). Use ``seasonal_lags_for`` to derive them from the cadence.
- ``season`` (with seasonal lags): the reading minus the median of the readings one, two and
  three of the longest lags before it (``profile_periods``): a robust same-hour-of-week (or
  of-day) profile taken from the meter's own recent weeks, so it follows the seasons.

Views, each in units of its own alarm level (a view alarms above 1):

- **point**: robust z-score (median / MAD of the training part) of every ``jump`` feature,
  the largest, divided by its training ``quantile`` times ``margin``;
- a level of a view is at least ``level_floor`` robust units: a training part that is
  nearly constant (a quantile of 0) must not make every later change a score of 1e13;
- **stuck**: a run of equal readings longer than 1.5 + ``stuck_margin`` × (the training
  ``stuck_quantile`` of that variable's runs − 1), each run counted once (so a few frozen
  episodes in the training part do not set the level);
- **collective**: the geometric mean of two families, each divided by its training
  ``quantile``: the largest robust z-score of the ``median`` and ``lag`` features, and
  PCA T² + Q on the standardised ``mean``/``std``/``median`` features; divided by ``margin``.
  The ``season`` features join the level family (``profile_view``).

Robust training (``trim_rounds``, off by default: on the development data it raised false
alarms, docs/detection.md): refit without the episodes the first fit flags in its own
training part.

The score is the largest view, so **higher = more anomalous** and ``threshold_`` is ``1.0``:
a reading is flagged when some view exceeds its own calibrated level. All scaling, PCA and
quantiles are fitted on the training part only; labels are never used.

Context (the design the live app uses): temporal features need the readings just before a
batch. ``fit`` takes rows in time order (several meters at once with ``groups``, one key per
row); ``score``/``predict``/``explain`` take the new batch plus ``context``: the previous rows
of the same meter (an array) or, with ``groups``, a mapping from each meter to its previous
rows. ``context_rows`` says how many previous rows are enough. Without context the first rows
of a batch are scored with whatever history the batch itself holds.

Explanations name the ORIGINAL variables: a variable's contribution is the largest of its
features' robust z-scores in units of that feature's training quantile.

Missing values (NaN: a variable a reading does not carry): rolling statistics are taken over
the values present, so a missing value has no ``jump`` and no ``run`` of its own and its
level features come from the meter's own recent values; a feature with nothing to go on is
NaN, which every view treats as neutral (z = 0). A variable a meter never sends therefore
plays no part in its scores, and an explanation never names a variable its reading lacks.
"""

from __future__ import annotations

import itertools
import threading
import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.decomposition import PCA

from energy_core.detection.protocol import Context, Groups, NotFittedError, Times, check_matrix
from energy_core.telemetry.catalogue import DEFAULT_FEATURES

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_EPS = 1e-12
BATCHED_GROUP_ROWS = 64
"""Groups with at most this many rows are featurised together (``batched_sequence_features``)."""
BATCHED_CELLS = 4_000_000
"""About how many window cells one batched step may hold (memory: 8 bytes each, a few times)."""
_DAY = timedelta(days=1)
SCALE_FLOOR = 1e-3
"""A feature's scale is at least this share of its variable's training spread."""
PROFILE_PERIODS = 3
"""How many earlier periods (days or weeks) the same-hour profile takes the median of."""
ADAPT_BELOW_PERIODS = 7.0
"""A training part shorter than this many of the shortest seasonal lag (a week of days)
cannot say what level is normal: levels are then judged against recent periods."""


def seasonal_lags_for(
    cadence: timedelta, training_rows: int, periods: Sequence[timedelta] = (_DAY, 7 * _DAY)
) -> tuple[int, ...]:
    """Lags in rows for each period (a day, a week) that fits the cadence and the training part.

    A lag is kept when it is a whole number of at least 2 readings and the training part
    holds at least twice as many rows, so that half of the training rows can learn it.
    """
    seconds = cadence.total_seconds()
    if seconds <= 0:
        return ()
    lags: list[int] = []
    for period in periods:
        rows = period.total_seconds() / seconds
        lag = round(rows)
        if lag >= 2 and abs(rows - lag) < 0.01 * rows and training_rows >= 2 * lag:
            lags.append(lag)
    return tuple(lags)


VIEWS = ("point", "stuck", "profile", "collective")
"""The views a ``TemporalDetector`` alarm comes from, as ``score_explain_views`` names them:
a sudden jump, a value held too long, a reading unusual for its hour of the week, a level or
combination of variables that drifted."""


@dataclass(frozen=True, slots=True)
class FeatureBlock:
    """Engineered features of one sequence: ``values`` columns named ``names``, each derived
    from the variable ``origins[j]`` (an index into the detector's ``features``)."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    origins: tuple[int, ...]
    values: FloatArray


def _rolling(X: FloatArray, window: int, statistic: str, include_current: bool) -> FloatArray:
    """Trailing rolling statistic over ``window`` rows per column; NaN where no row is there.

    Partial windows at the start use the rows available; so do windows with missing values
    (NaN): the statistic is over the values present, NaN when there are none.
    """
    holes = np.isnan(X)
    if not holes.any() or np.all(holes.all(axis=0) | ~holes.any(axis=0)):
        # Every column whole or empty (a variable a meter never sends): the plain statistics
        # give an empty column NaN throughout, as they should.
        return _rolling_complete(X, window, statistic, include_current)
    # Some column has gaps: NaN-aware statistics over every column, laid out as
    # ``batched_sequence_features`` lays them out, so both give the same numbers bit for bit.
    rows, width = X.shape
    padded = np.vstack([np.full((window, width), np.nan), X])
    windows = sliding_window_view(padded, window, axis=0)[: rows + 1]
    chosen = windows[1:] if include_current else windows[:-1]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # windows with no value: NaN
        out: FloatArray = _STATISTICS[statistic][0](chosen, axis=2)
    return out


def _rolling_complete(
    X: FloatArray, window: int, statistic: str, include_current: bool
) -> FloatArray:
    """``_rolling`` of columns without missing values."""
    rows, width = X.shape
    padded = np.vstack([np.full((window, width), np.nan), X])
    # windows[i] covers padded rows i .. i + window - 1, i.e. original rows i - window .. i - 1.
    windows = sliding_window_view(padded, window, axis=0)[: rows + 1]
    chosen = windows[1:] if include_current else windows[:-1]
    # Only the first rows have partial windows (NaN padding); the NaN-aware statistics are
    # many times slower, so the full windows take the plain ones (same values).
    partial = min(rows, window - 1 if include_current else window)
    out: FloatArray = np.empty((rows, width), dtype=np.float64)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        # An empty window (the very first row) is expected: its NaN is handled by the caller.
        warnings.simplefilter("ignore", RuntimeWarning)
        nan_aware, plain = _STATISTICS[statistic]
        if partial:
            out[:partial] = nan_aware(chosen[:partial], axis=2)
        if rows > partial:
            out[partial:] = plain(chosen[partial:], axis=2)
    return out


def _nan_median(windows: FloatArray, axis: int) -> FloatArray:
    assert axis in (-1, windows.ndim - 1)
    return _window_median(windows)


_STATISTICS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "median": (_nan_median, np.median),
    "mean": (np.nanmean, np.mean),
    "std": (np.nanstd, np.std),
}


def run_lengths(X: FloatArray) -> FloatArray:
    """Per column, how many consecutive rows (this one included) carried exactly this value;
    NaN where the value is missing (a missing value repeats nothing and breaks a run)."""
    rows, width = X.shape
    result = np.ones((rows, width))
    if rows == 0:
        return result
    same = np.vstack([np.zeros((1, width), dtype=bool), X[1:] == X[:-1]])
    for column in range(width):
        run_id = np.cumsum(~same[:, column])
        starts = np.flatnonzero(~same[:, column])
        result[:, column] = np.arange(rows) - starts[run_id - 1] + 1
    result[np.isnan(X)] = np.nan
    return result


def sequence_features(
    X: FloatArray,
    variables: Sequence[str],
    *,
    short_window: int,
    long_window: int,
    seasonal_lags: Sequence[int] = (),
    jump_limits: tuple[FloatArray, FloatArray] | None = None,
    profile_periods: int = 0,
    holiday_back: npt.NDArray[np.intp] | None = None,
    recent: bool = False,
) -> FeatureBlock:
    """The engineered features of one meter's rows ``X`` (time order); NaN where the history
    is too short (the detector replaces those by neutral values).

    ``jump_limits``: per variable, the centre and the largest ordinary distance of a jump;
    readings beyond it are left out of the slow ``mean``/``std`` statistics.
    """
    median = _rolling(X, short_window, "median", include_current=True)
    previous = _rolling(X, short_window, "median", include_current=False)
    jump = X - previous
    steady = X
    if jump_limits is not None:
        # A reading whose jump alarms the point view is replaced by the median before it
        # for the slow statistics, so that one wild reading does not smear over the next
        # ``long_window`` rows of ``mean`` and ``std``.
        wild = np.abs(np.nan_to_num(jump - jump_limits[0])) > jump_limits[1]
        steady = np.where(wild, previous, X)
    parts: list[tuple[str, FloatArray]] = [
        ("jump", jump),
        ("median", median),
        ("mean", _rolling(steady, long_window, "mean", include_current=True)),
        ("std", _rolling(steady, long_window, "std", include_current=True)),
        ("run", run_lengths(X)),
    ]
    for lag in seasonal_lags:
        shifted = np.full_like(median, np.nan)
        if lag < len(median):
            shifted[lag:] = median[:-lag]
        parts.append((f"lag{lag}", median - shifted))
    if seasonal_lags and profile_periods:
        period = max(seasonal_lags)
        expected = _seasonal_profile(X, period, profile_periods, 0, len(X))
        if holiday_back is not None:
            _compare_holidays(expected, X, holiday_back, period, profile_periods)
        parts.append(("season", X - expected))
        if recent:
            baseline = _rolling(X, min(seasonal_lags), "median", include_current=False)
            parts.append(("recent", median - baseline))
    names, kinds, origins = feature_layout(variables, seasonal_lags, profile_periods, recent)
    values = np.hstack([block for _, block in parts]) if parts else np.empty((len(X), 0))
    return FeatureBlock(names, kinds, origins, values)


def _seasonal_profile(
    X: FloatArray, period: int, periods: int, start: int, stop: int, axis: int = 0
) -> FloatArray:
    """For rows ``start``..``stop`` of ``X`` (along ``axis``), the median of the readings
    1, 2 … ``periods`` periods earlier (same hour yesterday, or of the last weeks): a robust
    profile that follows the seasons as it goes; NaN where none of them is there."""
    taken = [
        np.take(X, np.arange(start - k * period, stop - k * period), axis=axis, mode="clip")
        for k in range(1, periods + 1)
    ]
    for k, block in enumerate(taken, start=1):
        before = np.arange(start - k * period, stop - k * period) < 0
        if before.any():
            index: list[Any] = [slice(None)] * X.ndim
            index[axis] = before
            block[tuple(index)] = np.nan
    return _window_median(np.stack(taken, axis=-1))


def _compare_holidays(
    expected: FloatArray,
    X: FloatArray,
    back: npt.NDArray[np.intp],
    period: int,
    periods: int,
) -> None:
    """Replace, in place, the profile of each holiday row (``back[i] > 0``: rows back to the
    same hour of the last Sunday) by the median of the same hour of the last ``periods``
    Sundays: a holiday is compared with Sundays, not with the weekday it falls on."""
    for row in np.flatnonzero(back > 0):
        earlier = [row - int(back[row]) - k * period for k in range(periods)]
        taken = X[[i for i in earlier if i >= 0]]
        if len(taken):
            expected[row] = _window_median(taken.T[None, :, :])[0]
        else:
            expected[row] = np.nan


def feature_layout(
    variables: Sequence[str],
    seasonal_lags: Sequence[int] = (),
    profile_periods: int = 0,
    recent: bool = False,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...]]:
    """Names, kinds and origins of the columns ``sequence_features`` computes, in order:
    kind by kind (jump, median, mean, std, run, lag<k>…, season, recent), each over every
    variable."""
    profile = bool(seasonal_lags and profile_periods)
    kinds_in_order = [
        "jump",
        "median",
        "mean",
        "std",
        "run",
        *(f"lag{lag}" for lag in seasonal_lags),
        *(("season",) if profile else ()),
        *(("recent",) if profile and recent else ()),
    ]
    names: list[str] = []
    kinds: list[str] = []
    origins: list[int] = []
    for kind in kinds_in_order:
        for index, name in enumerate(variables):
            names.append(f"{name}|{kind}")
            kinds.append(kind)
            origins.append(index)
    return tuple(names), tuple(kinds), tuple(origins)


def _window_median(windows: FloatArray) -> FloatArray:
    """``np.nanmedian`` over the last axis, bit for bit (the mean of the two middle values of
    the non-NaN ones, NaN where there are none), without its masked-array machinery."""
    ordered = np.sort(windows, axis=-1)  # NaN last
    size = ordered.shape[-1]
    if size and not np.isnan(ordered[..., -1]).any():
        # No window lacks a value (its largest is not NaN): the two middle values are at
        # fixed places, without counting and gathering (same operations, same numbers).
        whole: FloatArray = (ordered[..., (size - 1) // 2] + ordered[..., size // 2]) / 2.0
        return whole
    counts = np.sum(~np.isnan(ordered), axis=-1)
    low = np.take_along_axis(ordered, np.maximum((counts - 1) // 2, 0)[..., None], -1)[..., 0]
    high = np.take_along_axis(ordered, (counts // 2)[..., None], -1)[..., 0]
    with np.errstate(invalid="ignore"):
        middle: FloatArray = (low + high) / 2.0
    middle[counts == 0] = np.nan
    return middle


class RecentMedians:
    """Per meter (group key), the short-window medians of the last rows a batch was
    featurised over, with those rows: the next batch of that meter, whose context ends
    with them, takes them instead of sorting the same windows again.

    Live scoring sends each meter's last ``context_rows`` readings with every batch; the
    slow statistics need the short median before each of the last ``long_window`` rows,
    which without this is most of the cost of scoring a fleet. A meter's kept medians are
    used only when every row under their windows is the same, bit for bit, as the row now
    at that place, so scores are the same with or without them whatever the caller sends
    (a tail reloaded, a gap, a reading corrected or stored late: that meter's medians are
    taken again). Holds up to
    ``max_keys`` meters, the least recently featurised dropped first; about
    ``(2 * long_window + short_window) * variables * 8`` bytes each. Thread-safe.
    """

    def __init__(self, max_keys: int = 20_000) -> None:
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[FloatArray, FloatArray]] = {}
        self._shape: tuple[int, int, int] = (0, 0, 0)
        self.reused = 0
        """Meters whose kept medians were used (all of them), since made."""

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _taken(
        self, keys: Sequence[Hashable], shape: tuple[int, int, int]
    ) -> list[tuple[FloatArray, FloatArray] | None]:
        """What is kept for each key (rows, medians), ``None`` where nothing is; everything
        is forgotten when ``shape`` (short window, long window, width) changed."""
        with self._lock:
            if shape != self._shape:
                self._entries.clear()
                self._shape = shape
            entries = self._entries
            return [entries.get(key) for key in keys]

    def _count_reused(self, meters: int) -> None:
        with self._lock:
            self.reused += meters

    def _keep(self, found: Sequence[tuple[Hashable, FloatArray, FloatArray]]) -> None:
        with self._lock:
            entries = self._entries
            for key, rows, medians in found:
                entries.pop(key, None)  # re-inserted last: dicts keep insertion order
                entries[key] = (rows, medians)
            excess = len(entries) - self.max_keys
            if excess > 0:
                for key in list(itertools.islice(entries, excess)):
                    del entries[key]


def batched_sequence_features(
    sequences: Sequence[tuple[FloatArray, FloatArray | None]],
    variables: Sequence[str],
    *,
    short_window: int,
    long_window: int,
    seasonal_lags: Sequence[int] = (),
    jump_limits: tuple[FloatArray, FloatArray] | None = None,
    profile_periods: int = 0,
    holiday_back: Sequence[npt.NDArray[np.intp] | None] | None = None,
    recent: bool = False,
    keys: Sequence[Hashable] | None = None,
    medians: RecentMedians | None = None,
) -> list[FloatArray]:
    """For each ``(rows, previous)``: ``sequence_features(vstack([previous, rows]))`` restricted
    to ``rows``, equal to it bit for bit, computed for every sequence at once.

    For scoring many meters with a few new rows each: the sequences are laid side by side,
    NaN-padded on the left, and every rolling statistic is one numpy step over all of them;
    only what the new rows need is computed (the short medians of the last ``long_window``
    rows, at the seasonal lags and of the new rows; the slow ``mean``/``std`` and runs of
    the new rows). With ``medians`` and one ``keys`` entry per sequence (its meter), the
    short medians of each sequence's context are taken from the previous batch of that
    meter where their windows are unchanged (``RecentMedians``).
    """
    if not sequences:
        return []
    width = len(variables)
    count = len(sequences)
    before = max(len(previous) if previous is not None else 0 for _, previous in sequences)
    new = max(len(rows) for rows, _ in sequences)
    profile = bool(seasonal_lags and profile_periods)
    # How far before the new rows readings and medians are used.
    reach = max(long_window, *seasonal_lags, profile_periods * max(seasonal_lags, default=0), 1)
    # NaN rows on the left where the longest context is shorter: every window that is used
    # starts inside P (a missing row and a row before the context are alike: NaN).
    first_new = max(before, reach + short_window - 1)
    length = first_new + new
    P = np.full((count, length, width), np.nan)
    for index, (rows, previous) in enumerate(sequences):
        if previous is not None and len(previous):
            P[index, first_new - len(previous) : first_new] = previous
        P[index, first_new : first_new + len(rows)] = rows
    windows = sliding_window_view(P, short_window, axis=1)  # [:, q]: rows q .. q + short - 1

    def medians_at(start: int, stop: int, which: Any = slice(None)) -> FloatArray:
        """The rolling medians of the short windows ending at rows ``start`` … ``stop - 1``."""
        return _window_median(windows[which, start - short_window + 1 : stop - short_window + 1])

    # The short medians of the rows the slow statistics of the new rows reach back to (the
    # median *before* row p is the one ending at row p - 1), then of the new rows.
    slow_from = first_new - long_window
    if medians is not None and keys is not None:
        context_medians = _context_medians(
            P, first_new, long_window, short_window, keys, medians, medians_at
        )
    else:
        context_medians = medians_at(slow_from, first_new)
    median = np.concatenate([context_medians, medians_at(first_new, length)], axis=1)
    if medians is not None and keys is not None:
        span = long_window + short_window - 1
        kept = []
        for index, (rows, _) in enumerate(sequences):
            end = first_new + len(rows)  # one past the sequence's last row
            kept.append(
                (
                    keys[index],
                    P[index, end - span : end].copy(),
                    median[index, end - long_window - slow_from : end - slow_from].copy(),
                )
            )
        medians._keep(kept)
    # Rows slow_from + 1 … length - 1: the value, the median before it, its jump.
    later = P[:, slow_from + 1 :]
    previous_median = median[:, :-1]
    jump = later - previous_median
    steady = later
    if jump_limits is not None:
        wild = np.abs(np.nan_to_num(jump - jump_limits[0])) > jump_limits[1]
        steady = np.where(wild, previous_median, later)
    slow = sliding_window_view(steady, long_window, axis=1)
    if not np.isnan(steady).any():
        # Every window whole: the plain statistics, as ``sequence_features`` takes them for
        # whole windows (the NaN-aware ones copy and mask every window first).
        mean = np.mean(slow, axis=-1)
        spread = np.std(slow, axis=-1)
    else:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(slow, axis=-1)
            spread = np.nanstd(slow, axis=-1)
    newest = slice(first_new, length)
    parts = [
        jump[:, long_window - 1 :],
        median[:, long_window:],
        mean,
        spread,
        _new_runs(P, first_new),
    ]
    for lag in seasonal_lags:
        parts.append(median[:, long_window:] - medians_at(first_new - lag, length - lag))
    if profile:
        period = max(seasonal_lags)
        expected = _seasonal_profile(P, period, profile_periods, first_new, length, 1)
        for index, back in enumerate(holiday_back or ()):
            if back is not None and back.any():
                # The sequence's rows sit at ``first_new``… of ``P[index]``.
                at = np.zeros(length, dtype=np.intp)
                at[first_new : first_new + len(back)] = back
                mine = np.full((length, width), np.nan)
                mine[first_new:] = expected[index]
                _compare_holidays(mine, P[index], at, period, profile_periods)
                expected[index] = mine[first_new:]
        parts.append(P[:, newest] - expected)
        if recent:
            # The median of the ``min(seasonal_lags)`` readings before each new row.
            span = min(seasonal_lags)
            before_new = sliding_window_view(P, span, axis=1)[:, first_new - span : length - span]
            parts.append(median[:, long_window:] - _window_median(before_new))
    values = np.concatenate(parts, axis=2)
    return [values[index, : len(rows)] for index, (rows, _) in enumerate(sequences)]


def _context_medians(
    P: FloatArray,
    first_new: int,
    long_window: int,
    short_window: int,
    keys: Sequence[Hashable],
    medians: RecentMedians,
    medians_at: Callable[..., FloatArray],
) -> FloatArray:
    """The short medians ending at rows ``first_new - long_window`` … ``first_new - 1`` of
    each sequence of ``P``: the kept ones for a sequence whose rows under those windows are,
    bit for bit, the rows its meter's previous batch ended with; computed for the others."""
    count, _, width = P.shape
    span = long_window + short_window - 1
    taken = medians._taken(keys, (short_window, long_window, width))
    hits = [index for index, entry in enumerate(taken) if entry is not None]
    slow_from = first_new - long_window
    if not hits:
        return medians_at(slow_from, first_new)
    kept_rows = np.stack([entry[0] for entry in taken if entry is not None])
    kept_medians = np.stack([entry[1] for entry in taken if entry is not None])
    now = P[hits, first_new - span : first_new]
    # Compared as bits: NaN (a missing value, or no row yet) equals NaN, -0.0 differs from 0.0.
    unchanged = np.all(now.view(np.int64) == kept_rows.view(np.int64), axis=(1, 2))
    reused = np.asarray(hits, dtype=np.intp)[unchanged]
    medians._count_reused(len(reused))
    if len(reused) == count:
        return kept_medians
    if not len(reused):
        return medians_at(slow_from, first_new)
    result = np.empty((count, long_window, width))
    fresh = np.ones(count, dtype=bool)
    fresh[reused] = False
    result[reused] = kept_medians[unchanged]
    result[fresh] = medians_at(slow_from, first_new, fresh)
    return result


def _new_runs(P: FloatArray, first_new: int) -> FloatArray:
    """``run_lengths`` of rows ``first_new`` … of each sequence of ``P`` (runs counted from
    the first row of ``P``; a missing value breaks a run and has none)."""
    changed = np.ones(P.shape, dtype=bool)
    np.not_equal(P[:, 1:], P[:, :-1], out=changed[:, 1:])  # NaN differs from everything
    # The last row at or before first_new - 1 where a run began (row 0 always begins one).
    last_start = first_new - 1 - np.argmax(changed[:, first_new - 1 :: -1], axis=1)
    position = np.arange(first_new, P.shape[1])[None, :, None]
    starts = np.maximum.accumulate(np.where(changed[:, first_new:], position, -1), axis=1)
    run: FloatArray = (position - np.maximum(starts, last_start[:, None, :]) + 1).astype(np.float64)
    run[np.isnan(P[:, first_new:])] = np.nan
    return run


def _weekdays(times: FloatArray) -> npt.NDArray[np.intp]:
    """Monday = 0 … Sunday = 6 of each UTC time (seconds since the epoch, a Thursday)."""
    days = np.floor(times / 86_400.0).astype(np.int64)
    weekday: npt.NDArray[np.intp] = ((days + 3) % 7).astype(np.intp)
    return weekday


def holiday_mask(times: FloatArray, country: str) -> BoolArray:
    """Which UTC times (seconds since the epoch) fall on a public holiday of ``country``
    (``holidays`` package: a country code such as ``"ES"``, or ``"ES-MD"`` with a
    subdivision). ``ValueError`` naming the code when the package does not know it."""
    import holidays as calendar  # deferred: only detectors with a calendar need it

    days = np.floor(times / 86_400.0).astype(np.int64)
    if len(days) == 0:
        return np.zeros(0, dtype=bool)
    first = date(1970, 1, 1) + timedelta(days=int(days.min()))
    last = date(1970, 1, 1) + timedelta(days=int(days.max()))
    code, _, subdivision = country.partition("-")
    try:
        known = calendar.country_holidays(
            code, subdiv=subdivision or None, years=range(first.year, last.year + 1)
        )
    except NotImplementedError:
        raise ValueError(
            f"unknown holiday calendar {country!r} (a country code: ES, US…)"
        ) from None
    epoch = date(1970, 1, 1)
    holiday_days = np.array([(day - epoch).days for day in known], dtype=np.int64)
    mask: BoolArray = np.isin(days, holiday_days)
    return mask


def _seasonal_strength(X: FloatArray, season: FloatArray) -> float | None:
    """How much of the training variance the same-hour profile explains: 1 - var(reading
    minus profile) / var(reading), the median over variables (as STL's seasonal strength);
    None without a profile. Above 0, the profile predicts better than the mean does."""
    if season.shape[1] == 0:
        return None
    strengths = []
    for column in range(season.shape[1]):
        present = ~np.isnan(season[:, column]) & ~np.isnan(X[:, column])
        if present.sum() < 10:
            continue
        spread = float(np.var(X[present, column]))
        if spread > 0.0:
            strengths.append(1.0 - float(np.var(season[present, column])) / spread)
    return float(np.median(strengths)) if strengths else None


def _long_runs(mask: BoolArray, least: int) -> BoolArray:
    """``mask`` keeping only its runs of True at least ``least`` rows long."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    kept = np.zeros(len(mask), dtype=bool)
    for start, stop in zip(edges[0::2], edges[1::2], strict=True):
        if stop - start >= least:
            kept[start:stop] = True
    return kept


def _completed_runs(values: FloatArray) -> FloatArray:
    """Lengths of the runs of equal consecutive values present (a missing value ends a run)."""
    present = values[~np.isnan(values)]
    if len(present) == 0:
        return np.empty(0)
    breaks = np.flatnonzero(np.r_[True, present[1:] != present[:-1], True])
    return np.diff(breaks).astype(np.float64)


def _robust_centre_scale(
    train: FloatArray, floors: FloatArray | None = None
) -> tuple[FloatArray, FloatArray]:
    """Per column median and a robust scale: 1.4826·MAD, floored by a tenth of the standard
    deviation (quantised signals have MAD 0), by ``floors`` when given and by a tiny absolute
    value. A column with no value (a variable no training reading carries) gets centre 0 and
    scale 1."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        centre = np.nanmedian(train, axis=0)
        mad = 1.4826 * np.nanmedian(np.abs(train - centre), axis=0)
        spread = np.nanstd(train, axis=0)
    floor = 1e-9 * (1.0 + np.abs(centre))
    if floors is not None:
        floor = np.maximum(floor, floors)
    scale: FloatArray = np.maximum(np.maximum(mad, 0.1 * spread), floor)
    return np.nan_to_num(centre), np.where(np.isfinite(scale), scale, 1.0)


def _quantile(values: FloatArray, q: float) -> float:
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return 1.0
    return max(float(np.quantile(finite, q)), _EPS)


class TemporalDetector:
    """Temporal features → point, stuck and collective views; see the module docstring.

    Settings (keyword-only, stored as given): ``features`` (original variable names, the
    catalogue by default), ``short_window`` and ``long_window`` (rows), ``seasonal_lags``
    (rows), ``quantile`` of the training scores and ``margin`` above it that make a view's
    alarm level, ``explained_variance`` kept by the PCA, ``views`` to switch views off for
    ablations (any of ``"point"``, ``"stuck"``, ``"collective"``; a collective view can be
    narrowed to one family with ``"robust"`` or ``"pca"``).

    Added for data never seen (issue 16; docs/detection.md has the evidence):
    ``profile_periods`` and ``profile_view`` (the same-hour profile's own alarm and its place
    in the level family), ``holidays`` (a country code: holidays compared with Sundays and
    left out of training), ``adapt`` (with a profile, levels are judged against the meter's
    recent periods rather than against training: a baseline that follows slow changes),
    ``stuck_rule`` (``"rows"``: the row quantile of runs; ``"runs"``: each run counted once;
    ``"hybrid"``: also a geometric law with tail ``stuck_alpha``, floored at ``stuck_floor``
    times the usual run), ``level_floor`` (least alarm level of a view, in robust units),
    ``scale_floor`` (least scale of a feature, as a share of its variable's training spread),
    ``adapt_below_periods`` (adapt also when training spans fewer than this many of the
    shortest seasonal lag), ``trim_rounds``/``trim_spread``/``trim_limit`` (robust
    training), ``lags_in_level`` (whether the single-period lag features join the level
    family beside the profile).
    """

    threshold_: float

    # Models stored before these settings existed load without them: they keep the
    # behaviour they were trained with (no profile, runs by row quantile, no floors).
    profile_periods: int = 0
    profile_view: str = "level"
    holidays: str | None = None
    adapt: bool = False
    stuck_rule: str = "rows"
    level_floor: float = 0.0
    scale_floor: float = 0.0
    trim_rounds: int = 0
    lags_in_level: bool = True
    adapt_below_periods: float = 0.0
    recent_baseline: bool = False

    def __init__(
        self,
        *,
        features: Sequence[str] = DEFAULT_FEATURES,
        short_window: int = 10,
        long_window: int = 60,
        seasonal_lags: Sequence[int] = (),
        quantile: float = 0.99,
        point_quantile: float = 0.9,
        point_margin: float = 3.0,
        stuck_quantile: float = 0.99,
        stuck_margin: float = 6.0,
        margin: float = 2.0,
        explained_variance: float = 0.85,
        views: Sequence[str] = ("point", "stuck", "collective"),
        random_state: int | None = 0,
        stuck_rule: str = "hybrid",
        trim_rounds: int = 1,
        trim_limit: float = 0.3,
        level_floor: float = 1.0,
        profile_periods: int = PROFILE_PERIODS,
        profile_view: str = "level_own",
        holidays: str | None = None,
        adapt: bool = True,
        stuck_alpha: float = 1e-6,
        stuck_floor: float = 3.0,
        trim_spread: float = 8.0,
        scale_floor: float = SCALE_FLOOR,
        lags_in_level: bool = False,
        adapt_below_periods: float = ADAPT_BELOW_PERIODS,
        recent_baseline: bool = True,
    ) -> None:
        self.features = tuple(features)
        self.short_window = short_window
        self.long_window = long_window
        self.seasonal_lags = tuple(seasonal_lags)
        self.quantile = quantile
        self.point_quantile = point_quantile
        self.point_margin = point_margin
        self.stuck_quantile = stuck_quantile
        self.stuck_margin = stuck_margin
        self.margin = margin
        self.explained_variance = explained_variance
        self.views = tuple(views)
        self.random_state = random_state
        self.stuck_rule = stuck_rule
        self.trim_rounds = trim_rounds
        self.trim_limit = trim_limit
        self.level_floor = level_floor
        self.profile_periods = profile_periods
        self.profile_view = profile_view
        self.holidays = holidays
        self.adapt = adapt
        self.stuck_alpha = stuck_alpha
        self.stuck_floor = stuck_floor
        self.trim_spread = trim_spread
        self.scale_floor = scale_floor
        self.lags_in_level = lags_in_level
        self.adapt_below_periods = adapt_below_periods
        self.recent_baseline = recent_baseline

    # --- public API ----------------------------------------------------------------------
    @property
    def context_rows(self) -> int:
        """How many previous rows of a meter are enough context to score its next batch."""
        # Slow statistics and lags are taken over short medians. A stuck run longer than
        # this is counted from the start of the context only.
        profile = self.profile_periods * max(self.seasonal_lags, default=0)
        return self.short_window + max(self.long_window, *self.seasonal_lags, profile, 1)

    @property
    def calibration(self) -> str:
        return f"training quantile {self.quantile}"

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "centre_")

    def fit(
        self,
        X: FloatArray,
        y: BoolArray | None = None,
        *,
        groups: Groups = None,
        times: Times = None,
    ) -> Self:
        """Learn scaling, PCA and alarm levels from ``X`` (rows in time order per group).

        ``y`` is accepted for the protocol's sake and ignored: the detector is unsupervised.
        """
        del y
        X = self._check(X)
        if len(X) < 2:
            raise ValueError(f"need at least 2 rows to fit, got {len(X)}")
        # Holidays are left out of what normal is learnt from (they are compared with
        # Sundays when scored); their features are still computed, in time order.
        keep = ~self._holiday_rows(times, len(X))
        if keep.sum() < 2:
            keep[:] = True
        # Known before the statistics: whether levels adapt depends on how long training is.
        self.n_training_rows_ = len(X)
        self._fit_statistics(X, groups, keep, times)
        for _ in range(self.trim_rounds):
            # Robust training: what the fitted detector calls anomalous in its own training
            # part (a fault the training slice already holds) is left out, with the rows
            # around it, and the statistics are learnt again from the rest.
            # The cut is robust: a level feature ``trim_spread`` robust units (median/MAD,
            # which a fault in a fifth of the rows barely moves) from its centre, not the
            # fitted alarm levels (a fault covering more than 1 % of the training part
            # sits inside their 99 % quantiles).
            F = self._features(X, None, groups, times).values
            level = (self.kinds_ == "median") | (self.kinds_ == "jump")
            flagged = np.nanmax(self._z(F)[:, level], axis=1, initial=0.0) > self.trim_spread
            # Only sustained episodes (most of ``short_window`` rows in a row flagged, for
            # at least ``long_window`` rows) are faults; a transient or the odd flagged
            # reading is the training quantile at work and stays.
            window = np.ones(self.short_window)
            episode = np.convolve(flagged, window, mode="same") >= self.short_window / 2
            episode = _long_runs(episode, self.long_window)
            if not episode.any() or flagged.mean() > self.trim_limit:
                break
            keep &= ~(np.convolve(episode, np.ones(4 * self.short_window + 1), mode="same") > 0)
            if keep.sum() < max(10, len(X) // 2):
                break
            self._fit_statistics(X, groups, keep, times)
        self.threshold_ = 1.0
        return self

    def _fit_statistics(self, X: FloatArray, groups: Groups, keep: BoolArray, times: Times) -> None:
        """Scaling, PCA and alarm levels learnt from the training rows ``keep`` marks (the
        features themselves are computed over every row, in time order)."""
        self.jump_limits_: tuple[FloatArray, FloatArray] | None = None
        first = self._features(X, None, groups, times)
        jumps = np.asarray(first.kinds) == "jump"
        centre, scale = _robust_centre_scale(first.values[keep][:, jumps])
        Z = np.nan_to_num(np.abs(first.values[keep][:, jumps] - centre) / scale)
        levels = np.array([_quantile(Z[:, j], self.point_quantile) for j in range(Z.shape[1])])
        levels = np.maximum(levels, self.level_floor)
        self.jump_limits_ = (centre, scale * levels * self.point_margin)
        block = self._features(X, None, groups, times)
        F = block.values[keep]
        self.feature_names_ = block.names
        self.kinds_ = np.asarray(block.kinds)
        self.origins_ = np.asarray(block.origins, dtype=np.intp)
        # A feature that did not move in training (a difference that was always 0) is
        # measured against a thousandth of its variable's own spread, not against nothing:
        # scores stay comparable from one series to the next.
        spread = _robust_centre_scale(X[keep])[1][self.origins_]
        floors = np.where(self.kinds_ == "run", 0.0, self.scale_floor * spread)
        centre, scale = _robust_centre_scale(F, floors)
        self.centre_ = centre
        self.scale_ = scale
        Z = self._z(F)
        q = self.quantile
        # Per-feature alarm units for explanations: a feature's z at its training quantile.
        self.feature_levels_ = np.maximum(
            np.array([_quantile(Z[:, j], q) for j in range(Z.shape[1])]), self.level_floor
        )
        self.run_level_ = self._run_levels(X[keep], F[:, self.kinds_ == "run"])
        self.seasonal_strength_ = _seasonal_strength(X[keep], F[:, self.kinds_ == "season"])
        # Jumps: each feature in units of its own training quantile, robust to a few per cent
        # of anomalies in the training part (a lower quantile, a larger margin).
        self.jump_levels_ = np.maximum(
            np.array([_quantile(Z[:, j], self.point_quantile) for j in range(Z.shape[1])]),
            self.level_floor,
        )
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a variable never sent: NaN
            self.varies_ = np.nan_to_num(np.nanmax(X, axis=0) - np.nanmin(X, axis=0)) > 0
            # PCA on standardised slow features.
            slow = np.isin(self.kinds_, ("mean", "std", "median"))
            self.slow_ = slow
            self.slow_mean_ = np.nan_to_num(np.nanmean(F[:, slow], axis=0))
            self.slow_std_ = np.maximum(
                np.nan_to_num(np.nanstd(F[:, slow], axis=0)),
                1e-9 * (1.0 + np.abs(self.slow_mean_)),
            )
        S = self._standardise_slow(F)
        components: float | int = self.explained_variance
        if S.shape[1] < 2 or len(S) < 3:
            components = min(S.shape[1], max(len(S) - 1, 1))
        self.pca_ = PCA(n_components=components, random_state=self.random_state).fit(S)
        t2, q_stat = self._t2_q(S)
        # Floors as for the other views: T² of standardised features is about a chi-square
        # (its quantile is rarely below 1), and a residual Q is measured against at least a
        # thousandth of the features' total variance, not against a perfect fit.
        self.t2_level_ = max(_quantile(t2, q), self.level_floor)
        self.q_level_ = (
            max(_quantile(q_stat, q), 1e-3 * self.level_floor * S.shape[1])
            if np.nanmax(q_stat, initial=0.0) > 1e-9
            else 0.0
        )
        # Alarm levels of each view on the training part.
        self.robust_level_ = 1.0
        self.pca_level_ = 1.0
        views = self._views(F, S)
        self.robust_level_ = max(_quantile(views["robust"], q), self.level_floor)
        self.profile_level_ = max(_quantile(views["profile"], q), self.level_floor)
        self.pca_level_ = max(_quantile(views["pca"], q), self.level_floor)

    def _run_levels(self, X: FloatArray, runs: FloatArray) -> FloatArray:
        """Per variable, the run of equal readings that alarms the stuck view."""
        # Empirical: 1.5 readings plus ``stuck_margin`` times the usual excess run (its
        # training quantile minus 1): a value that never repeats in training alarms on its
        # first repeat, a quantised one only when held far longer than usual.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a variable never sent: NaN
            usual = np.nanquantile(runs, self.stuck_quantile, axis=0)
        usual = np.maximum(np.nan_to_num(usual, nan=1.0), 1.0)
        empirical = 1.5 + self.stuck_margin * (usual - 1.0)
        if self.stuck_rule == "rows":
            return empirical
        # Per run rather than per row: a row-wise quantile counts a run of k readings k
        # times, so a few stuck episodes in the training part set the level; counted once
        # per run they are rare, and the level follows the usual runs.
        levels = np.ones(X.shape[1])
        geometric = np.full(X.shape[1], np.inf)
        for column in range(X.shape[1]):
            lengths = _completed_runs(X[:, column])
            if len(lengths):
                levels[column] = max(float(np.quantile(lengths, self.stuck_quantile)), 1.0)
                # Runs as a geometric law: p, the chance a reading repeats, is the share of
                # readings that do; a run of k has chance p^(k-1) per run.
                p = 1.0 - len(lengths) / float(np.sum(lengths))
                if 0.0 < p < 1.0:
                    geometric[column] = 1.0 + np.log(self.stuck_alpha) / np.log(p)
        empirical = 1.5 + self.stuck_margin * (levels - 1.0)
        if self.stuck_rule == "hybrid":
            # The shorter of the two, but never below ``stuck_floor`` times the usual longest
            # run: a run that improbable under the geometric law and that much longer than
            # training's usual ones is stuck, even when training held a few such episodes.
            shorter = np.minimum(empirical, np.maximum(geometric, self.stuck_floor * levels))
            return np.asarray(shorter, dtype=np.float64)
        return np.asarray(empirical, dtype=np.float64)

    def score(
        self,
        X: FloatArray,
        *,
        context: Context = None,
        groups: Groups = None,
        times: Times = None,
    ) -> FloatArray:
        """Anomaly score per row of ``X`` in units of the alarm threshold (higher = more
        anomalous; above ``threshold_`` = 1 is an alarm). ``context``: see the module doc."""
        return self._score_and_block(X, context, groups, times)[0]

    def predict(
        self,
        X: FloatArray,
        *,
        context: Context = None,
        groups: Groups = None,
        times: Times = None,
    ) -> BoolArray:
        """True where a row is anomalous at the detector's own threshold."""
        flags: BoolArray = (
            self.score(X, context=context, groups=groups, times=times) > self.threshold_
        )
        return flags

    def explain(
        self,
        X: FloatArray,
        top: int = 3,
        *,
        context: Context = None,
        groups: Groups = None,
        times: Times = None,
    ) -> list[tuple[str, ...]]:
        """Per row, up to ``top`` ORIGINAL variables whose features stand out the most.

        A variable is named when one of its features exceeds its training quantile; when none
        does, the single most unusual variable is named. A variable the row lacks (NaN) is
        never named.
        """
        X = self._check(X)
        self._check_is_fitted()
        if len(X) == 0:
            return []
        return self._explain(self._features(X, context, groups, times).values, top, ~np.isnan(X))

    def score_and_explain(
        self,
        X: FloatArray,
        top: int = 3,
        *,
        context: Context = None,
        groups: Groups = None,
        times: Times = None,
    ) -> tuple[FloatArray, list[tuple[str, ...]]]:
        """``score`` of every row and ``explain`` of the rows scored above ``threshold_``
        (in row order), from features computed once."""
        scores, tops, _ = self.score_explain_views(
            X, top, context=context, groups=groups, times=times
        )
        return scores, tops

    def score_explain_views(
        self,
        X: FloatArray,
        top: int = 3,
        *,
        context: Context = None,
        groups: Groups = None,
        times: Times = None,
    ) -> tuple[FloatArray, list[tuple[str, ...]], list[str]]:
        """``score_and_explain`` plus, for each row scored above ``threshold_``, the view
        whose alarm made its score (one of ``VIEWS``): why it was flagged, beside which
        variables."""
        scores, F, fired = self._score_and_block(X, context, groups, times)
        flagged = scores > self.threshold_
        tops = self._explain(F[flagged], top, ~np.isnan(np.asarray(X)[flagged]))
        return scores, tops, [VIEWS[index] for index in fired[flagged].tolist()]

    def expected_range(
        self,
        X: FloatArray,
        *,
        context: Context = None,
        groups: Groups = None,
        times: Times = None,
    ) -> tuple[FloatArray, FloatArray]:
        """Per row and variable, the range the point view accepts: the median of the
        ``short_window`` readings before it plus the training jumps' centre, give or take
        the jump that would alarm (NaN where there is no history yet, or the row lacks the
        variable). Shaped like ``X``; see ``Detector.expected_range``."""
        X = self._check(X)
        self._check_is_fitted()
        if len(X) == 0:
            return np.empty(X.shape), np.empty(X.shape)
        jump = self._features(X, context, groups, times).values[:, self.kinds_ == "jump"]
        if self.jump_limits_ is None:
            empty = np.full(X.shape, np.nan)
            return empty, empty.copy()
        centre, reach = self.jump_limits_
        expected = X - jump + centre
        return expected - reach, expected + reach

    def contributions(
        self,
        X: FloatArray,
        *,
        context: Context = None,
        groups: Groups = None,
        times: Times = None,
    ) -> FloatArray:
        """Per row and ORIGINAL variable: its most unusual feature, in units of that feature's
        training quantile (above 1: beyond what training showed); 0 where the row lacks it."""
        X = self._check(X)
        self._check_is_fitted()
        found = self._contributions(self._features(X, context, groups, times).values)
        found[np.isnan(X)] = 0.0
        return found

    # --- internals -----------------------------------------------------------------------
    def _explain(self, F: FloatArray, top: int, present: BoolArray) -> list[tuple[str, ...]]:
        """Explanations of the rows of ``F``; ``present``: which variables each row carries."""
        if len(F) == 0:
            return []
        ratios = np.where(present, self._contributions(F), -np.inf)
        # All rows at once (a live batch may flag thousands), each as a row alone would be.
        order = np.argsort(-ratios, axis=1, kind="stable")
        leading = order[:, :top]
        beyond = np.take_along_axis(ratios, leading, axis=1) > 1.0
        first = order[:, 0]
        first_carried = present[np.arange(len(present)), first]
        features = self.features
        result: list[tuple[str, ...]] = []
        for indices, above, most, carried in zip(
            leading.tolist(), beyond.tolist(), first.tolist(), first_carried.tolist(), strict=True
        ):
            chosen = [i for i, big in zip(indices, above, strict=True) if big]
            if not chosen and carried:
                chosen = [most]
            result.append(tuple(features[i] for i in chosen))
        return result

    def _contributions(self, F: FloatArray) -> FloatArray:
        ratios = self._z(F) / self.feature_levels_
        stuck = self.kinds_ == "run"
        ratios[:, stuck] = F[:, stuck] / self.run_level_
        ratios[:, stuck] *= self.varies_[self.origins_[stuck]]
        result = np.zeros((len(F), len(self.features)))
        for variable in range(len(self.features)):
            columns = self.origins_ == variable
            result[:, variable] = np.nanmax(ratios[:, columns], axis=1, initial=0.0)
        return result

    def _score_and_block(
        self,
        X: FloatArray,
        context: Context,
        groups: Groups,
        times: Times = None,
    ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]:
        """Scores, features and, per row, which of ``VIEWS`` made the score."""
        X = self._check(X)
        self._check_is_fitted()
        if len(X) == 0:
            return np.empty(0), np.empty((0, len(self.feature_names_))), np.empty(0, np.intp)
        F = self._features(X, context, groups, times).values
        views = self._views(F, self._standardise_slow(F))
        # One column per entry of VIEWS, each in units of its own alarm level; a view that
        # is switched off stays at 0.
        alarms = np.zeros((len(X), len(VIEWS)))
        if "point" in self.views:
            alarms[:, 0] = views["point"] / self.point_margin
        if "stuck" in self.views:
            alarms[:, 1] = views["stuck"]
        if self._profile_alarms():
            alarms[:, 2] = views["profile"] / self.profile_level_ / self.margin
        collective = self._collective(views)
        if collective is not None:
            alarms[:, 3] = collective / self.margin
        loudest = np.max(alarms[:, :3], axis=1)
        level = alarms[:, 3]
        # Rows where a point, stuck or profile view alarms rank above every quiet row; the
        # others are ranked by the collective view alone, so that the noise of single
        # readings does not shuffle the ranking of slow faults.
        score = np.where(loudest > 1.0, np.maximum(loudest, level), level)
        fired = np.where(
            (loudest > 1.0) & (loudest >= level), np.argmax(alarms[:, :3], axis=1), 3
        ).astype(np.intp)
        return score, F, fired

    def _collective(self, views: dict[str, FloatArray]) -> FloatArray | None:
        robust = views["robust"] / self.robust_level_
        pca = views["pca"] / self.pca_level_
        if self._adapts():
            # The PCA family judges absolute levels against training; a meter that adapts
            # to its recent periods is judged by its level family alone.
            return robust if {"collective", "robust"} & set(self.views) else None
        if "collective" in self.views:
            result: FloatArray = np.sqrt(np.maximum(robust, 0.0) * np.maximum(pca, 0.0))
            return result
        if "robust" in self.views:
            return robust
        if "pca" in self.views:
            return pca
        return None

    def _views(self, F: FloatArray, slow: FloatArray) -> dict[str, FloatArray]:
        Z = self._z(F)
        season = self.kinds_ == "season"
        jump = (self.kinds_ == "jump") | (season & (self.profile_view in ("point", "both")))
        # With a profile and ``adapt``, levels are judged against recent periods only.
        absolute = not self._adapts()
        # A profile that does not explain the meter (no daily or weekly shape) is no
        # expectation: an adapting meter without one is judged against its last period's
        # median instead (``recent``), a baseline that follows it slowly.
        recent = self.recent_baseline and not absolute and not self._seasonal()
        level = (
            ((self.kinds_ == "median") & absolute)
            | (np.char.startswith(self.kinds_.astype(str), "lag") & self.lags_in_level)
            | (season & (self.profile_view in ("level", "both", "level_own")) & (not recent))
            | ((self.kinds_ == "recent") & recent)
        )
        stuck = self.kinds_ == "run"
        runs = F[:, stuck] / self.run_level_
        runs = runs * self.varies_[self.origins_[stuck]]
        t2, q_stat = self._t2_q(slow)
        pca = t2 / self.t2_level_ if hasattr(self, "t2_level_") else t2
        if getattr(self, "q_level_", 0.0) > 0:
            pca = pca + q_stat / self.q_level_
        return {
            "point": np.nanmax(Z[:, jump] / self.jump_levels_[jump], axis=1, initial=0.0),
            "profile": np.nanmax(Z[:, season], axis=1, initial=0.0),
            "robust": np.nanmax(Z[:, level], axis=1, initial=0.0),
            "stuck": np.nanmax(runs, axis=1, initial=0.0),
            "pca": pca,
        }

    def _seasonal(self) -> bool:
        """Whether the same-hour profile explains the training part better than its mean."""
        strength = getattr(self, "seasonal_strength_", None)
        return strength is not None and strength > 0.0

    def _profile_alarms(self) -> bool:
        """Whether the same-hour profile has its own alarm: set so, with a profile, and (for
        models with a ``recent_baseline``) only where the profile explains the meter."""
        own = "own" in self.profile_view and bool(self.seasonal_lags and self.profile_periods)
        return own and (self._seasonal() or not self.recent_baseline)

    def _adapts(self) -> bool:
        """Whether levels follow the meter's recent periods: ``adapt``, a profile, and a
        training part the profile explains (``seasonal_strength_`` above 0) or too short to
        say what level is normal (fewer than ``adapt_below_periods`` of the shortest
        seasonal lag: a few days of a server's load do not show its ordinary range)."""
        strength = getattr(self, "seasonal_strength_", None)
        if not self.adapt or strength is None:
            return False
        short = getattr(self, "n_training_rows_", np.inf) < self.adapt_below_periods * min(
            self.seasonal_lags, default=0
        )
        return bool(strength > 0.0 or short)

    def _standardise_slow(self, F: FloatArray) -> FloatArray:
        S: FloatArray = np.nan_to_num((F[:, self.slow_] - self.slow_mean_) / self.slow_std_)
        return S

    def _t2_q(self, S: FloatArray) -> tuple[FloatArray, FloatArray]:
        scores = self.pca_.transform(S)
        variances = np.maximum(self.pca_.explained_variance_, 1e-12)
        t2: FloatArray = np.sum(scores**2 / variances, axis=1)
        residual = S - self.pca_.inverse_transform(scores)
        q_stat: FloatArray = np.sum(residual**2, axis=1)
        return t2, q_stat

    def _z(self, F: FloatArray) -> FloatArray:
        # Missing history (NaN) is neutral: z = 0.
        Z: FloatArray = np.nan_to_num(np.abs(F - self.centre_) / self.scale_)
        return Z

    def _features(
        self,
        X: FloatArray,
        context: Context,
        groups: Groups,
        times: Times = None,
    ) -> FeatureBlock:
        """Features of ``X``'s rows, each group computed on its context followed by its rows."""
        back = self._holiday_back(times, len(X))
        if groups is None:
            if isinstance(context, Mapping):
                raise ValueError("a context mapping needs groups: one key per row of X")
            return self._with_context(X, context, back)
        keys = np.asarray(groups, dtype=object)
        if len(keys) != len(X):
            raise ValueError(f"groups has {len(keys)} keys for {len(X)} rows")
        if context is not None and not isinstance(context, Mapping):
            raise ValueError("with groups, context must map each group key to its previous rows")
        rows_of: dict[Hashable, list[int]] = {}
        for row, key in enumerate(keys.tolist()):
            rows_of.setdefault(key, []).append(row)
        names, kinds, origins = feature_layout(
            self.features, self.seasonal_lags, self.profile_periods, self.recent_baseline
        )
        result = np.empty((len(X), len(names)))
        # Groups of a few rows (live batches: many meters, a reading or so each) are
        # computed together; long ones (training, analysis) one by one.
        few: list[tuple[npt.NDArray[np.intp], FloatArray, FloatArray | None]] = []
        few_keys: list[Hashable] = []
        holiday_back: list[npt.NDArray[np.intp] | None] = []
        context_rows = self.context_rows
        width = len(self.features)
        unchecked: list[FloatArray] = []  # float matrices of the right width: checked at once
        for key, positions in rows_of.items():
            rows = np.asarray(positions, dtype=np.intp)
            previous = context.get(key) if context is not None else None
            if len(rows) <= BATCHED_GROUP_ROWS:
                checked = None
                if previous is not None:
                    if (
                        type(previous) is np.ndarray
                        and previous.dtype == np.float64
                        and previous.ndim == 2
                        and previous.shape[1] == width
                    ):
                        unchecked.append(previous)
                        checked = previous[-context_rows:]
                    else:
                        checked = self._check(previous)[-context_rows:]
                few.append((rows, X[rows], checked))
                few_keys.append(key)
                holiday_back.append(back[rows] if back is not None else None)
            else:
                mine = back[rows] if back is not None else None
                result[rows] = self._with_context(X[rows], previous, mine).values
        if unchecked and np.isinf(np.concatenate(unchecked)).any():
            for previous in unchecked:
                self._check(previous)  # raises, saying what is wrong
        per_chunk = max(
            1,
            BATCHED_CELLS
            // ((self.context_rows + BATCHED_GROUP_ROWS) * len(self.features) * self.short_window),
        )
        for start in range(0, len(few), per_chunk):
            chunk = few[start : start + per_chunk]
            values = batched_sequence_features(
                [(rows, previous) for _, rows, previous in chunk],
                self.features,
                short_window=self.short_window,
                long_window=self.long_window,
                seasonal_lags=self.seasonal_lags,
                jump_limits=getattr(self, "jump_limits_", None),
                profile_periods=self.profile_periods,
                holiday_back=holiday_back[start : start + per_chunk],
                recent=self.recent_baseline,
                keys=few_keys[start : start + per_chunk],
                medians=self._medians(),
            )
            for (rows, _, _), block in zip(chunk, values, strict=True):
                result[rows] = block
        return FeatureBlock(names, kinds, origins, result)

    def _medians(self) -> RecentMedians:
        """The short medians of each meter's last batch, for its next one (made when first
        needed; not part of the model: never stored, nor copied with it)."""
        medians: RecentMedians | None = self.__dict__.get("_recent_medians")
        if medians is None:
            medians = self.__dict__.setdefault("_recent_medians", RecentMedians())
        return medians

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_recent_medians", None)
        return state

    def _with_context(
        self,
        X: FloatArray,
        context: FloatArray | None,
        back: npt.NDArray[np.intp] | None = None,
    ) -> FeatureBlock:
        previous = self._check(context)[-self.context_rows :] if context is not None else None
        rows = X if previous is None else np.vstack([previous, X])
        if back is not None and previous is not None:
            back = np.concatenate([np.zeros(len(previous), dtype=np.intp), back])
        block = sequence_features(
            rows,
            self.features,
            short_window=self.short_window,
            long_window=self.long_window,
            seasonal_lags=self.seasonal_lags,
            jump_limits=getattr(self, "jump_limits_", None),
            profile_periods=self.profile_periods,
            holiday_back=back,
            recent=self.recent_baseline,
        )
        skip = 0 if previous is None else len(previous)
        return FeatureBlock(block.names, block.kinds, block.origins, block.values[skip:])

    def _holiday_rows(self, times: Times, rows: int) -> BoolArray:
        """Which rows fall on a public holiday of ``holidays`` (a country code), by UTC date."""
        if times is None or getattr(self, "holidays", None) is None:
            return np.zeros(rows, dtype=bool)
        stamps = np.asarray(times, dtype=np.float64)
        if len(stamps) != rows:
            raise ValueError(f"times has {len(stamps)} entries for {rows} rows")
        return holiday_mask(stamps, str(self.holidays))

    def _holiday_back(self, times: Times, rows: int) -> npt.NDArray[np.intp] | None:
        """Per row, how many rows back the same hour of the last Sunday is, for holiday rows
        (0 for the others); None without a calendar, or without a day and a week lag."""
        holiday = self._holiday_rows(times, rows)
        week = max(self.seasonal_lags, default=0)
        if not holiday.any() or week % 7 or week // 7 not in self.seasonal_lags:
            return None
        assert times is not None
        weekday = _weekdays(np.asarray(times, dtype=np.float64))
        days_back = (weekday - 6) % 7
        days_back[days_back == 0] = 7  # a holiday on a Sunday: the Sundays before it
        back: npt.NDArray[np.intp] = np.where(holiday, days_back * (week // 7), 0).astype(np.intp)
        return back

    def _check(self, X: FloatArray | None) -> FloatArray:
        return check_matrix(X, self.features)

    def _check_is_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError("this detector is not fitted yet: call fit() first")
