"""The live dashboard (NiceGUI + ECharts): ``serve`` it, or ``create_app`` it in tests."""

from energy_ui.dashboard.app import Dashboard, create_app, serve

__all__ = ["Dashboard", "create_app", "serve"]
