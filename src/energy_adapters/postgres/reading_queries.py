"""``ReadingQueries`` on PostgreSQL: counts from the counters and per-minute rollups, pages,
samples and downsampling (rollups where the bucket width allows). Reads only."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    CTE,
    BigInteger,
    ColumnElement,
    DateTime,
    Engine,
    Integer,
    Select,
    Subquery,
    Text,
    and_,
    any_,
    case,
    cast,
    func,
    literal,
    select,
    text,
    true,
    union_all,
)

from energy_adapters.postgres.filters import (
    MinuteSplit,
    meter_and_state_conditions,
    normalised,
    reading_conditions,
    split_by_minute,
    time_conditions,
)
from energy_adapters.postgres.reading_rows import NEWEST_FIRST, ORDER, SELECTED, to_reading
from energy_adapters.postgres.schema import (
    EPOCH,
    ROLLUP_WIDTH,
    meter_counters,
    minute_rollups,
    rollup_columns,
    rollup_count_column,
)
from energy_adapters.postgres.schema import readings as table
from energy_adapters.postgres.urls import Database
from energy_core.ports import Bucket, ReadingFilter
from energy_core.telemetry.buckets import bucket_width
from energy_core.telemetry.catalogue import variable
from energy_core.telemetry.readings import Reading

# Buckets from rollups read a few thousand rows: starting parallel workers costs more than
# the work (bench/query.py, 1 M readings: the ragged 24 h window took 55-70 ms in a parallel
# plan, 10-20 ms serial). Local to the read's transaction, which ends with the read.
_SERIAL_PLAN = text("SET LOCAL max_parallel_workers_per_gather = 0")
_NO_JIT = text("SET LOCAL jit = off")
# What reading a minute's picked rows costs, in rows skipped along the (timestamp, id) index
# (measured on bench/variables_view.py's data: ~0.07 µs a row skipped, ~5 µs a probe, ~0.55 µs
# a row numbered): a probe per pick, or one run numbered from the first pick to the last
# (see ``_fetch_picks``).
_COSTS_A_PROBE = 75
_COSTS_A_NUMBERED_ROW = 8
RANKED_MINUTES_PER_PICK = 8
"""``sample`` ranks every row of a window shorter than ``limit / 8`` minutes instead of
reading the rollups (same bench: for 1,000 picks, ranking wins up to about 1-2 hours of 10
meters at 1 Hz, the rollups from there on: 6 hours 95 ms ranked, 33 ms by minute)."""


def _or_nan(value: float | None) -> float:
    """A bucket's statistic: NaN when no reading of the bucket carries the variable."""
    return math.nan if value is None else float(value)


