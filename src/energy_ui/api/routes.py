"""Routes: ingest readings, read readings and metrics, health."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from energy_core import ReadingFilter
from energy_core.validation import ReadingIn, parse_readings
from energy_ui.access import Access
from energy_ui.api.schemas import (
    Health,
    IngestResult,
    MetricOut,
    Problem,
    ReadingOut,
    ReadingPage,
    RejectionOut,
)
from energy_ui.api.tokens import (
    IngestClosedError,
    TokenGrant,
    TokenRefusedError,
    TokenVerifier,
    restrict_to_grant,
)
from energy_ui.bootstrap import Application, unavailable_errors

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_READINGS_PER_REQUEST = 10_000
RETRY_AFTER_S = 5

bearer = HTTPBearer(
    auto_error=False,
    description="ENERGY_INGEST_TOKEN, or a named token (smartenergy tokens add NAME)",
)


def _unavailable() -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "database unavailable, retry later / base de datos no disponible",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def _loads(raw: bytes) -> object:
    """JSON from ``raw`` (UTF-8): orjson when it can, else the standard parser, whose errors
    carry a line and column (and which also reads what orjson refuses, e.g. ``NaN``, so
    that such values are refused by validation, field by field)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw.decode("utf-8", errors="strict"))


def _parse_body(body: bytes, content_type: str) -> list[tuple[int, object]]:
    """A JSON array (or one object), or NDJSON: one reading per line."""
    if "ndjson" in content_type or "jsonl" in content_type:
        items: list[tuple[int, object]] = []
        text = body.decode("utf-8", errors="strict")
        for index, line in enumerate(line for line in text.splitlines() if line.strip()):
            try:
                items.append((index, _loads(line.encode())))
            except json.JSONDecodeError as error:
                raise HTTPException(
                    status.HTTP_400_BAD_REQUEST, f"line {index + 1}: invalid JSON: {error.msg}"
                ) from None
        return items
    try:
        parsed = _loads(body)
    except json.JSONDecodeError as error:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}",
        ) from None
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "expected a JSON array of readings (or NDJSON)"
        )
    return list(enumerate(parsed))


def _dashboard_session() -> dict[str, Any]:
    """The dashboard session of the request's browser, when the API runs on NiceGUI's app."""
    from nicegui import app

    try:
        return dict(app.storage.user)
    except (RuntimeError, AssertionError):  # not served by NiceGUI, or no session yet
        return {}


def _token_may_read(
    verifier: TokenVerifier, credentials: HTTPAuthorizationCredentials | None
) -> bool:
    """Whether the bearer token may read: ENERGY_INGEST_TOKEN or a named token for every
    meter. A token limited to some meters is refused (403): reads would show the others."""
    if credentials is None:
        return False
    try:
        grant = verifier.verify(credentials.credentials)
    except (IngestClosedError, TokenRefusedError):
        return False
    except unavailable_errors() as _:
        raise _unavailable() from None
    if grant.restricted:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"token {grant.name!r} is limited to meters {', '.join(grant.meter_patterns)}; "
            "reading needs a token for every meter or a dashboard login",
        )
    return True


