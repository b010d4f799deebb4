"""The loop both per-process readers of the dashboard run (the live producer, the alert
feed): wait until woken or the interval passes, read, and on a failure log it and wait."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


def wake_threadsafe(loop: asyncio.AbstractEventLoop | None, wake: asyncio.Event | None) -> None:
    """Set ``wake`` from any thread; nothing when the loop is gone or going."""
    if loop is None or wake is None or loop.is_closed():
        return
    with contextlib.suppress(RuntimeError):  # the loop is shutting down
        loop.call_soon_threadsafe(wake.set)


async def pump_when_woken(
    wake: asyncio.Event,
    pump: Callable[[], Awaitable[object]],
    *,
    interval: float,
    stopping: Callable[[], bool],
    what: str,
) -> None:
    """Call ``pump`` each time ``wake`` is set or ``interval`` seconds pass, until
    ``stopping()``; a failing read is logged (naming ``what``) and tried again."""
    # A flag as well as cancellation: Python 3.11's wait_for can swallow a cancel that
    # arrives as the event is set.
    while not stopping():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=interval)
        wake.clear()
        if stopping():
            return
        try:
            await pump()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed to read; retrying", what)
            await asyncio.sleep(interval)
