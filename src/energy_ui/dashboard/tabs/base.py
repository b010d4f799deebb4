"""What every tab of the dashboard does: build once, render its model, follow live data."""

from __future__ import annotations

from collections.abc import Sequence

from nicegui import ui

from energy_core.catalogue import Language
from energy_core.metrics import HealthThresholds
from energy_core.readings import Reading
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

    def __init__(self, model: PageModel, language: Language, thresholds: HealthThresholds) -> None:
        self.model = model
        self.language = language
        self.thresholds = thresholds
        self.visible = False
        self.dirty = False
        self.panel: ui.element | None = None
        self.built = False

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
        if self.visible:
            self.render()
        else:
            self.dirty = True

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
            return
        if self.dirty:
            self.dirty = False
            self.render()

    def hide(self) -> None:
        self.visible = False
