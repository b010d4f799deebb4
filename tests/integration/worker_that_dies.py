"""`smartenergy worker` that dies, as kill -9 would leave it, right after its first batch is
committed and before it is acknowledged: the case of a batch in flight.

    python tests/integration/worker_that_dies.py --id NAME

(Used by tests/integration/test_nats_workers.py; not part of the product.)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from energy_core import Reading
from energy_core.usecases.monitor import IngestReport, Monitor

_store_parsed = Monitor.store_parsed


def _store_then_die(
    self: Monitor, readings: Sequence[Reading], *, key: str | None = None
) -> IngestReport:
    report = _store_parsed(self, readings, key=key)
    print(f"committed {len(report.stored)} readings under {key}; dying", flush=True)
    os._exit(9)


Monitor.store_parsed = _store_then_die  # type: ignore[method-assign]

if __name__ == "__main__":
    from energy_ui.cli import app

    app(["worker", *sys.argv[1:]])
