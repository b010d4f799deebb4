"""Small helpers for the dashboard's user-fixture tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from nicegui import ui
from nicegui.testing import User

T = TypeVar("T", bound=ui.element)


def one(user: User, marker: str, kind: type[T] = ui.element) -> T:  # type: ignore[assignment]
    """The single element carrying ``marker``."""
    elements = user.find(marker=marker).elements
    assert len(elements) == 1, f"{len(elements)} elements marked {marker!r}"
    element = next(iter(elements))
    assert isinstance(element, kind)
    return element


def text_of(user: User, marker: str) -> str:
    return str(one(user, marker, ui.label).text)


async def eventually(check: Callable[[], Any], *, attempts: int = 250) -> None:
    """Wait (yielding to the event loop) until ``check()`` is truthy; fail after ``attempts``."""
    for _ in range(attempts):
        if check():
            return
        await asyncio.sleep(0.02)
    assert check(), "condition never became true"


def set_value(user: User, marker: str, value: Any) -> None:
    """Set an input's value as the browser would (fires its change handlers)."""
    element = one(user, marker)
    with user:
        element.value = value  # type: ignore[attr-defined]
