"""The HTTP API, mounted on NiceGUI's own FastAPI app (or any FastAPI app in tests)."""

from energy_ui.api.routes import create_api_router

__all__ = ["create_api_router"]