def create_api_router(application: Application) -> APIRouter:
    """All API routes, bound to one application."""
    router = APIRouter()
    monitor = application.monitor
    problems: dict[int | str, dict[str, Any]] = {
        401: {"model": Problem, "description": "missing or wrong bearer token"},
        403: {
            "model": Problem,
            "description": "ingest closed: no ENERGY_INGEST_TOKEN and no named token",
        },
        503: {"model": Problem, "description": "database unavailable; see Retry-After"},
    }
    access = Access(application.settings)
    verifier = TokenVerifier(
        application.ingest_tokens,
        application.settings.ingest_token,
        max_age_s=application.settings.token_cache_s,
        clock=monitor.clock.now,
    )

    def require_reader(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        """Under ENERGY_READ_ACCESS=login, reads need the ingest token or a dashboard login."""
        if not access.protects_reading:
            return
        if _token_may_read(verifier, credentials):
            return
        if access.is_admin(_dashboard_session()):
            return
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "reading needs a login (ENERGY_READ_ACCESS=login): bearer token or dashboard login",
            headers={"WWW-Authenticate": "Bearer"},
        )

    # Only declared when enforced, so the OpenAPI schema says the truth about security.
    read_guard = [Depends(require_reader)] if access.protects_reading else []
    read_problems: dict[int | str, dict[str, Any]] = {503: problems[503]}
    if access.protects_reading:
        read_problems[401] = {"model": Problem, "description": "no login (ENERGY_READ_ACCESS)"}
        read_problems[403] = {"model": Problem, "description": "token limited to some meters"}

    def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> TokenGrant:
        """The bearer token's grant: ENERGY_INGEST_TOKEN (every meter) or a named token
        (its meter patterns). Runs in the thread pool: it may read the token store."""
        try:
            return verifier.verify(credentials.credentials if credentials else None)
        except IngestClosedError:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "ingest is closed: set ENERGY_INGEST_TOKEN or add a named token "
                "(smartenergy tokens add NAME) to open it",
            ) from None
        except TokenRefusedError:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            ) from None
        except unavailable_errors() as _:
            raise _unavailable() from None

    # A default rather than Annotated[...]: annotations here are strings resolved at module
    # level, where this router's own dependency does not exist.
    token_grant = Depends(require_token)

    @router.post(
        "/api/v1/readings",
        response_model=IngestResult,
        tags=["readings"],
        summary="Ingest readings (JSON array or NDJSON)",
        responses={
            **problems,
            400: {"model": Problem, "description": "not JSON"},
            413: {"model": Problem, "description": "too large"},
            422: {"model": IngestResult, "description": "every reading was rejected"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"type": "array", "items": ReadingIn.model_json_schema()}
                    },
                    "application/x-ndjson": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def ingest(
        request: Request,
        grant: TokenGrant = token_grant,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=200,
                description="makes a retry safe: a request repeated with the same key (e.g. "
                "after a 503 or a lost answer) is stored once; use a new key (a UUID) per batch",
            ),
        ] = None,
    ) -> Any:
        """Validate each reading against the variable catalogue; store the valid ones scored
        by the current model and push them live; report every rejected one by index."""
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(
                status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes"
            )
        # Parsing, validation, scoring and storage all off the event loop: a large body
        # must not stall the dashboard's live updates.
        key = None if idempotency_key is None else grant.idempotency_key(idempotency_key)
        content_type = request.headers.get("content-type", "")
        return await run_in_threadpool(ingest_body, body, content_type, key, grant)

    def ingest_body(body: bytes, content_type: str, key: str | None, grant: TokenGrant) -> Any:
        try:
            items = _parse_body(body, content_type)
        except UnicodeDecodeError:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "body is not UTF-8") from None
        if len(items) > MAX_READINGS_PER_REQUEST:
            raise HTTPException(
                status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
                f"at most {MAX_READINGS_PER_REQUEST} readings per request",
            )
        # Only the meters the token may write (`tokens add --meters`): the others rejected.
        items, outside = restrict_to_grant(items, grant)
        accepted, rejected = parse_readings(items, now=monitor.clock.now())
        rejected = sorted([*outside, *rejected], key=lambda rejection: rejection.index)
        flagged, version = 0, None
        if accepted:
            try:
                report = monitor.ingest(accepted, key=key)
            except unavailable_errors() as _:
                raise _unavailable() from None
            flagged = sum(1 for reading in report.stored if reading.is_flagged)
            version = report.model_version
        result = IngestResult(
            accepted=len(accepted),
            rejected=[RejectionOut.of(rejection) for rejection in rejected],
            flagged=flagged,
            model_version=version,
        )
        if rejected and not accepted:
            return JSONResponse(result.model_dump(mode="json"), status_code=422)
        return result

    @router.get(
        "/api/v1/readings",
        response_model=ReadingPage,
        tags=["readings"],
        summary="Stored readings, filtered, newest first, paged by time",
        dependencies=read_guard,
        responses=read_problems,
    )
    def list_readings(
        start: Annotated[datetime | None, Query(description="from, inclusive (ISO 8601)")] = None,
        end: Annotated[datetime | None, Query(description="until, exclusive")] = None,
        meter: Annotated[list[str] | None, Query(description="meter id, repeatable")] = None,
        state: Annotated[Literal["normal", "anomalous"] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> ReadingPage:
        where = ReadingFilter(
            start=_utc(start), end=_utc(end), meter_ids=tuple(meter or ()), state=state
        )
        try:
            found = monitor.readings.latest(limit + 1, where)
        except unavailable_errors() as _:
            raise _unavailable() from None
        page = found[:limit]
        next_end = page[-1].timestamp if len(found) > limit else None
        return ReadingPage(items=[ReadingOut.of(r) for r in page], next_end=next_end)

    @router.get(
        "/api/v1/metrics/latest",
        response_model=MetricOut,
        tags=["metrics"],
        summary="The latest analysis (a row of metricas)",
        dependencies=read_guard,
        responses={404: {"model": Problem, "description": "no analysis yet"}, **read_problems},
    )
    def latest_metrics() -> MetricOut:
        try:
            latest = monitor.metrics.latest(1)
        except unavailable_errors() as _:
            raise _unavailable() from None
        if not latest:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no analysis yet: train, then detect")
        return MetricOut.of(latest[0])

    @router.get(
        "/healthz",
        response_model=Health,
        tags=["health"],
        summary="Database reachable, model present",
        responses={503: {"model": Health, "description": "database unreachable"}},
    )
    def healthz() -> Any:
        try:
            version = monitor.models.latest_version()
            monitor.readings.last_id()
        except unavailable_errors() as _:
            body = Health(
                status="degraded",
                storage=application.mode,
                database="unavailable",
                model_version=None,
            )
            return JSONResponse(body.model_dump(), status_code=503)
        database = "ok" if application.mode == "postgres" else "not used"
        return Health(
            status="ok", storage=application.mode, database=database, model_version=version
        )

    return router


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
