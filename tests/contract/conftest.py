"""Each contract suite runs against every adapter listed in ``ADAPTERS``.

An adapter module registers a factory here; the suites never change when one is added.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from energy_adapters.memory import (
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)


@dataclass
class Stores:
    readings: Any
    metrics: Any
    models: Any
    feed: Any
    # Called after publishing, for adapters whose delivery is asynchronous.
    settle: Callable[[], None] = lambda: None


@contextmanager
def memory_stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    yield Stores(
        readings=MemoryReadingRepository(),
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=MemoryChangeFeed(),
    )


ADAPTERS: dict[str, Callable[[pytest.FixtureRequest], Any]] = {"memory": memory_stores}


@pytest.fixture(params=sorted(ADAPTERS))
def stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    with ADAPTERS[request.param](request) as built:
        yield built
