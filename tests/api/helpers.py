"""What the API tests share: a valid reading, the token, and an app shaped like NiceGUI's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from energy_ui.api import create_api_router
from energy_ui.bootstrap import Application
from tests.strategies import BASE

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def reading(meter: str = "m-1", seconds: int = 0, **values: Any) -> dict[str, Any]:
    """A valid reading ``seconds`` before ``BASE``; ``values`` override its fields."""
    base = {
        "voltage": 230.0,
        "current": 10.0,
        "active_power": 2.0,
        "power_factor": 0.9,
        "frequency": 50.0,
        "motor_temperature": 40.0,
    }
    moment = (BASE - timedelta(seconds=seconds)).isoformat()
    return {"meter_id": meter, "timestamp": moment, **base, **values}


def api_app(application: Application) -> FastAPI:
    """The API on an app with FastAPI's own docs switched off, as NiceGUI's app has them:
    whatever ``/docs`` and ``/openapi.json`` answer comes from the API's own routes."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(create_api_router(application))
    return app
