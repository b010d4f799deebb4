"""Group commit: concurrent ``add_many`` calls of one process share a transaction.

The thread that finds no write under way writes every batch waiting at that moment (up to
``GROUP_MAX_READINGS``) in one transaction, then the batches that arrived meanwhile, until
its own is written. Each call returns once the transaction holding its batch committed, or
raises what that transaction raised. A batch can only fail itself: when the database
refuses a group for what one batch holds, each batch is written again alone.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections import deque
from collections.abc import Callable

import psycopg2

from energy_core.ports import BatchRefusedError
from energy_core.telemetry.readings import Reading, batch_fingerprint

GROUP_MAX_READINGS = 50_000
"""At most this many readings of concurrent ``add_many`` calls share one transaction (a
single larger batch is written alone, whole)."""


_REFUSED_CONTENT = {
    "22021": "text with a character the database cannot store (NUL)",
    "22P05": "text the database cannot store",
    "22008": "timestamp out of the database's range",
    "22003": "number out of the database's range",
    "22001": "text longer than the database accepts",
}


def refusal_of(error: BaseException) -> BatchRefusedError | None:
    """A ``BatchRefusedError`` when PostgreSQL refused the data itself (SQLSTATE class 22,
    data exception, or 23, integrity), else ``None`` (an outage, a bug: not the batch's
    fault). Its message names the reading and the field, never the server's own text."""
    original = getattr(error, "orig", None) or error
    if not isinstance(original, psycopg2.Error):
        return None
    code = str(original.pgcode or "")
    if not code.startswith(("22", "23")):
        return None
    reason = _REFUSED_CONTENT.get(code, f"refused by the database (SQLSTATE {code})")
    where = ""
    context = getattr(getattr(original, "diag", None), "context", None) or ""
    found = re.search(r"COPY \w+, line (\d+)(?:, column (\w+))?", context)
    if found:
        where = f" (reading {int(found.group(1)) - 1}"
        where += f", field {found.group(2)})" if found.group(2) else ")"
    return BatchRefusedError(f"batch refused: {reason}{where}")


@dataclasses.dataclass(eq=False)
class Submission:
    """One ``add_many`` call waiting for, or settled by, a group transaction."""

    readings: list[Reading]
    key: str | None = None
    stored: list[Reading] | None = None
    error: BaseException | None = None
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        if self.key is not None:
            self.fingerprint = batch_fingerprint(self.readings)

    @property
    def finished(self) -> bool:
        return self.stored is not None or self.error is not None

    def result(self) -> list[Reading]:
        if self.error is not None:
            raise self.error
        assert self.stored is not None
        return self.stored


def _take_group(waiting: deque[Submission], max_readings: int) -> list[Submission]:
    """The oldest waiting submissions, as many as fit in ``max_readings`` (at least one)."""
    group = [waiting.popleft()]
    size = len(group[0].readings)
    while waiting and size + len(waiting[0].readings) <= max_readings:
        size += len(waiting[0].readings)
        group.append(waiting.popleft())
    return group


WriteGroup = Callable[[list[Submission]], list[list[Reading] | Exception]]
"""Writes a group of batches in one transaction: what each stored, or its own error."""


class GroupCommit:
    """Batches of concurrent callers written together by ``write`` (see the module doc)."""

    def __init__(self, write: WriteGroup, max_readings: int = GROUP_MAX_READINGS) -> None:
        self._write = write
        self._max_readings = max_readings
        self._group = threading.Condition()
        self._waiting: deque[Submission] = deque()
        self._writing = False

    def submit(self, mine: Submission) -> list[Reading]:
        """``mine`` written (alone or with others' batches); its stored readings, or the
        error of the transaction that held it. Batches keep their order."""
        with self._group:
            self._waiting.append(mine)
            try:
                while self._writing and not mine.finished:
                    self._group.wait()
            except BaseException:  # interrupted while waiting: withdraw the batch
                self._withdraw(mine)
                raise
            if mine.finished:
                return mine.result()
            self._writing = True
        try:
            while not mine.finished:
                with self._group:
                    group = _take_group(self._waiting, self._max_readings)
                self._write_group(group)
                with self._group:
                    self._group.notify_all()
        except BaseException:
            with self._group:
                self._withdraw(mine)
            raise
        finally:
            with self._group:
                self._writing = False
                self._group.notify_all()
        return mine.result()

    def waiting(self) -> int:
        """How many batches wait for a transaction now (one is being written meanwhile)."""
        with self._group:
            return len(self._waiting)

    def _withdraw(self, submission: Submission) -> None:
        """Take ``submission`` out of the queue if it is still waiting (lock held)."""
        if submission in self._waiting:
            self._waiting.remove(submission)

    def _write_group(self, group: list[Submission]) -> None:
        """Write ``group`` in one transaction and settle every submission of it: with its
        stored readings, or with the error (an interruption is raised on as well); a
        refusal of the data is narrowed down to the batch that caused it."""
        try:
            stored = self._write(group)
        except BaseException as error:
            refusal = refusal_of(error)
            if refusal is not None and len(group) > 1:
                for submission in group:
                    self._write_group([submission])
                return
            failure = refusal if refusal is not None else error
            for submission in group:
                submission.error = failure
            if not isinstance(error, Exception):
                raise
            return
        for submission, readings in zip(group, stored, strict=True):
            if isinstance(readings, BaseException):
                submission.error = readings
            else:
                submission.stored = readings
