"""Property tests that reach the store: arbitrary JSON and text (any Unicode, NUL and lone
surrogates included, any nesting, any number) sent through the HTTP API, the MQTT handler
and CSV import into real PostgreSQL. Never a 5xx, never a partial write of a refused
reading, never a stopped handler, and the dashboard still renders afterwards."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nicegui.testing import User

from energy_adapters.memory import ManualClock
from energy_core import Simulator
from energy_ui.bootstrap import Application, bootstrap
from energy_ui.csv_io import CsvFormatError, import_csv
from energy_ui.dashboard import create_app
from energy_ui.settings import Settings
from tests.api.helpers import api_app
from tests.postgres_support import bookkeeping_errors, truncate_all
from tests.ui.test_filters import open_every_tab

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TOKEN = "property-token"
FIELDS = [
    "meter_id",
    "timestamp",
    "voltage",
    "current",
    "active_power",
    "power_factor",
    "frequency",
    "motor_temperature",
    "is_anomaly",
    "anomaly_kind",
]
# Any Unicode: NUL, controls and lone surrogates included (no category is left out).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=24)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | any_text
    | st.sampled_from(["2026-06-01T11:59:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(any_text, children, max_size=3)
    ),
    max_leaves=12,
)
good_values = {
    "meter_id": st.sampled_from(["m-1", "m.2", "Z" * 64]),
    "timestamp": st.sampled_from(["2026-06-01T11:59:00Z", "2000-01-01T00:00:00Z"]),
    "voltage": st.floats(180, 260),
    "current": st.floats(0, 50),
    "active_power": st.floats(0, 10),
    "power_factor": st.floats(0.1, 1),
    "frequency": st.floats(48, 52),
    "motor_temperature": st.floats(20, 90),
}
# A reading close to valid, with a few fields replaced by anything at all.
near_readings = st.fixed_dictionaries(good_values).flatmap(
    lambda reading: st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=3).map(
        lambda changes: {**reading, **changes}
    )
)
batches = st.lists(near_readings | json_values, min_size=1, max_size=6)
deep = st.integers(10, 5_000).map(lambda depth: "[" * depth + "]" * depth)


def _body(batch: object) -> bytes:
    # ensure_ascii spells lone surrogates and NUL as escapes, as a client's encoder would.
    return json.dumps(batch, ensure_ascii=True, allow_nan=True).encode()


@pytest.fixture(scope="module")
def application(pg_database_url, pg_engine) -> Iterator[Application]:
    truncate_all(pg_engine)
    settings_ = Settings(
        _env_file=None,
        database_url=pg_database_url,
        ingest_token=TOKEN,
        max_readings=None,
        meters=2,
        seed=3,
        language="es",
    )
    application = bootstrap(settings_, clock=ManualClock(NOW), simulator=Simulator(meters=2))
    yield application
    application.close()


@pytest.fixture(scope="module")
def client(application) -> TestClient:
    return TestClient(api_app(application), raise_server_exceptions=False)


fuzz = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@fuzz
@given(body=batches.map(_body) | deep.map(str.encode) | st.binary(max_size=200))
def test_the_api_never_answers_5xx_and_stores_exactly_what_it_accepts(application, client, body):
    before = application.monitor.queries.count()
    response = client.post(
        "/api/v1/readings",
        content=body,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    assert response.status_code < 500, response.text
    accepted = response.json().get("accepted", 0) if response.status_code in (200, 422) else 0
    assert application.monitor.queries.count() == before + accepted
    assert "psycopg2" not in response.text and "COPY" not in response.text


@fuzz
@given(rows=st.lists(st.lists(any_text | st.floats().map(str), max_size=9), max_size=5))
def test_csv_import_stores_exactly_the_lines_it_accepts(application, rows):
    header = ",".join(FIELDS[:8])
    lines = [",".join(cell.replace("\n", " ") for cell in row) for row in rows]
    data = "\n".join([header, *lines]).encode("utf-8", "surrogatepass")
    before = application.monitor.queries.count()
    try:
        summary = import_csv(application.monitor, io.BytesIO(data))
    except CsvFormatError:
        assert application.monitor.queries.count() == before
        return
    assert application.monitor.queries.count() == before + summary.accepted


def test_afterwards_the_books_are_true(application, pg_engine):
    assert bookkeeping_errors(pg_engine) == []


async def test_afterwards_the_dashboard_still_renders(user: User, application: Application):
    application.monitor.generate_history(200)  # something to draw besides what was fuzzed
    dashboard = create_app(application, demo=False)
    await dashboard.start()
    try:
        await user.open("/")
        await open_every_tab(user)
    finally:
        await dashboard.stop()
