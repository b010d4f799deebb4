"""What every tab of the dashboard does: build once, render its model, follow live data."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from nicegui import ui

from energy_core.health.analysis import HealthThresholds
from energy_core.telemetry.catalogue import Language
from energy_core.telemetry.readings import Reading
from energy_ui.dashboard.live import LiveUpdate
from energy_ui.dashboard.model import PageModel
from energy_ui.i18n import text


class TabView:
    """A tab draws ``model``; while hidden it only remembers that it is out of date.

    Subclasses create their elements in ``build`` (called the first time the tab is shown,
    inside its panel) and copy the model into them in ``render`` (in place: chart options'
    series data, labels' text, table rows).
    """

    name = ""
    title_key = ""
    icon = ""
    min_interval = 1.0
    """Seconds between two live renders: readings may arrive many times a second, a chart
    redraws at most this often (the status panel still shows every reading at once)."""

    def __init__(self, model: PageModel, language: Language, thresholds: HealthThresholds) -> None:
        self.model = model
        self.language = language
        self.thresholds = thresholds
        self.visible = False
        self.dirty = False
        self.panel: ui.element | None = None
        self.built = False
        self._rendered_at = 0.0
        self._scheduled: asyncio.TimerHandle | None = None

    def t(self, key: str, **values: object) -> str:
        return text(key, self.language, **values)

    def build(self) -> None:
        raise NotImplementedError

    def render(self) -> None:
        raise NotImplementedError

    def live(self, accepted: Sequence[Reading], update: LiveUpdate) -> None:
        """New readings (already in the model) or a new analysis arrived."""
        if not (accepted or update.new_analysis or update.new_model) or not self.built:
            return
        self.changed()

    def changed(self) -> None:
        """The model changed: render soon if shown (at most every ``min_interval``), else
        when shown."""
        self.dirty = True
        if self.visible and self._scheduled is None:
            delay = max(0.0, self._rendered_at + self.min_interval - time.monotonic())
            self._scheduled = asyncio.get_running_loop().call_later(delay, self._flush)

    def _flush(self) -> None:
        self._scheduled = None
        if not self.visible or not self.dirty or self.panel is None or self.panel.is_deleted:
            return
        self._render_now()

    def _render_now(self) -> None:
        self.dirty = False
        self._rendered_at = time.monotonic()
        self.render()

    def attach(self, panel: ui.element) -> None:
        """The panel to build into when first shown."""
        self.panel = panel

    def show(self) -> None:
        self.visible = True
        if not self.built and self.panel is not None:
            with self.panel:
                self.build()
            self.built = True
            self.dirty = False
            self._rendered_at = time.monotonic()
            return
        if self.dirty:
            self._render_now()

    def hide(self) -> None:
        self.visible = False
