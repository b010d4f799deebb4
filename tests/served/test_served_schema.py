"""schemathesis against the schema the served app publishes: no 5xx, answers as documented."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.served.conftest import AUTH, ServedApp

EXAMPLES = 30


def test_the_served_api_conforms_to_its_served_schema(server: ServedApp) -> None:
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json", headers=AUTH)
    operations = [result.ok() for result in schema.get_all_operations()]
    served = {f"{operation.method.upper()} {operation.path}" for operation in operations}
    assert {"POST /api/v1/readings", "GET /api/v1/readings", "GET /api/v1/meters"} <= served

    for operation in operations:

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def conforms(case):
            case.headers = {**(case.headers or {}), **AUTH}
            # A schema-valid reading may still be refused for what a schema cannot say
            # (a timestamp in the future); that answer is a documented 422, not a defect.
            case.call_and_validate(
                base_url=server.base_url, excluded_checks=[positive_data_acceptance]
            )

        conforms()
