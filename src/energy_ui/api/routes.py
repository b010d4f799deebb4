"""Routes: ingest readings, read readings and metrics, health."""

from __future__ import annotations

import hashlib
import logging
import zlib
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from fastapi import Path as FastApiPath
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, StringConstraints
from starlette.concurrency import run_in_threadpool

from energy_core import ReadingFilter
from energy_core.ports import BatchRefusedError, IdempotencyConflictError, LogUnavailableError
from energy_core.telemetry.decoders import DecodeError, RawReading
from energy_core.telemetry.decoders.emon import decode_input_bulk, decode_input_post
from energy_core.telemetry.payload import MAX_DEPTH, PayloadError, decode_json
from energy_core.telemetry.readings import Origin
from energy_core.telemetry.validation import METER_ID_PATTERN, QUERY_RANGE, ReadingIn
from energy_ui.access import Access
from energy_ui.api.alerts import alerts_router
from energy_ui.api.energy import energy_router
from energy_ui.api.meters import meters_router
from energy_ui.api.schemas import (
    Health,
    IngestResult,
    MetricOut,
    Problem,
    ReadingOut,
    ReadingPage,
    RejectionOut,
    expected_per_reading,
)
from energy_ui.api.tokens import (
    IngestClosedError,
    TokenGrant,
    TokenRefusedError,
    TokenVerifier,
    restrict_to_grant,
)
from energy_ui.bootstrap import Application, unavailable_errors
from energy_ui.devices import emon_keys, load_mapping

log = logging.getLogger(__name__)
NATIVE_ORIGIN = Origin("http")
EMONCMS_ORIGIN = Origin("http", "emoncms")

MAX_BODY_BYTES = 10 * 1024 * 1024
"""Largest request body (bytes), refused while it arrives: never held whole in memory."""
MAX_READINGS_PER_REQUEST = 10_000
MAX_METERS_PER_QUERY = 100
RETRY_AFTER_S = 5
API_TITLE = "SmartEnergy API"
API_DESCRIPTION = (
    "Ingest electrical readings and read them back with the model's verdicts, and the "
    "latest analysis. Limits: bodies up to 10 MB, JSON nested up to 16 levels, 10,000 "
    "readings per request. See docs/ingest.md."
)

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


def _too_large(what: str) -> HTTPException:
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, what)


def _too_many() -> HTTPException:
    return _too_large(f"at most {MAX_READINGS_PER_REQUEST} readings per request")


async def _read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request's body, refused (413) as soon as it is known to exceed ``limit`` bytes:
    from its Content-Length when declared, else while the chunks arrive, so that an
    over-limit body is never held in memory whole."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, "Content-Length is not a number of bytes"
            ) from None
        if size > limit:
            raise _too_large(f"body over {limit} bytes")
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _too_large(f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_body(body: bytes, content_type: str) -> list[tuple[int, object]]:
    """A JSON array (or one object), or NDJSON: one reading per line. Each JSON text is
    decoded with bounded size and nesting; a failure is a 400 saying where and why."""
    if "ndjson" in content_type or "jsonl" in content_type:
        items: list[tuple[int, object]] = []
        for number, line in enumerate(body.split(b"\n"), start=1):
            if not line.strip():
                continue
            if len(items) == MAX_READINGS_PER_REQUEST:
                raise _too_many()
            try:
                items.append((len(items), decode_json(line, max_bytes=MAX_BODY_BYTES)))
            except PayloadError as error:
                raise HTTPException(
                    status.HTTP_400_BAD_REQUEST, f"line {number}: {error}"
                ) from None
        return items
    try:
        parsed = decode_json(body, max_bytes=MAX_BODY_BYTES)
    except PayloadError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "expected a JSON array of readings (or NDJSON)"
        )
    if len(parsed) > MAX_READINGS_PER_REQUEST:
        raise _too_many()
    return list(enumerate(parsed))


def _inflate(body: bytes) -> bytes:
    """A zlib-compressed body (Emoncms's ``cb=1``) decompressed, refused (413) as soon as it
    would pass ``MAX_BODY_BYTES``: a small bomb never becomes a large string."""
    inflater = zlib.decompressobj()
    try:
        inflated = inflater.decompress(body, MAX_BODY_BYTES)
    except zlib.error:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "cb=1: the body is not zlib-compressed data"
        ) from None
    if inflater.unconsumed_tail:
        raise _too_large(f"body over {MAX_BODY_BYTES} bytes once decompressed")
    return inflated


def _form_fields(body: bytes, content_type: str) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body's fields (any other body: none)."""
    if content_type and "x-www-form-urlencoded" not in content_type:
        return {}
    try:
        text = body.decode("utf-8")
        return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=100))
    except (UnicodeDecodeError, ValueError) as error:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"not a form body (key=value&…): {error}"
        ) from None