class PostgresReadingQueries:
    """Reads of ``registros`` and its rollups. Thread-safe: every call uses its own pooled
    connection."""

    def __init__(self, database: Database | Engine):
        self._db = database if isinstance(database, Database) else Database(database)

    # --- counts ---------------------------------------------------------------------------
    def count(self, where: ReadingFilter | None = None) -> int:
        """How many readings match, from the counters and rollups (raw rows only for the
        partial minutes at the edges of a time filter)."""
        where = normalised(where)
        with self._db.connection() as connection:
            if where.start is None and where.end is None:
                return int(connection.execute(self._count_from_counters(where)).scalar_one())
            split = split_by_minute(where.start, where.end)
            parts = [
                self._count_raw(where, start, end).scalar_subquery() for start, end in split.edges
            ]
            if split.whole is not None:
                parts.append(self._count_from_rollups(where, *split.whole).scalar_subquery())
            total: ColumnElement[Any] = parts[0]
            for part in parts[1:]:
                total = total + part
            return int(connection.execute(select(total)).scalar_one())

    @staticmethod
    def _counted(state: str | None, readings: Any, flagged: Any) -> Any:
        if state == "anomalous":
            return flagged
        if state == "normal":
            return readings - flagged
        return readings

    def _count_from_counters(self, where: ReadingFilter) -> Select[Any]:
        counted = self._counted(where.state, meter_counters.c.readings, meter_counters.c.flagged)
        query = select(func.coalesce(func.sum(counted), 0))
        if where.meter_ids:
            query = query.where(meter_counters.c.meter_id.in_(where.meter_ids))
        return query

    def _count_from_rollups(
        self, where: ReadingFilter, start: datetime | None, end: datetime | None
    ) -> Select[Any]:
        counted = self._counted(where.state, minute_rollups.c.readings, minute_rollups.c.flagged)
        query = select(func.coalesce(func.sum(counted), 0)).where(
            *self._rollup_conditions(where, start, end)
        )
        return query

    @staticmethod
    def _rollup_conditions(
        where: ReadingFilter, start: datetime | None, end: datetime | None
    ) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if start is not None:
            conditions.append(minute_rollups.c.minute >= start)
        if end is not None:
            conditions.append(minute_rollups.c.minute < end)
        if where.meter_ids:
            conditions.append(minute_rollups.c.meter_id.in_(where.meter_ids))
        return conditions

    @staticmethod
    def _count_raw(
        where: ReadingFilter, start: datetime | None, end: datetime | None
    ) -> Select[Any]:
        condition = reading_conditions(where, start, end, override_time=True)
        return select(func.count()).select_from(table).where(condition)

    # --- reading rows back ----------------------------------------------------------------
    def _rows(self, query: Select[Any]) -> list[Reading]:
        with self._db.connection() as connection:
            return [to_reading(row) for row in connection.execute(query)]

    def latest(self, n: int, where: ReadingFilter | None = None) -> list[Reading]:
        if n <= 0:
            return []
        condition = reading_conditions(normalised(where))
        return self._rows(select(*SELECTED).where(condition).order_by(*NEWEST_FIRST).limit(n))

    def window(self, where: ReadingFilter, limit: int | None = None) -> list[Reading]:
        condition = reading_conditions(normalised(where))
        if limit is None:
            return self._rows(select(*SELECTED).where(condition).order_by(*ORDER))
        if limit <= 0:
            return []
        query = select(*SELECTED).where(condition).order_by(*NEWEST_FIRST).limit(limit)
        newest = self._rows(query)
        newest.reverse()
        return newest

    def sample(self, where: ReadingFilter, limit: int) -> list[Reading]:
        """At most ``limit`` matching readings at evenly spaced ranks (first and last
        included; ``energy_core.telemetry.sampling``), chosen in SQL: only the picked rows
        leave the server.

        Ranks come from the per-minute rollups when the window spans more than
        ``limit / RANKED_MINUTES_PER_PICK`` minutes (or is open): the matching readings of
        each minute are counted there (raw rows only at a filter's partial edge minutes), so
        the rank of a minute's first reading is the sum of the counts before it; each wanted
        rank falls in one minute at one offset, and only the minutes holding picks are read,
        along the (timestamp, id) index: a probe per pick from the nearer end of its minute,
        or one numbered run over a minute dense with picks. The cost follows the picks and
        the minutes, not the readings the window holds. A shorter window ranks every
        matching row (window functions), which costs less there.
        """
        if limit <= 0:
            return []
        where = normalised(where)
        condition = reading_conditions(where)
        if limit == 1:
            first = select(*SELECTED).where(condition).order_by(*ORDER).limit(1)
            return self._rows(first)
        short = (
            where.start is not None
            and where.end is not None
            and where.end - where.start < limit * ROLLUP_WIDTH / RANKED_MINUTES_PER_PICK
        )
        split: MinuteSplit | None
        try:
            split = split_by_minute(where.start, where.end)
        except OverflowError:  # a bound in the last minute Python can hold (year 9999)
            split = None
        chosen = (
            self._picks_by_ranking(condition, limit)
            if short or split is None or split.whole is None
            else self._picks_by_minute(where, condition, split, limit)
        )
        # The picked rows are read back by their whole key, (id, timestamp), under the same
        # conditions, one index probe each (as a join, the planner may guess many more
        # picks than there are and hash the whole window instead): only the partitions of
        # the filter's days are visited, and within them one per row.
        row = (
            select(*SELECTED)
            .where(table.c.id == chosen.c.id, table.c.timestamp == chosen.c.timestamp, condition)
            .limit(1)  # one row a key; and a subquery with a limit is never flattened
            .lateral("picked")
        )
        query = (
            select(*row.c).select_from(chosen.join(row, true())).order_by(row.c.timestamp, row.c.id)
        )
        with self._db.connection() as connection:
            # A thousand small probes look expensive to the planner, which then compiles
            # the statement (JIT): ~300 ms for a query that runs in ~30 ms.
            connection.execute(_NO_JIT)
            return [to_reading(row) for row in connection.execute(query)]

    @staticmethod
    def _picks_by_ranking(condition: ColumnElement[bool], limit: int) -> Subquery:
        """(id, timestamp) of the picked rows, every matching row ranked (window functions):
        for windows the rollups cannot split."""
        ranked = (
            select(
                table.c.id,
                table.c.timestamp,
                (func.row_number().over(order_by=ORDER) - 1).label("position"),
                func.count().over().label("total"),
            )
            .where(condition)
            .cte("ranked")
        )
        # A rank is picked exactly when rounding it to the nearest pick and back (the
        # picks' formula) gives itself.
        position, total = ranked.c.position, ranked.c.total
        steps = literal(limit - 1)
        double_gaps = func.greatest(2 * (total - 1), 1, type_=BigInteger)
        nearest_step = (2 * position * steps + (total - 1)) // double_gaps
        picked_rank = (2 * nearest_step * (total - 1) + steps) // (2 * steps)
        keep = (total <= limit) | (position == picked_rank)
        return select(ranked.c.id, ranked.c.timestamp).where(keep).subquery("chosen")

    def _picks_by_minute(
        self, where: ReadingFilter, condition: ColumnElement[bool], split: MinuteSplit, limit: int
    ) -> Subquery:
        """(id, timestamp) of the picked rows, their ranks found from per-minute counts."""
        picks = self._picks_per_minute(self._minute_ranks(where, split), limit)
        return self._fetch_picks(picks, condition)

    def _minute_ranks(self, where: ReadingFilter, split: MinuteSplit) -> Subquery:
        """Per minute holding matching readings (or partial edge minute): its bounds [low,
        high), the rank of its first matching reading (``before``), the rank after its last
        (``through``) and the window's ``total``. Counts from the rollups; raw rows only
        for the edges."""
        assert split.whole is not None
        minute = minute_rollups.c.minute
        counted = self._counted(where.state, minute_rollups.c.readings, minute_rollups.c.flagged)
        parts: list[Select[Any]] = [
            select(
                minute.label("low"),
                (minute + ROLLUP_WIDTH).label("high"),
                cast(func.sum(counted), BigInteger).label("readings"),
            )
            .where(true(), *self._rollup_conditions(where, *split.whole))
            .group_by(minute)
        ]
        for low, high in split.edges:
            parts.append(
                select(
                    literal(low, DateTime(timezone=True)).label("low"),
                    literal(high, DateTime(timezone=True)).label("high"),
                    self._count_raw(where, low, high).scalar_subquery().label("readings"),
                )
            )
        segments = union_all(*parts).subquery("segments")
        readings = segments.c.readings
        through = func.sum(readings).over(order_by=segments.c.low)
        return select(
            segments.c.low,
            segments.c.high,
            cast(through - readings, BigInteger).label("before"),
            cast(through, BigInteger).label("through"),
            cast(func.sum(readings).over(), BigInteger).label("total"),
        ).subquery("ranked")

    @staticmethod
    def _picks_per_minute(ranked: Subquery, limit: int) -> CTE:
        """One row per pick: its minute, its ``offset`` among the minute's matching readings
        and how many come ``after`` it there; and per minute, its picks' count, first and
        last offsets and the rows probes would skip (``skipped``, each from the nearer end)."""
        # Picks whose rank falls in [before, through) (see energy_core.telemetry.sampling):
        # every rank when the window holds at most ``limit``.
        total, steps = ranked.c.total, literal(limit - 1, BigInteger)
        every = total <= limit
        gaps = func.greatest(2 * (total - 1), 1, type_=BigInteger)

        def first_pick_from(rank: Any) -> Any:
            formula = func.least((2 * steps * rank - steps + gaps - 1) // gaps, limit)
            return case((every, rank), else_=formula)

        series = (
            func.generate_series(
                first_pick_from(ranked.c.before), first_pick_from(ranked.c.through) - 1
            )
            .table_valued("pick")
            .render_derived()
            .lateral("picks_of_minute")
        )
        pick = series.c.pick
        rank = case((every, pick), else_=(2 * pick * (total - 1) + steps) // (2 * steps))
        offset = rank - ranked.c.before
        after = ranked.c.through - ranked.c.before - 1 - offset
        its_minute = ranked.c.low
        return (
            select(
                ranked.c.low,
                ranked.c.high,
                offset.label("offset"),
                after.label("after"),
                func.count().over(partition_by=its_minute).label("picks"),
                func.min(offset).over(partition_by=its_minute).label("first"),
                func.max(offset).over(partition_by=its_minute).label("last"),
                func.sum(func.least(offset, after)).over(partition_by=its_minute).label("skipped"),
            )
            .select_from(ranked.join(series, true()))
            .cte("picks")
        )

    @staticmethod
    def _fetch_picks(picks: CTE, condition: ColumnElement[bool]) -> Subquery:
        """(id, timestamp) of each pick, read along the (timestamp, id) index of its minute:
        one probe per pick, skipping the rows before it or, from the minute's end, after it
        (whichever are fewer); or, where that would skip more, one run read from the
        minute's first pick to its last and numbered."""
        one_run = (
            picks.c.first
            + _COSTS_A_PROBE
            + _COSTS_A_NUMBERED_ROW * (picks.c.last - picks.c.first + 1)
            < picks.c.skipped + _COSTS_A_PROBE * picks.c.picks
        )
        in_minute = (table.c.timestamp >= picks.c.low, table.c.timestamp < picks.c.high, condition)
        forward = (
            select(table.c.id, table.c.timestamp)
            .where(*in_minute)
            .order_by(*ORDER)
            .offset(picks.c.offset)
            .limit(1)
            .lateral("forward")
        )
        backward = (
            select(table.c.id, table.c.timestamp)
            .where(*in_minute)
            .order_by(*NEWEST_FIRST)
            .offset(picks.c.after)
            .limit(1)
            .lateral("backward")
        )
        probed_forward = (
            select(forward.c.id, forward.c.timestamp)
            .select_from(picks.join(forward, true()))
            .where(~one_run, picks.c.offset <= picks.c.after)
        )
        probed_backward = (
            select(backward.c.id, backward.c.timestamp)
            .select_from(picks.join(backward, true()))
            .where(~one_run, picks.c.offset > picks.c.after)
        )
        runs = (
            select(
                picks.c.low,
                picks.c.high,
                func.array_agg(picks.c.offset).label("offsets"),
                picks.c.first,
                picks.c.last,
            )
            .where(one_run)
            .group_by(picks.c.low, picks.c.high, picks.c.first, picks.c.last)
            .subquery("runs")
        )
        run = (
            select(table.c.id, table.c.timestamp)
            .where(table.c.timestamp >= runs.c.low, table.c.timestamp < runs.c.high, condition)
            .order_by(*ORDER)
            .offset(runs.c.first)
            .limit(runs.c.last - runs.c.first + 1)
            .lateral("run")
        )
        in_run = func.row_number().over(
            partition_by=runs.c.low, order_by=(run.c.timestamp, run.c.id)
        )
        numbered = (
            select(
                run.c.id,
                run.c.timestamp,
                runs.c.offsets,
                (runs.c.first + in_run - 1).label("offset"),
            )
            .select_from(runs.join(run, true()))
            .subquery("numbered")
        )
        from_runs = select(numbered.c.id, numbered.c.timestamp).where(
            numbered.c.offset == any_(numbered.c.offsets)
        )
        return union_all(probed_forward, probed_backward, from_runs).subquery("chosen")

    def since(
        self, last_id: int, limit: int = 10_000, meter_ids: Sequence[str] | None = None
    ) -> list[Reading]:
        if limit <= 0:
            return []
        query = select(*SELECTED).where(table.c.id > last_id)
        if meter_ids is not None:
            # One array parameter (= ANY), not an IN list compiled per length.
            query = query.where(table.c.meter_id == any_(literal(list(meter_ids), ARRAY(Text))))
        return self._rows(query.order_by(table.c.id).limit(limit))

    def meters(self) -> list[str]:
        query = (
            select(meter_counters.c.meter_id)
            .where(meter_counters.c.readings > 0)
            .order_by(meter_counters.c.meter_id)
        )
        with self._db.connection() as connection:
            return list(connection.execute(query).scalars())

    def time_range(self) -> tuple[datetime, datetime] | None:
        query = select(func.min(table.c.timestamp), func.max(table.c.timestamp))
        with self._db.connection() as connection:
            first, last = connection.execute(query).one()
        return None if first is None else (first, last)

    def last_id(self) -> int:
        query = select(func.coalesce(func.max(table.c.id), 0))
        with self._db.connection() as connection:
            return int(connection.execute(query).scalar_one())

    # --- downsampling ---------------------------------------------------------------------
    def downsample(self, variable_name: str, where: ReadingFilter, buckets: int) -> list[Bucket]:
        """``variable_name`` in epoch-aligned buckets (see ``energy_core.telemetry.buckets``).

        From the per-minute rollups when the bucket width is a whole number of minutes and
        no state is asked for (raw rows only at a filter's partial edge minutes); otherwise
        from raw rows. Means are sums over counts, computed in the database. ``count`` is how
        many readings of the bucket carry the variable: a bucket whose readings all lack it
        has count 0 and NaN minimum, maximum and mean (a gap, not a zero).
        """
        return self.downsample_many((variable_name,), where, buckets)[variable_name]

    def downsample_many(
        self, variable_names: Sequence[str], where: ReadingFilter, buckets: int
    ) -> dict[str, list[Bucket]]:
        """``downsample`` of each of ``variable_names`` in one statement: the rollups (or
        rows) of the window are read once for all of them."""
        names = list(dict.fromkeys(variable_names))
        for name in names:
            variable(name)  # unknown names fail here, with the known ones listed
        if not names:
            return {}
        where = normalised(where)
        with self._db.connection() as connection:
            start, end = where.start, where.end
            if start is None or end is None:
                first, last = connection.execute(
                    select(func.min(table.c.timestamp), func.max(table.c.timestamp)).where(
                        reading_conditions(where)
                    )
                ).one()
                if first is None:
                    return {name: [] for name in names}
                start = start if start is not None else first
                end = end if end is not None else last + timedelta(microseconds=1)
            width = bucket_width(start, end, buckets)
            if where.state is None and width % ROLLUP_WIDTH == timedelta(0):
                query = self._buckets_from_rollups(names, where, width)
                connection.execute(_SERIAL_PLAN)
            else:
                query = self._buckets_from_rows(names, where, width)
            rows = connection.execute(query).all()
        # Each row: the bucket's start, its flagged readings, then per variable its count,
        # minimum, maximum and sum.
        found: dict[str, list[Bucket]] = {name: [] for name in names}
        for row in rows:
            moment, flagged = row[0], int(row[1])
            for index, name in enumerate(names):
                count, minimum, maximum, total = row[2 + 4 * index : 6 + 4 * index]
                found[name].append(
                    Bucket(
                        start=moment,
                        count=int(count),
                        minimum=_or_nan(minimum),
                        maximum=_or_nan(maximum),
                        mean=float(total) / int(count) if count else math.nan,
                        flagged=flagged,
                    )
                )
        return found

    @staticmethod
    def _bucket_of(column: Any, width: timedelta) -> Any:
        return func.date_bin(width, column, literal(EPOCH))

    def _buckets_from_rows(
        self, names: Sequence[str], where: ReadingFilter, width: timedelta
    ) -> Select[Any]:
        bucket = self._bucket_of(table.c.timestamp, width).label("bucket")
        statistics: list[Any] = []
        for index, name in enumerate(names):
            value = table.c[name]
            statistics += [
                func.count(value).label(f"readings_{index}"),
                func.min(value).label(f"minimum_{index}"),
                func.max(value).label(f"maximum_{index}"),
                func.sum(value).label(f"total_{index}"),
            ]
        return (
            select(
                bucket,
                func.count().filter(table.c.is_flagged).label("flagged"),
                *statistics,
            )
            .where(reading_conditions(where))
            .group_by(bucket)
            .order_by(bucket)
        )

    def _buckets_from_rollups(
        self, names: Sequence[str], where: ReadingFilter, width: timedelta
    ) -> Select[Any]:
        split = split_by_minute(where.start, where.end)
        parts: list[Select[Any]] = []
        if split.whole is not None:
            columns: list[Any] = []
            for index, name in enumerate(names):
                low, high, total = (minute_rollups.c[column] for column in rollup_columns(name))
                columns += [
                    minute_rollups.c[rollup_count_column(name)].label(f"readings_{index}"),
                    low.label(f"minimum_{index}"),
                    high.label(f"maximum_{index}"),
                    total.label(f"total_{index}"),
                ]
            parts.append(
                select(
                    self._bucket_of(minute_rollups.c.minute, width).label("bucket"),
                    minute_rollups.c.flagged.label("flagged"),
                    *columns,
                ).where(true(), *self._rollup_conditions(where, *split.whole))
            )
        for start, end in split.edges:
            columns = []
            for index, name in enumerate(names):
                value = table.c[name]
                columns += [
                    cast(value.is_not(None), Integer).label(f"readings_{index}"),
                    value.label(f"minimum_{index}"),
                    value.label(f"maximum_{index}"),
                    value.label(f"total_{index}"),
                ]
            parts.append(
                select(
                    self._bucket_of(table.c.timestamp, width).label("bucket"),
                    cast(func.coalesce(table.c.is_flagged, False), Integer).label("flagged"),
                    *columns,
                ).where(and_(*time_conditions(start, end), *meter_and_state_conditions(where)))
            )
        combined = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("parts")
        statistics: list[Any] = []
        for index in range(len(names)):
            statistics += [
                func.sum(combined.c[f"readings_{index}"]),
                func.min(combined.c[f"minimum_{index}"]),
                func.max(combined.c[f"maximum_{index}"]),
                func.sum(combined.c[f"total_{index}"]),
            ]
        return (
            select(combined.c.bucket, func.sum(combined.c.flagged), *statistics)
            .group_by(combined.c.bucket)
            .order_by(combined.c.bucket)
        )
