"""Use cases: what the application does, each a method over the ports."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from energy_core.alerts.store import Feedback
from energy_core.detection.context import RecentReadings
from energy_core.detection.feedback import (
    CalibrationRule,
    FeedbackCalibration,
    calibrate,
    false_alarm_spans,
)
from energy_core.detection.isolation_forest import Contamination, IsolationForestDetector
from energy_core.detection.meter_calibration import AlarmBudget, calibrate_meters, combine_factors
from energy_core.detection.protocol import Detector, NamesViews, choose_features
from energy_core.detection.registry import DEFAULT_DETECTOR, make_detector
from energy_core.detection.temporal import PROFILE_PERIODS, seasonal_lags_for
from energy_core.health.analysis import HealthThresholds, MetricSnapshot, analyse
from energy_core.ports import (
    ChangeEvent,
    ChangeFeed,
    Clock,
    MetricRepository,
    ModelInfo,
    ModelStore,
    ReadingFilter,
    ReadingQueries,
    ReadingRepository,
)
from energy_core.telemetry.catalogue import DEFAULT_FEATURES
from energy_core.telemetry.readings import (
    InvalidReadingError,
    Origin,
    Reading,
    feature_matrix,
    labels,
    validate,
)
from energy_core.telemetry.rules import DEFAULT_RULES, StorageRules
from energy_core.telemetry.simulator import Simulator
from energy_core.telemetry.validation import Rejection, parse_readings
from energy_core.usecases.alerting import Alerting

ExpectedRange = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]
"""One variable's expected ``(low, high)`` per reading (``Monitor.expected_ranges``)."""
DetectorFactory = Callable[[Sequence[str]], Detector]
"""Builds an unfitted detector over the given features (the variables training chose)."""
log = logging.getLogger(__name__)
FEEDBACK_LIMIT = 10_000
"""The most recent feedback items that calibration reads."""


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class NoModelError(RuntimeError):
    """An analysis was asked for before any model was trained."""


class RejectedBatchError(ValueError):
    """A batch held invalid readings; nothing of it was stored."""

    def __init__(self, rejections: Sequence[Rejection]) -> None:
        self.rejections = list(rejections)
        shown = "; ".join(str(rejection) for rejection in self.rejections[:5])
        more = len(self.rejections) - 5
        suffix = f" (and {more} more)" if more > 0 else ""
        super().__init__(f"{len(self.rejections)} invalid reading(s): {shown}{suffix}")


def check_batch(
    readings: Sequence[Reading],
    *,
    rules: StorageRules = DEFAULT_RULES,
    now: datetime | None = None,
) -> list[Rejection]:
    """Every reading of the batch that the catalogue or the storage rules refuse, with its
    reason (instants ahead of ``now`` only when ``now`` is given)."""
    rejections = []
    for index, reading in enumerate(readings):
        try:
            validate(reading, rules=rules, now=now)
        except InvalidReadingError as error:
            rejections.append(Rejection(index, error.field, error.value, error.reason))
    return rejections


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    """Behaviour of the use cases; every number has a unit in its name or docstring."""

    max_readings: int | None = 20_000
    """Retention: at most this many stored readings, oldest dropped first (``max-registros``)."""
    max_age: timedelta | None = None
    """Retention by age: readings older than this are dropped."""
    thresholds: HealthThresholds = field(default_factory=HealthThresholds)
    detector: str = DEFAULT_DETECTOR
    """Which detector ``train`` fits (``energy_core.detection.registry.DETECTORS``)."""
    contamination: Contamination | None = None
    """IsolationForest only. ``None``: the labels' rate when training data is labelled."""
    train_limit: int = 50_000
    """Train on at most this many of the most recent readings."""
    analysis_limit: int = 50_000
    """Analyse at most this many of the most recent readings."""
    history_cadence: timedelta = timedelta(minutes=1)
    reset_count: int = 10_000
    rules: StorageRules = DEFAULT_RULES
    """What can be stored (text, instants): applied to every reading before it is."""
    feedback: CalibrationRule = field(default_factory=CalibrationRule)
    """How users' false alarms move a meter's threshold."""
    alarm_budget: AlarmBudget | None = field(default_factory=AlarmBudget)
    """Each meter's false alarms per day in normal operation, which ``train`` sets its
    threshold factor by (``None``: every meter keeps the model's threshold)."""
    train_jobs: int | None = None
    """Processes that score the meters' training readings when there are many meters
    (``None``: one per CPU)."""
    holidays: str | None = None
    """A country code (``ES``, ``US-CA``…): the default detector compares that country's
    public holidays with Sundays and leaves them out of training (``None``: no calendar)."""
    seasonal_context_rows: int = 1_000
    """Same-hour-yesterday/last-week views only when their history per meter fits in this
    many readings (hourly meters: a week is 168; per-second meters have none)."""