def _fingerprint(readings: list[RawReading]) -> str:
    """The same readings, the same text: a retry of a batch maps to the same storage key."""
    canonical = repr(sorted(sorted(reading.items()) for reading in readings))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _in_query_range(moment: datetime | None) -> datetime | None:
    """``moment`` in UTC (naive means UTC), or a ``ValueError`` when it lies outside the
    instants a query may name (``QUERY_RANGE``): refused, not clamped."""
    if moment is None:
        return None
    low, high = QUERY_RANGE
    try:
        aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        inside = low <= aware <= high
        utc = aware.astimezone(UTC)
    except OverflowError:  # an offset that pushes it past year 1 or 9999
        inside = False
    if not inside:
        raise ValueError(
            f"must be between {low.isoformat()} and {high.isoformat()} (UTC, ISO 8601)"
        )
    return utc


QueryInstant = Annotated[datetime | None, AfterValidator(_in_query_range)]
MeterId = Annotated[str, StringConstraints(pattern=METER_ID_PATTERN)]


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
        return grant_of(credentials.credentials if credentials else None)

    def grant_of(token: str | None) -> TokenGrant:
        """The grant of a presented token, or the 403 / 401 / 503 the ingest routes answer."""
        try:
            return verifier.verify(token)
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
        description=(
            "Validate each reading against the variable catalogue; store the valid ones "
            "scored by the current model and push them live; report every rejected one by "
            "index, field and reason. A JSON array of readings (or one object), or NDJSON "
            "(`Content-Type: application/x-ndjson`, one reading per line). Limits: "
            f"{MAX_BODY_BYTES // (1024 * 1024)} MB per body (refused while it arrives), "
            f"JSON nested at most {MAX_DEPTH} levels, {MAX_READINGS_PER_REQUEST:,} readings "
            "per request. 200 when at least one reading was stored, 422 when none was."
        ),
        responses={
            **problems,
            400: {
                "model": Problem,
                "description": "not JSON, not UTF-8, or nested too deep (says where)",
            },
            409: {
                "model": Problem,
                "description": "the Idempotency-Key was already used for other readings",
            },
            413: {
                "model": Problem,
                "description": f"body over {MAX_BODY_BYTES} bytes or over "
                f"{MAX_READINGS_PER_REQUEST} readings",
            },
            422: {
                "model": IngestResult,
                "description": "every reading was rejected (or storage refused the batch)",
            },
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
                pattern=r"^[^\x00-\x1f\x7f]+$",
                description="makes a retry safe: a request repeated with the same key (e.g. "
                "after a 503 or a lost answer) is stored once and gets the original answer; "
                "the same key with other readings is a 409; use a new key (a UUID) per batch",
            ),
        ] = None,
    ) -> Any:
        body = await _read_body(request)
        # Parsing, validation, scoring and storage all off the event loop: a large body
        # must not stall the dashboard's live updates.
        content_type = request.headers.get("content-type", "")
        return await run_in_threadpool(ingest_body, body, content_type, idempotency_key, grant)

    def ingest_body(
        body: bytes, content_type: str, idempotency_key: str | None, grant: TokenGrant
    ) -> Any:
        items = _parse_body(body, content_type)
        key = None if idempotency_key is None else grant.idempotency_key(idempotency_key)
        result = ingest_items(items, grant, key, idempotency_key, NATIVE_ORIGIN)
        if result.rejected and not result.accepted:
            return JSONResponse(result.model_dump(mode="json"), status_code=422)
        return result

    def ingest_items(
        items: list[tuple[int, object]],
        grant: TokenGrant,
        key: str | None,
        idempotency_key: str | None,
        origin: Origin,
    ) -> IngestResult:
        """Raw readings validated, scored and stored: the result every ingest route answers
        (``key``: the storage's idempotency key; ``idempotency_key``: as the client sent it)."""
        # Only the meters the token may write (`tokens add --meters`): the others rejected.
        items, outside = restrict_to_grant(items, grant)
        try:
            report = application.ingest.receive(items, key=key, refused=outside, origin=origin)
        except LogUnavailableError:  # a gateway of `smartenergy ingest` (ENERGY_NATS_URL)
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "reading log unavailable, retry later / registro de lecturas no disponible",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from None
        except unavailable_errors() as _:
            raise _unavailable() from None
        except IdempotencyConflictError:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"Idempotency-Key {idempotency_key!r} was already used for a different "
                "batch of readings; nothing was stored: use a new key for new readings",
            ) from None
        except BatchRefusedError as error:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, f"batch refused: {error}"
            ) from None
        return IngestResult(
            accepted=len(report.stored),
            rejected=[RejectionOut.of(rejection) for rejection in report.rejections],
            flagged=report.flagged,
            model_version=report.model_version,
        )

    emon_keys_of_mapping = emon_keys(load_mapping(application.settings))

    emoncms_route: dict[str, Any] = dict(
        tags=["readings"],
        summary="Ingest in the Emoncms input API shape (emonhub, Emoncms devices)",
        description=(
            "Emoncms's `input/post` (`node`, `fulljson` / `json` / `csv`, `time`) and "
            "`input/bulk` (`data=[[time, node, values…], …]` with `sentat`, `offset` or "
            "`time`; `cb=1`: a zlib-compressed body) as query or form fields, as emonhub's "
            "HTTP interfacer posts them (its `url` = this server's address + "
            "`/api/v1/emoncms`). Inputs become readings through the emon key map (docs/"
            "ingest.md). The token: `Authorization: Bearer` or the `apikey` field. Answers "
            '`ok` (`{"success": true}` for `fulljson`) when every reading was stored or none '
            "was mapped; when only some were, `ok` too (emonhub retries anything else), or "
            "the native result with `Accept: application/json`; when all were refused, the "
            "native 422. A retry of the same readings stores nothing twice."
        ),
        responses={
            **problems,
            400: {"model": Problem, "description": "not in the Emoncms shape (says why)"},
            413: {"model": Problem, "description": f"body over {MAX_BODY_BYTES} bytes"},
            422: {"model": IngestResult, "description": "every reading was refused"},
        },
    )

    @router.post(
        "/api/v1/emoncms/input/{method}", operation_id="emoncms_input_post", **emoncms_route
    )
    @router.get("/api/v1/emoncms/input/{method}", operation_id="emoncms_input_get", **emoncms_route)
    async def emoncms_input(
        request: Request,
        method: Annotated[
            Literal["post", "post.json", "bulk", "bulk.json"],
            FastApiPath(description="post or bulk, with or without .json"),
        ],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Any:
        body = await _read_body(request)
        params = dict(request.query_params)
        content_type = request.headers.get("content-type", "")
        compressed = params.get("cb") == "1"
        if compressed:
            params["data"] = _inflate(body).decode("utf-8", errors="replace")
        elif body:
            params.update(_form_fields(body, content_type))
        token = credentials.credentials if credentials else params.pop("apikey", None)
        params.pop("apikey", None)
        wants_json = "application/json" in request.headers.get("accept", "")
        return await run_in_threadpool(
            ingest_emoncms, method.removesuffix(".json"), params, token, wants_json
        )

    def ingest_emoncms(
        method: str, params: dict[str, str], token: str | None, wants_json: bool
    ) -> Any:
        grant = grant_of(token)
        decode = decode_input_bulk if method == "bulk" else decode_input_post
        try:
            readings = decode(params, monitor.clock.now(), keys=emon_keys_of_mapping)
        except DecodeError as error:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
        if len(readings) > MAX_READINGS_PER_REQUEST:
            raise _too_many()
        key = grant.idempotency_key(f"emoncms:{_fingerprint(readings)}") if readings else None
        result = ingest_items(list(enumerate(readings)), grant, key, None, EMONCMS_ORIGIN)
        if result.rejected and not result.accepted:
            return JSONResponse(result.model_dump(mode="json"), status_code=422)
        if result.rejected:
            log.warning(
                "Emoncms input: %d of %d readings refused: %s",
                len(result.rejected),
                len(readings),
                "; ".join(f"{r.index} {r.field}: {r.reason}" for r in result.rejected[:5]),
            )
            if wants_json:
                return result
        if method == "post" and params.get("fulljson"):
            return JSONResponse({"success": True})
        return PlainTextResponse("ok")

    @router.get(
        "/api/v1/readings",
        response_model=ReadingPage,
        tags=["readings"],
        summary="Stored readings, filtered, newest first, paged by time",
        description=(
            "Readings newest first, at most `limit` per page; pass the answer's `next_end` "
            "as `end` for the next (older) page; with `expected=true` each reading also "
            "carries the range the current model expected each of its values in. Instants "
            "without a zone are UTC and must "
            f"lie between {QUERY_RANGE[0].date()} and {QUERY_RANGE[1].date()}; every "
            "parameter out of its rules is a 422 naming it."
        ),
        dependencies=read_guard,
        responses=read_problems,
    )
    def list_readings(
        start: Annotated[QueryInstant, Query(description="from, inclusive (ISO 8601)")] = None,
        end: Annotated[QueryInstant, Query(description="until, exclusive (ISO 8601)")] = None,
        meter: Annotated[
            list[MeterId] | None,
            Query(
                max_length=MAX_METERS_PER_QUERY,
                description=f"meter id, repeatable (up to {MAX_METERS_PER_QUERY})",
            ),
        ] = None,
        state: Annotated[
            Literal["normal", "anomalous"] | None,
            Query(description="the model's verdict: anomalous = flagged"),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000, description="readings per page")] = 100,
        expected: Annotated[
            bool,
            Query(
                description="also each reading's expected range per variable, from the "
                "current model (one more query per meter of the page)"
            ),
        ] = False,
    ) -> ReadingPage:
        if start is not None and end is not None and start > end:
            raise RequestValidationError(
                [
                    {
                        "type": "value_error",
                        "loc": ("query", "start"),
                        "msg": "start must not be after end",
                        "input": start.isoformat(),
                    }
                ]
            )
        where = ReadingFilter(start=start, end=end, meter_ids=tuple(meter or ()), state=state)
        try:
            # Bounded by what the storage rules accept: a row stored before them (year 1)
            # is left out rather than fed to date arithmetic.
            found = monitor.queries.latest(limit + 1, monitor.readable(where))
            page = found[:limit]
            bands: list[dict[str, tuple[float, float]] | None] = [None] * len(page)
            if expected:
                # In time order, as the detector reads them: the page's reverse.
                ranges = monitor.expected_ranges(page[::-1])
                bands = [*reversed(expected_per_reading(ranges, len(page)))]
        except unavailable_errors() as _:
            raise _unavailable() from None
        next_end = page[-1].timestamp if len(found) > limit else None
        items = [ReadingOut.of(r, band) for r, band in zip(page, bands, strict=True)]
        return ReadingPage(items=items, next_end=next_end)

    @router.get(
        "/api/v1/metrics/latest",
        response_model=MetricOut,
        tags=["metrics"],
        summary="The latest analysis (a row of metricas)",
        description=(
            "The newest analysis: totals, anomaly percentage, health state, precision, "
            "recall and F1 against ground truth when known, and the delta from the analysis "
            "before. 404 before the first analysis."
        ),
        dependencies=read_guard,
        responses={404: {"model": Problem, "description": "no analysis yet"}, **read_problems},
    )
    def latest_metrics() -> MetricOut:
        try:
            latest = monitor.analyses(1)
        except unavailable_errors() as _:
            raise _unavailable() from None
        if not latest:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no analysis yet: train, then detect")
        return MetricOut.of(latest[0])

    @router.get(
        "/healthz",
        response_model=Health,
        tags=["health"],
        summary="Database reachable, model present, ingest channels up",
        responses={503: {"model": Health, "description": "database unreachable or a channel down"}},
    )
    def healthz() -> Any:
        """For a load balancer or a monitor: ``ok`` (200) while the database answers and
        every ingest channel (MQTT under ``serve --mqtt``) is connected, else ``degraded``
        (503) with what is down; each channel's counts (messages, rejected, dropped)."""
        version: int | None = None
        try:
            version = monitor.model_version()
            monitor.queries.last_id()
            database = "ok" if application.mode == "postgres" else "not used"
        except unavailable_errors() as _:
            database = "unavailable"
        channels = {name: state() for name, state in application.channels.items()}
        body = Health.model_validate(
            {
                "status": "ok",
                "storage": application.mode,
                "database": database,
                "model_version": version,
                "channels": channels or None,
            }
        )
        down = [name for name, channel in (body.channels or {}).items() if not channel.up]
        if database == "unavailable" or down:
            body.status = "degraded"
        # Without channels the answer keeps its original shape (no "channels" key).
        shown = body.model_dump(mode="json", exclude=None if channels else {"channels"})
        return JSONResponse(shown, status_code=503 if body.status == "degraded" else 200)

    router.include_router(
        meters_router(
            application,
            dependencies=read_guard,
            responses=read_problems,
            unavailable=_unavailable,
        )
    )

    router.include_router(
        energy_router(
            application,
            dependencies=read_guard,
            responses=read_problems,
            unavailable=_unavailable,
        )
    )

    router.include_router(
        alerts_router(
            application,
            access=access,
            session=_dashboard_session,
            dependencies=read_guard,
            responses=read_problems,
            unavailable=_unavailable,
        )
    )

    schema: dict[str, Any] = {}

    # NiceGUI's app switches FastAPI's own docs off, so the API publishes its schema and docs
    # itself, under the same read access as the reads.
    @router.get("/openapi.json", include_in_schema=False, dependencies=read_guard)
    def openapi_schema() -> JSONResponse:
        if not schema:
            schema.update(
                get_openapi(
                    title=API_TITLE,
                    version=_version(),
                    description=API_DESCRIPTION,
                    routes=router.routes,
                )
            )
        return JSONResponse(schema)

    @router.get("/docs", include_in_schema=False, dependencies=read_guard)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{API_TITLE} — docs")

    return router


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("smartenergy")
    except PackageNotFoundError:
        return "0"