@dataclass(frozen=True, slots=True)
class IngestReport:
    stored: list[Reading]
    scored: bool
    dropped_by_retention: int
    model_version: int | None = None
    """The version of the model that scored the batch (``None``: not scored)."""
    rejections: list[Rejection] = field(default_factory=list)
    """What ``receive`` refused, by index (or line): never stored."""

    @property
    def flagged(self) -> int:
        return sum(1 for reading in self.stored if reading.is_flagged)


class Monitor:
    """The application's use cases over the ports. Safe to call from several threads."""

    def __init__(
        self,
        *,
        readings: ReadingRepository,
        queries: ReadingQueries,
        metrics: MetricRepository,
        models: ModelStore,
        feed: ChangeFeed,
        clock: Clock | None = None,
        simulator: Simulator | None = None,
        settings: MonitorSettings | None = None,
        detector_factory: DetectorFactory | None = None,
        alerting: Alerting | None = None,
    ) -> None:
        self.readings = readings
        self.queries = queries
        self.metrics = metrics
        self.models = models
        self.feed = feed
        self.clock = clock or SystemClock()
        self.simulator = simulator or Simulator(seed=None)
        self.settings = settings or MonitorSettings()
        self._detector_factory = detector_factory or self._default_detector
        self._model_lock = threading.Lock()
        self._model: tuple[Detector, ModelInfo] | None = None
        self._failing_model_version: int | None = None
        self.alerting = alerting
        """Alert rules over what is stored and analysed (``None``: no alerts)."""
        self._alerting_failed = False
        self.calibration = FeedbackCalibration()
        """What users' feedback changes: per-meter thresholds, faults kept out of training."""
        self._calibrated: tuple[int | None, float] | None = None
        self._factors: tuple[ModelInfo, FeedbackCalibration, dict[str, float]] | None = None
        self.recent = RecentReadings(queries)
        """Each meter's newest stored readings: the context of contextual detectors."""

    def _default_detector(
        self, features: Sequence[str], seasonal_lags: Sequence[int] = ()
    ) -> Detector:
        if self.settings.detector == "isolation_forest":
            # The forest is the one detector the contamination setting applies to.
            return IsolationForestDetector(
                features=features, contamination=self.settings.contamination, random_state=0
            )
        return make_detector(
            self.settings.detector,
            features,
            seasonal_lags=seasonal_lags,
            holidays=self.settings.holidays,
        )

    def _seasonal_lags(self, training: Sequence[Reading]) -> tuple[int, ...]:
        """Day and week lags (rows) for the meters' cadence, when the shortest meter's
        training holds two of them and the history they need fits ``seasonal_context_rows``."""
        times: dict[str, list[float]] = {}
        for reading in training:
            times.setdefault(reading.meter_id, []).append(reading.timestamp.timestamp())
        steps = [float(np.median(np.diff(sorted(t)))) for t in times.values() if len(t) > 2]
        if not steps or min(steps) <= 0:
            return ()
        rows = min(len(t) for t in times.values())
        lags = seasonal_lags_for(timedelta(seconds=float(np.median(steps))), rows)
        limit = self.settings.seasonal_context_rows
        return tuple(lag for lag in lags if PROFILE_PERIODS * lag <= limit)

    # --- what pages and the read API ask, beside ``queries`` ---------------------------
    def analyses(self, n: int = 1) -> list[MetricSnapshot]:
        """The ``n`` most recent analyses (rows of ``metricas``), newest first."""
        return self.metrics.latest(n)

    def model_version(self) -> int | None:
        """The newest stored model's version (``None``: none trained yet)."""
        return self.models.latest_version()

    def model_info(self, version: int | None = None) -> ModelInfo | None:
        """What is known of a stored model (the newest by default), without loading it."""
        return self.models.info(version)

    def subscribe(self, listener: Callable[[ChangeEvent], None]) -> Callable[[], None]:
        """Hear of every change announced (this process's and, on PostgreSQL, the others');
        returns the call that stops listening."""
        return self.feed.subscribe(listener)

    # --- the current model, cached until another version appears -----------------------
    def current_model(self) -> tuple[Detector, ModelInfo] | None:
        """The latest stored model, loaded once per version (another process may train)."""
        version = self.models.latest_version()
        with self._model_lock:
            if version is None:
                self._model = None
            elif self._model is None or self._model[1].version != version:
                self._model = self.models.load(version)
            return self._model

    # --- ingest ---------------------------------------------------------------------------
    def score(self, readings: Sequence[Reading]) -> list[Reading]:
        """The readings carrying the current model's verdict (unchanged without a model)."""
        return self._score(self.current_model(), readings)

    def _score(
        self, model: tuple[Detector, ModelInfo] | None, readings: Sequence[Reading]
    ) -> list[Reading]:
        if model is None or not readings:
            return list(readings)
        detector, info = model
        self._keep_calibrated(info.version)
        return score_with(
            detector,
            readings,
            context=self._context(detector, readings),
            threshold_factors=self.threshold_factors(info),
        )

    def threshold_factors(self, info: ModelInfo) -> dict[str, float]:
        """Per meter, the factor on ``info``'s threshold in force: the larger of the one
        training set by the meter's false-alarm budget and the one users' feedback set."""
        cached = self._factors
        if cached is not None and cached[0] is info and cached[1] is self.calibration:
            return cached[2]
        factors = combine_factors(info.meter_factors, self.calibration.threshold_factors)
        self._factors = (info, self.calibration, factors)
        return factors

    def _context(
        self, detector: Detector, readings: Sequence[Reading]
    ) -> dict[str, npt.NDArray[np.float64]] | None:
        """The stored readings just before the batch, per meter, as the detector's features
        (``None`` for a detector that scores each reading alone)."""
        if detector.context_rows <= 0:
            return None
        return self.recent.context(readings, detector.context_rows, tuple(detector.features))

    # --- the expected band ------------------------------------------------------------------
    def expected_ranges(self, readings: Sequence[Reading]) -> dict[str, ExpectedRange]:
        """Per variable the current model learnt, each reading's expected range: the
        ``(low, high)`` the detector compares a value against (``Detector.expected_range``),
        computed with the current model and each meter's context (its ``context_rows``
        stored readings before its first one here, read from ``queries``).

        ``readings``: stored readings in time order, typically one meter's window as a chart
        or the API shows it (several meters each get their own context). NaN where there is
        no expectation: a reading the model never scored (stored before any model, or with
        none of its variables), a variable the reading lacks, too little history. Empty
        without a model, or when the model cannot give a range (one stored before detectors
        could): a band is never worth a failed page. It is the *current* model's band: after
        a retrain, older readings were scored against another one.
        """
        model = self.current_model()
        if model is None or not readings:
            return {}
        detector, info = model
        features = tuple(detector.features)
        X = feature_matrix(readings, features)
        context = self._context_before(detector, readings)
        try:
            low, high = detector.expected_range(
                X,
                context=_hashable_keys(context),
                groups=meter_groups(readings),
                times=reading_times(readings),
            )
        except Exception as error:  # an old stored model, a detector's defect
            log.warning("model version %s gives no expected range: %s", info.version, error)
            return {}
        unscored = np.array([reading.score is None for reading in readings], dtype=bool)
        low, high = np.array(low, dtype=np.float64), np.array(high, dtype=np.float64)
        low[unscored] = high[unscored] = np.nan
        return {name: (low[:, column], high[:, column]) for column, name in enumerate(features)}

    def _context_before(
        self, detector: Detector, readings: Sequence[Reading]
    ) -> dict[str, npt.NDArray[np.float64]] | None:
        """Per meter of ``readings``: its ``context_rows`` stored readings before its first
        one, oldest first, as the detector's features (one query per meter; ``None`` for a
        detector that looks at each reading alone)."""
        rows = detector.context_rows
        if rows <= 0:
            return None
        first: dict[str, datetime] = {}
        for reading in readings:
            first.setdefault(reading.meter_id, reading.timestamp)
        features = tuple(detector.features)
        context: dict[str, npt.NDArray[np.float64]] = {}
        for meter, moment in first.items():
            before = self.queries.latest(rows, ReadingFilter(end=moment, meter_ids=(meter,)))
            context[meter] = (
                feature_matrix(list(reversed(before)), features)
                if before
                else np.empty((0, len(features)))
            )
        return context

    def ingest(self, readings: Sequence[Reading], *, key: str | None = None) -> IngestReport:
        """Validate, score with the current model, store, apply retention and announce.

        The batch is all or nothing: one invalid reading rejects it, nothing is stored.
        ``key`` (see ``ReadingRepository.add_many``): a batch retried under the key it was
        first offered with is stored once. Once the batch is stored, storage becoming
        unreachable (``ConnectionError``) before retention or the announcement does not
        fail the call: the batch *is* stored, and retention runs again after the next one.
        """
        rejections = check_batch(readings, rules=self.settings.rules, now=self.clock.now())
        if rejections:
            raise RejectedBatchError(rejections)
        return self._store(readings, key)

    def receive(
        self,
        items: Iterable[tuple[int, object]],
        *,
        key: str | None = None,
        from_text: bool = False,
        refused: Sequence[Rejection] = (),
        origin: Origin | None = None,
    ) -> IngestReport:
        """The one way in for a channel: raw items (``(index or line, mapping)``, as decoded
        from the channel's payload) validated once against the catalogue and the storage
        rules, the valid ones scored, stored, kept by retention and announced; the report
        carries what was stored and every rejection (with ``refused``: what the channel's
        own policy refused before, e.g. a meter a token may not write). ``origin``: the
        channel and payload format, kept per meter (the fleet view shows it).

        Raises what ``ingest`` raises about storage (unavailable, ``BatchRefusedError``,
        ``IdempotencyConflictError``); never ``RejectedBatchError``: a refused reading is a
        rejection, and the valid ones of the same items are stored.
        """
        accepted, rejections = self.parse(items, from_text=from_text, origin=origin)
        rejections = sorted([*refused, *rejections], key=lambda rejection: rejection.index)
        report = self._store(accepted, key)
        return replace(report, rejections=rejections)

    def store_parsed(self, readings: Sequence[Reading], *, key: str | None = None) -> IngestReport:
        """Readings ``parse`` returned, stored as ``ingest`` stores them without checking
        them again: for a channel that validates as messages arrive and stores later in
        batches (MQTT, a CSV file). Readings built any other way go through ``ingest``."""
        return self._store(readings, key)

    def _store(self, readings: Sequence[Reading], key: str | None) -> IngestReport:
        """Valid readings scored, stored, kept by retention and announced."""
        if not readings:
            return IngestReport(stored=[], scored=False, dropped_by_retention=0)
        model, scored = self._score_or_keep(readings)
        stored = self.readings.add_many(scored, key=key)
        self.recent.stored(stored)
        dropped = 0
        try:
            dropped = self.apply_retention()
            self.feed.publish(
                ChangeEvent(
                    "readings", count=len(stored), last_id=stored[-1].id if stored else None
                )
            )
        except ConnectionError as error:
            log.warning("batch stored; retention or announcement postponed: %s", error)
        self._alert(lambda alerting: alerting.observe(stored))
        # A reading with none of the model's variables stays unscored beside scored ones.
        was_scored = any(reading.is_scored for reading in scored)
        return IngestReport(
            stored=stored,
            scored=was_scored,
            dropped_by_retention=dropped,
            model_version=model[1].version if model is not None and was_scored else None,
        )

    def _score_or_keep(
        self, readings: Sequence[Reading]
    ) -> tuple[tuple[Detector, ModelInfo] | None, list[Reading]]:
        """The batch scored by the current model; when the model cannot be loaded (e.g. a
        stored model the codec refuses) or scoring fails, the batch unscored, and the error
        logged once per model version: readings are never lost because of the model. A
        storage outage still propagates."""
        try:
            model = self.current_model()
            return model, self._score(model, readings)
        except ConnectionError:
            raise
        except Exception as error:
            version = self._safe_latest_version()
            if version != self._failing_model_version:
                self._failing_model_version = version
                log.exception("scoring with model version %s failed; storing unscored", version)
            else:
                log.debug("scoring still failing: %s", error)
            return None, list(readings)

    def _safe_latest_version(self) -> int | None:
        try:
            return self.models.latest_version()
        except Exception:
            return None

    def parse(
        self,
        items: Iterable[tuple[int, object]],
        *,
        from_text: bool = False,
        origin: Origin | None = None,
    ) -> tuple[list[Reading], list[Rejection]]:
        """Raw items from a channel (``(index or line, mapping)``) split into readings and
        rejections, by this monitor's clock and storage rules; the readings carry
        ``origin``."""
        return parse_readings(
            items,
            now=self.clock.now(),
            rules=self.settings.rules,
            from_text=from_text,
            origin=origin,
        )

    def readable(self, where: ReadingFilter | None = None) -> ReadingFilter:
        """``where`` bounded, where it is open, by the instants the storage rules accept, so
        that readings stored before those rules (year 1, year 9999) cannot break a page or a
        query: they are left out of what is read, not fed to date arithmetic that overflows.
        Counts need no bounds (no arithmetic) and keep their fast path without them."""
        where = where or ReadingFilter()
        rules = self.settings.rules
        newest = self.clock.now() + rules.future_tolerance + timedelta(microseconds=1)
        return replace(
            where,
            start=rules.earliest if where.start is None else where.start,
            end=newest if where.end is None else where.end,
        )

    def stream_tick(
        self, batch_size: int = 5, interval: timedelta = timedelta(seconds=1)
    ) -> IngestReport:
        """One step of the live generator: the simulator's next batch, ingested."""
        batch = self.simulator.next_batch(batch_size, at=self.clock.now(), interval=interval)
        return self.ingest(batch)

    def generate_history(
        self,
        count: int,
        *,
        chunk: int = 10_000,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Simulate ``count`` readings ending now, stored chunk by chunk (each chunk is one
        transaction, so an interruption never leaves half a chunk); returns how many."""
        meters = len(self.simulator.profiles)
        cadence = self.settings.history_cadence
        end = self.clock.now()
        total_steps = -(-count // meters)
        steps_per_chunk = max(1, chunk // meters)
        surplus = total_steps * meters - count  # the oldest readings that exceed ``count``
        stored = 0
        for first in range(0, total_steps, steps_per_chunk):
            steps = min(steps_per_chunk, total_steps - first)
            chunk_end = end - cadence * (total_steps - first - steps)
            readings = self.simulator.history(steps * meters, end=chunk_end, cadence=cadence)
            if first == 0:
                readings = readings[surplus:]
            stored += len(self.ingest(readings).stored)
            if progress:
                progress(stored)
        return stored

    # --- feedback ---------------------------------------------------------------------------
    def give_feedback(self, feedback: Feedback) -> Feedback:
        """Store a user's verdict (needs alerting) and apply it at once: a meter's repeated
        false alarms raise its threshold, a confirmed fault stays out of the next training."""
        if self.alerting is None:
            raise RuntimeError("feedback needs alerting (ENERGY_ALERTS)")
        stored = self.alerting.give_feedback(feedback)
        self.recalibrate()
        return stored

    def feedback(self, *, meter_id: str | None = None, limit: int = 1000) -> list[Feedback]:
        """What users said of incidents and flagged readings (of one meter, or of all),
        newest first; empty without alerting (nobody could say anything)."""
        if self.alerting is None:
            return []
        return self.alerting.feedback_store.feedback(meter_id=meter_id, limit=limit)

    def recalibrate(self) -> FeedbackCalibration:
        """Read the feedback again and compute what it changes (``calibration``)."""
        if self.alerting is None:
            return self.calibration
        feedback = self.alerting.feedback_store.feedback(limit=FEEDBACK_LIMIT)
        marked = {
            meter: [
                reading
                for start, end in spans
                for reading in self.queries.window(
                    ReadingFilter(
                        meter_ids=(meter,), start=start, end=end + timedelta(microseconds=1)
                    ),
                    limit=10_000,
                )
            ]
            for meter, spans in false_alarm_spans(feedback).items()
        }
        model = self._model
        threshold = model[0].threshold_ if model is not None else 1.0
        self.calibration = calibrate(feedback, marked, threshold, self.settings.feedback)
        self._calibrated = (model[1].version if model else None, time.monotonic())
        return self.calibration

    def _keep_calibrated(self, version: int | None) -> None:
        """Calibrate again for a new model, and now and then for feedback given elsewhere."""
        if self.alerting is None:
            return
        done = self._calibrated
        if done is not None and done[0] == version and time.monotonic() - done[1] < 60:
            return
        try:
            self.recalibrate()
        except ConnectionError:
            raise
        except Exception:
            log.exception("reading the feedback failed; scoring without it")
            self._calibrated = (version, time.monotonic())

    def _alert(self, step: Callable[[Alerting], object]) -> None:
        """Run one alerting step; a failure there (alert storage away, a defect) is logged
        once per streak and never fails the ingest, analysis or reset that called it."""
        if self.alerting is None:
            return
        try:
            step(self.alerting)
        except Exception:
            if not self._alerting_failed:
                log.exception("alerting failed; ingest goes on without it until it recovers")
            self._alerting_failed = True
        else:
            self._alerting_failed = False

    # --- retention ------------------------------------------------------------------------
    def apply_retention(self) -> int:
        """Drop readings beyond the maximum count (oldest first) and older than the max age."""
        dropped = 0
        if self.settings.max_age is not None:
            dropped += self.readings.delete_before(self.clock.now() - self.settings.max_age)
        if self.settings.max_readings is not None:
            dropped += self.readings.delete_oldest(self.settings.max_readings)
        return dropped

    # --- train and analyse ----------------------------------------------------------------
    def train(self) -> ModelInfo:
        """Fit a new detector on the most recent stored readings and store it as a new version.

        The detector learns the variables enough of those readings carry (``choose_features``:
        every variable but the energy counters); a meter that lacks one is scored without it.
        """
        training = self.queries.window(ReadingFilter(), limit=self.settings.train_limit)
        self.recalibrate()
        training = self.calibration.training(training)  # confirmed faults are not normal
        if len(training) < 10:
            raise ValueError(
                f"need at least 10 stored readings to train, found {len(training)};"
                " generate or ingest some first"
            )
        features = choose_features(training)
        if self._detector_factory == self._default_detector:
            detector = self._default_detector(features, self._seasonal_lags(training))
        else:
            detector = self._detector_factory(features)
        X = feature_matrix(training, detector.features)
        groups = meter_groups(training)
        detector.fit(X, labels(training), groups=groups, times=reading_times(training))
        budget = self.settings.alarm_budget
        meter_factors: dict[str, float] = {}
        if budget is not None:
            timestamps = [reading.timestamp for reading in training]
            jobs = self.settings.train_jobs or os.cpu_count() or 1
            meter_factors = calibrate_meters(detector, X, groups, timestamps, budget, jobs=jobs)
        info = ModelInfo(
            trained_at=self.clock.now(),
            rows=len(training),
            features=tuple(detector.features),
            contamination=detector.calibration,
            threshold=float(detector.threshold_),
            detector=type(detector).__name__,
            meter_factors=meter_factors,
        )
        saved = self.models.save(detector, info)
        with self._model_lock:
            self._model = (detector, saved)
        self.feed.publish(ChangeEvent("model", count=1, last_id=saved.version))
        return saved

    def analyse(self, where: ReadingFilter | None = None) -> MetricSnapshot:
        """Score the most recent readings with the current model, store their verdicts and
        record one metric snapshot (a row of ``metricas``)."""
        model = self.current_model()
        if model is None:
            raise NoModelError("no trained model yet: train one first (Train model / `train`)")
        detector, info = model
        window = self.queries.window(where or ReadingFilter(), limit=self.settings.analysis_limit)
        factors = self.threshold_factors(info)
        scored = score_with(detector, window, threshold_factors=factors) if window else []
        if scored:
            self.readings.update_scores(scored)
        flagged = np.array([bool(reading.is_flagged) for reading in scored], dtype=bool)
        previous = self.metrics.latest(1)
        snapshot = analyse(
            flagged,
            computed_at=self.clock.now(),
            truth=labels(scored),
            window=(scored[0].timestamp, scored[-1].timestamp) if scored else None,
            thresholds=self.settings.thresholds,
            model_version=info.version,
            previous=previous[0] if previous else None,
        )
        stored = self.metrics.add(snapshot)
        self.feed.publish(ChangeEvent("metrics", count=1, last_id=stored.id))
        self._alert(
            lambda alerting: alerting.observe_analysis(stored.percentage, stored.computed_at)
        )
        return stored

    # --- maintenance ----------------------------------------------------------------------
    def reset(
        self, repopulate: int | None = None, *, progress: Callable[[int], None] | None = None
    ) -> int:
        """Empty readings and metrics (every process hears of it: the scoring context is
        forgotten, pages re-read), then store ``repopulate`` simulated readings."""
        self.readings.clear()
        self.recent.forget()
        self.metrics.clear()
        self._alert(lambda alerting: alerting.forget())
        self.feed.publish(ChangeEvent("reset"))
        count = self.settings.reset_count if repopulate is None else repopulate
        return self.generate_history(count, progress=progress) if count else 0


def _hashable_keys(
    context: Mapping[str, npt.NDArray[np.float64]] | None,
) -> dict[Hashable, npt.NDArray[np.float64]]:
    keyed: dict[Hashable, npt.NDArray[np.float64]] = {}
    keyed.update(context or {})
    return keyed


def meter_groups(readings: Sequence[Reading]) -> npt.NDArray[np.str_]:
    """Each reading's meter, the group key of contextual detectors."""
    return np.array([reading.meter_id for reading in readings])


def reading_times(readings: Sequence[Reading]) -> npt.NDArray[np.float64]:
    """Each reading's time in seconds since the epoch, for detectors that know the calendar."""
    return np.array([reading.timestamp.timestamp() for reading in readings], dtype=np.float64)


def score_with(
    detector: Detector,
    readings: Sequence[Reading],
    *,
    context: Mapping[str, npt.NDArray[np.float64]] | None = None,
    threshold_factors: Mapping[str, float] | None = None,
) -> list[Reading]:
    """``readings`` carrying ``detector``'s score, flag and, when flagged, top variables.

    ``threshold_factors``: per meter, a factor on the detector's threshold (users' feedback,
    ``energy_core.detection.feedback``); a reading is flagged above its meter's threshold.

    A contextual detector sees each meter's readings in order (the batch is in time order),
    after ``context``: that meter's previous readings as feature rows. A variable a reading
    lacks is NaN for the detector (scored without it, never named); a reading with none of
    the detector's features is returned unscored.
    """
    if not readings:
        return []
    X = feature_matrix(readings, tuple(detector.features) or DEFAULT_FEATURES)
    scorable: npt.NDArray[np.bool_] = ~np.all(np.isnan(X), axis=1)
    keyed, groups, times = _hashable_keys(context), meter_groups(readings), reading_times(readings)
    views: list[str] | None = None
    if isinstance(detector, NamesViews):
        scores, tops, views = detector.score_explain_views(
            X, context=keyed, groups=groups, times=times
        )
    else:
        scores, tops = detector.score_and_explain(X, context=keyed, groups=groups, times=times)
    # Explanations (and views) come for the rows scored above the threshold, in row order.
    above = np.flatnonzero(scores > detector.threshold_)
    explanations = {int(row): top for row, top in zip(above, tops, strict=True)}
    fired = dict(zip(above.tolist(), views, strict=True)) if views is not None else {}
    thresholds: npt.NDArray[np.float64] | float = detector.threshold_
    if threshold_factors:
        thresholds = detector.threshold_ * np.array(
            [threshold_factors.get(reading.meter_id, 1.0) for reading in readings]
        )
    flags = (scores > thresholds) & scorable
    return [
        reading.scored(
            float(scores[row]),
            bool(flags[row]),
            explanations.get(row, ()),
            fired.get(row) if flags[row] else None,
        )
        if scorable[row]
        else reading
        for row, reading in enumerate(readings)
    ]
