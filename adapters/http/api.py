"""The HTTP API: one FastAPI application over one tracker, built by :func:`create_app`.

Pydantic lives here, at the edge, and nowhere else: request bodies are read into small models or
through the step catalogue, then the services of ``app.<service>`` are called with an Actor made
from the caller's token (``identity.py``). What a caller may do is decided by the domain's gates;
every refusal is a typed error, written as a problem document (``problems.py``).

HTTP semantics: ``Idempotency-Key`` is the command id (a replay answers ``Idempotent-Replayed:
true`` and writes nothing); ``ETag`` is the engagement's or cohort's version and a stale
``If-Match`` is 412 with nothing written; lists page by an opaque cursor (``next_cursor`` and a
``Link: rel="next"`` header); the audit export streams JSON Lines.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from engagement_tracker.adapters.bootstrap import analyst_service
from engagement_tracker.adapters.cli.rows import (
    PLAN_COLUMNS,
    TREND_COLUMNS,
    columns,
    dp_rows,
    policy_line,
    release_rows,
    trend_rows,
)
from engagement_tracker.adapters.http import problems
from engagement_tracker.adapters.http.identity import (
    ROLE_HEADER,
    SESSION_COOKIE,
    Caller,
    CallerRoute,
    Throttle,
    authenticate,
    bearer_of,
    claimed_role,
)
from engagement_tracker.adapters.http.metrics import Metrics
from engagement_tracker.adapters.http.steps import body_schema, parse_body
from engagement_tracker.adapters.runner import ProjectionRunner
from engagement_tracker.domain.access import hides_steps, require_admin, require_auditor
from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.domain.application.steps import COHORT_STEPS, ENGAGEMENT_STEPS, Step
from engagement_tracker.domain.command_ids import CommandResult
from engagement_tracker.domain.errors import EtrackError, InvalidInput
from engagement_tracker.domain.values import Actor
from engagement_tracker.domain.vocabulary import Role
from engagement_tracker.projections.anonymity import Release

ERRORS = problems.ERRORS
JSONL = "application/jsonl"
PARQUET = "application/vnd.apache.parquet"
#: The formats analysts' rows are served in, by Accept.
ROW_FORMATS = {"application/json": "json", "text/csv": "csv", JSONL: "jsonl", "application/x-ndjson": "jsonl",
               PARQUET: "parquet", "application/x-parquet": "parquet"}
_TEXT = {"schema": {"type": "string"}}
ROWS_RESPONSE: dict[int | str, dict[str, Any]] = {200: {
    "description": "released rows, in the format asked by Accept",
    "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "text/csv": _TEXT, JSONL: _TEXT, PARQUET: {"schema": {"type": "string", "format": "binary"}}},
}}
MAX_PAGE = 500
ICS = "text/calendar; charset=utf-8"
#: The served calendar feed; its token is a secret, so a problem document names this template, not the path.
CALENDAR_ROUTE = "/calendar/{token}.ics"
By = Annotated[str | None, Query(description="dimensions, comma-separated")]


class Server:
    """What every request shares: the tracker, the throttle, the metrics, and the embedded catch-up."""

    def __init__(self, tracker: EngagementTracker, project: bool, signing_key: Path | None = None) -> None:
        self.tracker = tracker
        self.project = project
        self.signing_key = signing_key  # a tenant's own checkpoint key (else ETRACK_AUDIT_SIGNING_KEY)
        self.throttle = Throttle()
        self.metrics = Metrics()
        #: ``/readyz`` and ``/metrics`` answer auditors and admins only (a tenant's, under --all-tenants: a
        #: stranger must not learn from them that the tenant exists); else anyone (a single store's server)
        self.private_operations = False
        self._catching_up = threading.Lock()

    def caught_up(self) -> None:
        """Embedded mode (SQLite, memory): the read models follow each write in this process."""
        if self.project:
            with self._catching_up:
                ProjectionRunner(self.tracker).catch_up()


#: The scope key naming a request's Server when one application serves every tenant (``tenancy.py``).
SERVER_KEY = "etrack.server"


def server_of(request: Request) -> Server:
    """The request's Server: its tenant's (``SERVER_KEY``, under --all-tenants), else the application's one."""
    found: Server = request.scope.get(SERVER_KEY) or request.app.state.server
    return found


def caller(request: Request,
           authorization: Annotated[str | None, Header(description="Bearer etk_...")] = None,
           etrack_role: Annotated[str | None, Header(alias=ROLE_HEADER, description="the role to act in")] = None,
           ) -> Caller:
    """The party a request's token (or session cookie) identifies, and the role it claims."""
    server = server_of(request)
    secret = bearer_of(authorization)
    if secret is None and request.method in ("GET", "HEAD"):  # the pages' session reads; a write needs the header
        secret = request.cookies.get(SESSION_COOKIE)
    address = request.client.host if request.client else "unknown"
    identity = authenticate(server.tracker, server.throttle, secret, address)
    return Caller(server.tracker, identity, claimed_role(etrack_role))


Who = Annotated[Caller, Depends(caller)]
Authorization = Annotated[str | None, Header(description="Bearer etk_... (a tenant's /readyz and /metrics)")]


def operations_of(request: Request, authorization: str | None) -> Server:
    """The request's Server for ``/readyz`` and ``/metrics``: to anyone, unless its operations are private
    (a tenant's under --all-tenants), then to its auditors and admins holding the grant now."""
    server = server_of(request)
    if server.private_operations:
        who = caller(request, authorization)
        require_auditor(who.granted((Role.AUDITOR, Role.ADMIN)), "read this tenant's readiness and metrics",
                        server.tracker.held_grants)
    return server
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", description="the command id: a retry records "
                                              "nothing twice", max_length=128)]
IfMatch = Annotated[str | None, Header(alias="If-Match", description="the version (ETag) the write expects")]


def plain(value: Any) -> Any:
    """A value as JSON can carry it (ids, dates, attrs objects as text)."""
    return json.loads(json.dumps(value, default=str))


def outcome(server: Server, response: Response, result: CommandResult[Any], value: Any = None,
            etag: int | str | None = None) -> dict[str, Any]:
    """A command's outcome as the response: its status, id, versions; replays say so in a header."""
    server.caught_up()
    response.headers["Idempotent-Replayed"] = "false" if result.recorded_now else "true"
    if etag is None and result.versions:
        etag = result.versions[-1]
    if etag is not None:
        response.headers["ETag"] = f'"{etag}"'
    return {"status": result.status, "command_id": result.command_id,
            "aggregate_id": None if result.aggregate_id is None else str(result.aggregate_id),
            "versions": list(result.versions), "value": plain(result.value if value is None else value)}


def require_fresh(if_match: str | None, current: int | str) -> None:
    """A stale If-Match refuses the write before anything is decided (412)."""
    if if_match is None or if_match.strip() == "*":
        return
    wanted = [tag.strip().removeprefix("W/").strip('"') for tag in if_match.split(",")]
    if str(current) not in wanted:
        raise problems.PreconditionFailed(if_match[:40], current)


def view_tag(view: dict[str, Any]) -> str:
    """The ETag of a view that hides the version (a sponsor's: ``access.hides_steps``): a digest of what
    the caller sees, so that it changes when that does and tells nothing of the steps it hides."""
    canonical = json.dumps(plain(view), sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return "v-" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def etag_of(view: dict[str, Any]) -> str:
    """A view's ETag: its version where the caller's scope shows it, else the digest of the view."""
    shown = view.get("version")
    return view_tag(view) if shown is None else str(shown)


def page_of(request: Request, response: Response, rows: list[Any], cursor: str | None, limit: int) -> dict[str, Any]:
    """One page of ``rows`` from ``cursor`` (an offset, opaque to clients)."""
    start = _cursor(cursor)
    items = rows[start:start + limit]
    following = start + limit if start + limit < len(rows) else None
    if following is not None:
        response.headers["Link"] = f'<{request.url.include_query_params(cursor=str(following))}>; rel="next"'
    return {"items": plain(items), "next_cursor": None if following is None else str(following)}


def _cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit() or len(cursor) > 12:
        raise InvalidInput("cursor", "expected the next_cursor of a previous page")
    return int(cursor)


def rows_response(request: Request, rows: list[dict[str, Any]], cols: list[str]) -> Response:
    """Released rows in the format Accept asks for: JSON (default), CSV, JSON Lines or Parquet."""
    fmt = "json"
    for part in request.headers.get("accept", "application/json").split(","):
        media = part.split(";")[0].strip().lower()
        if media in ROW_FORMATS:
            fmt = ROW_FORMATS[media]
            break
    shaped = [{c: r.get(c) for c in cols} for r in rows]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(shaped)
        return Response(buf.getvalue(), media_type="text/csv")
    if fmt == "jsonl":
        return Response("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in shaped), media_type=JSONL)
    if fmt == "parquet":
        from engagement_tracker.adapters.cli.output import to_parquet

        return Response(to_parquet(shaped, cols), media_type=PARQUET)
    return JSONResponse(plain(shaped))


# --- request bodies (the edge's models) -----------------------------------------------------------

class PartyIn(BaseModel):
    kind: str = Field(description="person or team")
    name: str = Field(description="sealed under the party's own key")
    contact: str | None = None


class GrantIn(BaseModel):
    party: UUID
    role: str = Field(description="admin, auditor, analyst or coach")
    reason: str | None = None


class TokenIn(BaseModel):
    party: UUID
    expires_days: int | None = Field(default=None, ge=1, le=3660, description="valid for this many days (none: until revoked)")
    label: str | None = None


class EngagementIn(BaseModel):
    coachee: UUID
    sponsor: UUID
    sponsor_function: str
    org_unit: str
    template: str | None = Field(default=None, description="a programme template's name (GET /templates)")


class CohortIn(BaseModel):
    org_unit: str
    name: str
    template: str | None = Field(default=None, description="a programme template's name (GET /templates)")


class IndicatorTemplateIn(BaseModel):
    objective: str = Field(description="O1, O2, ...: the objective it tracks, by its place in the list")
    kind: str = Field(description="observable_result or organisation_performance")
    label: str
    unit: str


class TemplateIn(BaseModel):
    name: str
    kind: str = Field(description="engagement or cohort")
    objectives: list[str] | None = Field(default=None, description="an engagement template's objectives")
    indicators: list[IndicatorTemplateIn] | None = None
    rituals: list[str] | None = Field(default=None, description="a cohort template's rituals")
    roles: list[str] | None = Field(default=None, description="a cohort template's rotating roles")


class DpIn(BaseModel):
    epsilon: float = Field(description="the release's privacy loss, (epsilon, delta)-DP at the deployment's delta "
                                       "(above 0, at most 10); the budget pays its rho (zCDP)")
    by: str | None = "theme,period"
    unit: str | None = None
    period: str = "month"
    since: str | None = None
    until: str | None = None


class BudgetIn(BaseModel):
    analyst: UUID
    rho: float = Field(description="the zCDP privacy loss to add (above 0, at most 50)")


class CalendarIn(BaseModel):
    shapes: str | list[str] = Field(description="FAMILY:DIM[,DIM...] joined by ';', or a list of them, "
                                                "e.g. 'activity:metric; signal:theme,period; signal:context'")
    period: str = Field("quarter", description="the periods the calendar releases its shapes for: month, quarter or year")


def _step_route(router: APIRouter, kind: str, step: Step, locate: Callable[[Caller, UUID], Any],
                service: Callable[[EngagementTracker], Any], version: Callable[[EngagementTracker, UUID], int]) -> None:
    """``POST /{kind}s/{id}/steps/{step}``: the body the catalogue declares, dispatched through it."""

    def take(request: Request, response: Response, target: UUID, who: Who, body: Annotated[Any, Body()] = None,
             idempotency_key: IdempotencyKey = None, if_match: IfMatch = None) -> dict[str, Any]:
        server = server_of(request)
        arguments = parse_body(step, body)
        actor = locate(who, target)
        if hides_steps(actor.role):  # a sponsor: the version is hidden, its ETag is its view's digest
            require_fresh(if_match, view_tag(service(server.tracker).view(target, actor)))
            result = step.take(service(server.tracker), target, actor, command_id=idempotency_key, **arguments)
            return outcome(server, response, result, etag=view_tag(service(server.tracker).view(target, actor)))
        require_fresh(if_match, version(server.tracker, target))
        result = step.take(service(server.tracker), target, actor, command_id=idempotency_key, **arguments)
        return outcome(server, response, result)

    take.__name__ = f"{kind}_{step.name}"
    router.add_api_route(
        f"/{kind}s/{{target}}/steps/{step.name}", take, methods=["POST"], summary=step.summary,
        description=f"{step.summary} Taken by: {', '.join(step.roles)}.", tags=[f"{kind} steps"],
        openapi_extra={"requestBody": {"required": any(p.required for p in step.parameters),
                                       "content": {"application/json": {"schema": body_schema(step)}}}},
        responses=ERRORS,
    )


def api_router() -> APIRouter:
    router = APIRouter(responses=ERRORS, route_class=CallerRoute)

    # --- who am I ------------------------------------------------------------------------------
    @router.get("/me", tags=["identity"], summary="The caller: party, grants held now, engagements and cohorts")
    def me(who: Who) -> dict[str, Any]:
        grants = sorted(who.app.held_grants().get(str(who.party), frozenset()))
        return {"party": str(who.party), "grants": grants, "places": who.places()}

    # --- parties, grants, tokens (admins) ------------------------------------------------------
    @router.post("/parties", status_code=201, tags=["admin"], summary="Register a person or a team (admins)")
    def register_party(request: Request, response: Response, body: PartyIn, who: Who,
                       idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
        server = server_of(request)
        require_admin(who.granted((Role.ADMIN,)), "register a party", server.tracker.held_grants)
        result = server.tracker.parties.register(body.kind, body.name, body.contact, command_id=idempotency_key)
        return outcome(server, response, result)

    @router.get("/parties", tags=["admin"], summary="Every party: id, kind, erased, grants (admins)")
    def list_parties(request: Request, response: Response, who: Who, cursor: str | None = None,
                     limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> dict[str, Any]:
        rows = server_of(request).tracker.parties.list(who.granted((Role.ADMIN,)))
        return page_of(request, response, rows, cursor, limit)

    @router.post("/parties/{party_id}/erase", tags=["admin"],
                 summary="Erase a person or team (GDPR): record it, revoke their grants, destroy their key (admins)")
    def erase_party(request: Request, response: Response, party_id: UUID, who: Who,
                    idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
        server = server_of(request)
        result = server.tracker.parties.erase(party_id, who.granted((Role.ADMIN,)), command_id=idempotency_key)
        return outcome(server, response, result)

    @router.get("/grants", tags=["admin"], summary="Who holds which organisation-wide role now (auditors, admins)")
    def grants(request: Request, who: Who) -> dict[str, Any]:
        held = server_of(request).tracker.access.grants(who.granted((Role.ADMIN, Role.AUDITOR)))
        return {party: sorted(roles) for party, roles in held.items()}

    @router.post("/grants", status_code=201, tags=["admin"], summary="Grant a role to a party (admins)")
    def grant(request: Request, response: Response, body: GrantIn, who: Who,
              idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
        server = server_of(request)
        result = server.tracker.access.grant(body.party, body.role, who.granted((Role.ADMIN,)), body.reason,
                                             command_id=idempotency_key)
        return outcome(server, response, result)

    @router.delete("/grants/{party}/{role}", tags=["admin"], summary="Revoke a role from a party (admins)")
    def revoke(request: Request, response: Response, party: UUID, role: str, who: Who,
               idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
        server = server_of(request)
        result = server.tracker.access.revoke(party, role, who.granted((Role.ADMIN,)), command_id=idempotency_key)
        return outcome(server, response, result)

    @router.get("/access/history", tags=["admin"], summary="Every grant, revocation and token (auditors, admins)")
    def access_history(request: Request, response: Response, who: Who, cursor: str | None = None,
                       limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> dict[str, Any]:
        rows = server_of(request).tracker.access.history(who.granted((Role.ADMIN, Role.AUDITOR)))
        return page_of(request, response, rows, cursor, limit)

    @router.post("/tokens", status_code=201, tags=["admin"],
                 summary="Issue a token identifying a party (admins); the secret is in this answer only")
    def issue_token(request: Request, response: Response, body: TokenIn, who: Who,
                    idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
        from datetime import timedelta

        server = server_of(request)
        lifetime = None if body.expires_days is None else timedelta(days=body.expires_days)
        result = server.tracker.access.issue_token(body.party, who.granted((Role.ADMIN,)), lifetime, body.label,
                                                   command_id=idempotency_key)
        issued = result.value
        response.headers["Cache-Control"] = "no-store"
        return outcome(server, response, result, {"token": issued.token, "party": issued.party,
                                                  "expires_at": issued.expires_at, "secret": issued.secret})

    @router.get("/tokens", tags=["admin"], summary="Every token issued: never a secret (admins)")
    def list_tokens(request: Request, response: Response, who: Who, party: UUID | None = None, cursor: str | None = None,
                    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> dict[str, Any]:
        rows = server_of(request).tracker.access.tokens(who.granted((Role.ADMIN,)), party)
        return page_of(request, response, rows, cursor, limit)

    @router.delete("/tokens/{token}", tags=["admin"], summary="Revoke a token (admins)")
    def revoke_token(request: Request, response: Response, token: UUID, who: Who,
                     idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
        server = server_of(request)
        result = server.tracker.access.revoke_token(token, who.granted((Role.ADMIN,)), command_id=idempotency_key)
        return outcome(server, response, result)

    # --- engagements ---------------------------------------------------------------------------
    @router.post("/engagements", status_code=201, tags=["engagements"], summary="Open an engagement (a coach)")
    def open_engagement(request: Request, response: Response, body: EngagementIn, who: Who,
                        idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
        server = server_of(request)
        result = server.tracker.engagements.open(who.as_(Role.COACH), body.coachee, body.sponsor, body.sponsor_function,
                                                 body.org_unit, template=body.template, command_id=idempotency_key)
        return outcome(server, response, result, etag=1)

    @router.get("/engagements/{engagement_id}", tags=["engagements"], summary="An engagement, as the caller may see it")
    def view_engagement(request: Request, response: Response, engagement_id: UUID, who: Who) -> dict[str, Any]:
        tracker = server_of(request).tracker
        view = tracker.engagements.view(engagement_id, who.in_engagement(engagement_id))
        response.headers["ETag"] = f'"{etag_of(view)}"'
        return plain(view)  # type: ignore[no-any-return]

    @router.get("/engagements/{engagement_id}/timeline", tags=["engagements"],
                summary="Every recorded step the caller may see, page by page")
    def timeline(request: Request, response: Response, engagement_id: UUID, who: Who, cursor: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> dict[str, Any]:
        rows = server_of(request).tracker.engagements.timeline(engagement_id, who.in_engagement(engagement_id))
        return page_of(request, response, rows, cursor, limit)

    for step in ENGAGEMENT_STEPS.values():
        if step.command is not None and step.name != "open":
            _step_route(router, "engagement", step, lambda who, target: who.in_engagement(target),
                        lambda app: app.engagements, lambda app, target: app.engagements.get(target).version)

    # --- cohorts -------------------------------------------------------------------------------
    @router.post("/cohorts", status_code=201, tags=["cohorts"], summary="Open a cohort (a coach)")
    def open_cohort(request: Request, response: Response, body: CohortIn, who: Who,
                    idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
        server = server_of(request)
        result = server.tracker.cohorts.open(who.as_(Role.COACH), body.org_unit, body.name, template=body.template,
                                             command_id=idempotency_key)
        return outcome(server, response, result, etag=1)

    @router.get("/cohorts/{cohort_id}", tags=["cohorts"], summary="A cohort, as the caller may see it")
    def view_cohort(request: Request, response: Response, cohort_id: UUID, who: Who) -> dict[str, Any]:
        tracker = server_of(request).tracker
        view = tracker.cohorts.view(cohort_id, who.in_cohort(cohort_id))
        response.headers["ETag"] = f'"{etag_of(view)}"'
        return plain(view)  # type: ignore[no-any-return]

    for step in COHORT_STEPS.values():
        if step.command is not None and step.name != "open":
            _step_route(router, "cohort", step, lambda who, target: who.in_cohort(target),
                        lambda app: app.cohorts, lambda app, target: app.cohorts.get(target).version)

    # --- coach hours ---------------------------------------------------------------------------
    @router.get("/coach-hours", tags=["coaches"], summary="A coach's ICF hours log (the coach; auditors name the coach)")
    def coach_hours(request: Request, who: Who, coach: UUID | None = None) -> dict[str, Any]:
        viewer = who.granted((Role.COACH, Role.AUDITOR, Role.ADMIN))
        return plain(server_of(request).tracker.engagements.coach_hours(viewer, coach))  # type: ignore[no-any-return]

    @router.get("/coach-load", tags=["coaches"],
                summary="A coach's active team engagements against the capacity policy (the coach; admins name one)")
    def coach_load(request: Request, who: Who, coach: UUID | None = None) -> dict[str, Any]:
        viewer = who.granted((Role.COACH, Role.ADMIN))
        return plain(server_of(request).tracker.engagements.coach_load(viewer, coach))  # type: ignore[no-any-return]

    # --- analysts: released aggregates only ----------------------------------------------------
    def release(request: Request, rel: Any) -> Response:
        if isinstance(rel, Release):
            return rows_response(request, release_rows(rel), columns(rel.by))
        # what the CLI prints on stderr: the policy, stated even when no row is (an empty [] or CSV)
        answer = rows_response(request, dp_rows(rel), columns(rel.by, dp=True))
        answer.headers["Etrack-Release-Policy"] = policy_line(rel)
        return answer

    @router.get("/signals/summary", tags=["analysts"], responses=ROWS_RESPONSE, response_class=Response,
                summary="Signal counts per released cell (k persons each)")
    def signals_summary(request: Request, who: Who, by: By = "theme,period", unit: str | None = None,
                        period: str = "month", k: int | None = None, since: str | None = None,
                        until: str | None = None) -> Response:
        service = analyst_service(server_of(request).tracker)
        viewer = who.granted((Role.ANALYST, Role.ADMIN))
        # the response is made inside the unit of work: a call that fails records and spends nothing
        return service.atomically(lambda: release(request, service.summary(viewer, by, unit, period, k, since, until)))

    @router.post("/signals/dp-releases", tags=["analysts"], responses=ROWS_RESPONSE, response_class=Response,
                 summary="A differentially private signal summary, paid from the analyst's privacy budget")
    def signals_dp(request: Request, body: DpIn, who: Who) -> Response:
        server = server_of(request)
        service = analyst_service(server.tracker)
        viewer = who.granted((Role.ANALYST, Role.ADMIN))
        made = service.atomically(lambda: release(request, service.summary(
            viewer, body.by, body.unit, body.period, None, body.since, body.until, "dp", body.epsilon)))
        server.caught_up()  # paid at the end of the unit: the budget's events, then the answer
        return made

    @router.get("/signals/trends", tags=["analysts"], responses=ROWS_RESPONSE, response_class=Response,
                summary="Per theme: rising, stable or falling (from released values)")
    def signals_trends(request: Request, who: Who, unit: str | None = None, period: str = "month", k: int | None = None,
                       since: str | None = None, until: str | None = None) -> Response:
        service = analyst_service(server_of(request).tracker)
        viewer = who.granted((Role.ANALYST, Role.ADMIN))
        return service.atomically(lambda: rows_response(request, trend_rows(service.trends(viewer, unit, period, k, since,
                                                                                            until)), list(TREND_COLUMNS)))

    @router.get("/activity", tags=["analysts"], responses=ROWS_RESPONSE, response_class=Response,
                summary="Activity indicators per released cell")
    def activity(request: Request, who: Who, by: By = "metric,period", unit: str | None = None, period: str = "quarter",
                 k: int | None = None, since: str | None = None, until: str | None = None) -> Response:
        service = analyst_service(server_of(request).tracker)
        viewer = who.granted((Role.ANALYST, Role.ADMIN))
        return service.atomically(lambda: release(request, service.activity(viewer, by, unit, period, k, since, until)))

    @router.get("/testimonials", tags=["analysts"], responses=ROWS_RESPONSE, response_class=Response,
                summary="Testimonial ratings per released cell (never the texts)")
    def testimonials(request: Request, who: Who, by: By = "metric,period", unit: str | None = None,
                     period: str = "quarter", k: int | None = None, since: str | None = None,
                     until: str | None = None) -> Response:
        service = analyst_service(server_of(request).tracker)
        viewer = who.granted((Role.ANALYST, Role.ADMIN))
        return service.atomically(lambda: release(request, service.testimonials(viewer, by, unit, period, k, since,
                                                                                until)))

    @router.get("/testimonials/quotes", tags=["analysts"],
                summary="Texts their authors consented to have quoted: the quarter and the text, never a person")
    def testimonial_quotes(request: Request, who: Who) -> list[dict[str, Any]]:
        viewer = who.granted((Role.ANALYST, Role.ADMIN))
        return plain(server_of(request).tracker.engagements.testimonial_quotes(viewer))  # type: ignore[no-any-return]

    @router.get("/budgets", tags=["analysts"], summary="A privacy budget: an analyst's own, or (admins) anyone's")
    def budget(request: Request, who: Who, analyst: UUID | None = None) -> dict[str, Any]:
        return server_of(request).tracker.budgets.balance(who.granted((Role.ANALYST, Role.ADMIN)), analyst)

    @router.post("/budgets", status_code=201, tags=["admin"], summary="Add rho (zCDP) to an analyst's budget (admins)")
    def grant_budget(request: Request, response: Response, body: BudgetIn, who: Who,
                     idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
        server = server_of(request)
        result = server.tracker.budgets.grant(body.analyst, body.rho, who.granted((Role.ADMIN,)),
                                              command_id=idempotency_key)
        return outcome(server, response, result)

    # --- planning releases: the planner, the DP preview, the release calendar ----------------------
    @router.get("/releases/plan", tags=["analysts"], responses=ROWS_RESPONSE, response_class=Response,
                summary="For the shapes analysts ask most over a period: releasable, closed, reserved, empty or cut")
    def releases_plan(request: Request, who: Who, period: str, unit: str | None = None, k: int | None = None) -> Response:
        """``etrack releases plan``: each status found by a trial that records nothing."""
        plan = analyst_service(server_of(request).tracker).plan(who.granted((Role.ANALYST, Role.ADMIN)), period, unit, k)
        return rows_response(request, plan, list(PLAN_COLUMNS))

    @router.get("/signals/dp-preview", tags=["analysts"],
                summary="What a differentially private release at epsilon would give, before spending anything")
    def signals_dp_preview(request: Request, who: Who, epsilon: float) -> dict[str, Any]:
        """Free, and it touches no data: the mechanism, the noise, the threshold and each cell's 95% interval."""
        preview = analyst_service(server_of(request).tracker).preview(who.granted((Role.ANALYST, Role.ADMIN)), epsilon)
        return plain(preview)  # type: ignore[no-any-return]

    @router.get("/releases/calendar", tags=["analysts"],
                summary="The release calendar: its period, its shapes, and the periods recorded (analysts, admins)")
    def release_calendar(request: Request, who: Who) -> dict[str, Any]:
        return server_of(request).tracker.release_calendar.show(who.granted((Role.ANALYST, Role.ADMIN)))

    @router.put("/releases/calendar", tags=["admin"],
                summary="Declare the shapes released each period (admins); periods recorded keep their releases")
    def set_release_calendar(request: Request, response: Response, body: CalendarIn, who: Who,
                             idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
        server = server_of(request)
        admin = who.granted((Role.ADMIN,))
        result = server.tracker.release_calendar.set(body.shapes, admin, body.period, command_id=idempotency_key)
        return outcome(server, response, result, server.tracker.release_calendar.show(admin))

    # --- programme templates ---------------------------------------------------------------------
    @router.post("/templates", status_code=201, tags=["admin"],
                 summary="Declare a programme template, or its next version (admins)")
    def declare_template(request: Request, response: Response, body: TemplateIn, who: Who,
                         idempotency_key: IdempotencyKey = None) -> dict[str, Any]:
        server = server_of(request)
        indicators = None if body.indicators is None else [i.model_dump() for i in body.indicators]
        result = server.tracker.templates.declare(body.name, body.kind, who.granted((Role.ADMIN,)),
                                                  objectives=body.objectives, indicators=indicators,
                                                  rituals=body.rituals, roles=body.roles, command_id=idempotency_key)
        return outcome(server, response, result)

    @router.get("/templates", tags=["engagements"], summary="Every programme template's latest version (admins, coaches)")
    def list_templates(request: Request, who: Who, kind: str | None = None) -> list[dict[str, Any]]:
        rows = server_of(request).tracker.templates.list(who.granted((Role.ADMIN, Role.COACH)), kind)
        return plain(rows)  # type: ignore[no-any-return]

    # --- calendars (issue #27) ------------------------------------------------------------------
    @router.get(CALENDAR_ROUTE, tags=["calendars"], response_class=Response,
                responses={200: {"description": "the person's iCalendar feed (RFC 5545)",
                                 "content": {ICS: _TEXT}}},
                summary="A person's calendar feed: their sessions and deadlines, nothing confidential")
    def calendar_feed(request: Request, token: str) -> Response:
        """The token in the path (a calendar app sends no header) identifies the person whose feed this is:
        an admin issues them one for it (``etrack token issue PARTY --label calendar``). An unknown,
        revoked or expired token, or an erased person's, is a 401 problem document and no feed; the token
        is never echoed, logged, nor counted by path (``/metrics`` counts the route's template)."""
        from engagement_tracker.adapters.calendar_feed import ics_of

        server = server_of(request)
        address = request.client.host if request.client else "unknown"
        party = authenticate(server.tracker, server.throttle, token, address).party
        now = server.tracker.now()
        data = ics_of(server.tracker.calendars.entries(party, Actor(party, Role.COACHEE), now), now)
        return Response(data, media_type=ICS, headers={"Cache-Control": "private, no-store"})

    # --- audit ---------------------------------------------------------------------------------
    Auditor = (Role.AUDITOR, Role.ADMIN)

    @router.get("/audit/entries", tags=["audit"], summary="The audit trail, page by page (auditors, admins)")
    def audit_entries(request: Request, response: Response, who: Who, cursor: str | None = None,
                      limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> dict[str, Any]:
        start = _cursor(cursor) or 1
        entries = server_of(request).tracker.audit.entries(who.granted(Auditor), start, limit + 1)
        following = entries[limit].position if len(entries) > limit else None
        if following is not None:
            response.headers["Link"] = f'<{request.url.include_query_params(cursor=str(following))}>; rel="next"'
        return {"items": [e.to_dict() for e in entries[:limit]], "next_cursor": None if following is None else str(following)}

    @router.get("/audit/export", tags=["audit"], response_class=StreamingResponse,
                responses={200: {"description": "the trail as JSON Lines, streamed", "content": {JSONL: _TEXT}}},
                summary="The whole trail as JSON Lines, streamed (auditors, admins)")
    def audit_export(request: Request, who: Who) -> StreamingResponse:
        tracker = server_of(request).tracker
        viewer = who.granted(Auditor)
        tracker.audit.entries(viewer, 1, 1)  # the gate, before the first byte is sent (a refusal is a 403)
        return StreamingResponse(_streamed(lambda out: tracker.audit.export(viewer, out)), media_type=JSONL)

    @router.get("/audit/verify", tags=["audit"], summary="Every record against its chain and seal (auditors, admins)")
    def audit_verify(request: Request, who: Who) -> dict[str, Any]:
        report = server_of(request).tracker.audit.verify(who.granted(Auditor))
        return {"ok": bool(report.ok), "report": plain(getattr(report, "__dict__", {}) or str(report))}

    @router.post("/audit/checkpoints", status_code=201, tags=["audit"],
                 summary="A signed checkpoint of the trail (the server's ETRACK_AUDIT_SIGNING_KEY)")
    def audit_checkpoint(request: Request, who: Who) -> dict[str, Any]:
        from engagement_tracker.adapters.audit import load_signing_key

        tracker = server_of(request).tracker
        viewer = who.granted(Auditor)
        tracker.audit.entries(viewer, 1, 1)  # the gate first: no key is read for a refused caller
        return plain(tracker.audit.checkpoint(viewer, load_signing_key(server_of(request).signing_key)))  # type: ignore[no-any-return]

    @router.get("/audit/bundles/{aggregate_id}", tags=["audit"],
                summary="Every record of one engagement or cohort with its inclusion proof (auditors, admins)")
    def audit_bundle(request: Request, aggregate_id: UUID, who: Who) -> dict[str, Any]:
        from engagement_tracker.adapters.audit import load_signing_key

        tracker = server_of(request).tracker
        viewer = who.granted(Auditor)
        tracker.audit.entries(viewer, 1, 1)  # the gate first: no key is read for a refused caller
        return plain(tracker.audit.prove(viewer, aggregate_id, signing_key=load_signing_key(server_of(request).signing_key)))  # type: ignore[no-any-return]

    @router.get("/audit/consistency", tags=["audit"], summary="A consistency proof between two tree sizes")
    def audit_consistency(request: Request, who: Who, old: Annotated[int, Query(ge=0)],
                          new: Annotated[int | None, Query(ge=0)] = None) -> dict[str, Any]:
        return plain(server_of(request).tracker.audit.consistency(who.granted(Auditor), old, new))  # type: ignore[no-any-return]

    @router.get("/replay/{aggregate_id}", tags=["audit"], summary="A past state, at a version or a time (sealed shown sealed)")
    def replay(request: Request, aggregate_id: UUID, who: Who, version: Annotated[int | None, Query(ge=1)] = None,
               at: datetime | None = None) -> dict[str, Any]:
        return plain(server_of(request).tracker.replay(aggregate_id, who.granted(Auditor), version, at))  # type: ignore[no-any-return]

    return router


def _streamed(write: Callable[[Any], object]) -> Iterator[bytes]:
    """Run ``write(out)`` in a thread, yielding what it writes as it writes it (bounded buffer)."""
    lines: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=256)

    class Out:
        def write(self, text: str) -> int:
            lines.put(text.encode("utf-8"))
            return len(text)

        def flush(self) -> None:
            return None

    def run() -> None:
        try:
            write(Out())
        except BaseException as exc:  # the stream ends short; the client sees no closing chunk
            lines.put(exc)
        else:
            lines.put(None)

    threading.Thread(target=run, name="etrack-export", daemon=True).start()
    while True:
        item = lines.get()
        if item is None:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


def health_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="The store answers (under --all-tenants: the tenant's auditors and admins)",
                responses=problems.responses(503))
    def readyz(request: Request, authorization: Authorization = None) -> dict[str, Any]:
        tracker = operations_of(request, authorization).tracker
        return {"status": "ready", "position": tracker.recorder.max_notification_id() or 0}

    @router.get("/metrics", summary="Prometheus text format (under --all-tenants: the tenant's auditors and admins)",
                response_class=PlainTextResponse)
    def metrics(request: Request, authorization: Authorization = None) -> PlainTextResponse:
        return PlainTextResponse(operations_of(request, authorization).metrics.render(),
                                 media_type="text/plain; version=0.0.4")

    return router


def install_handlers(app: FastAPI) -> None:
    """One handler writes every failure as a problem document."""

    def respond(request: Request, exc: BaseException) -> Response:
        root = request.scope.get("root_path", "")  # /tenants/{tenant} under --all-tenants (tenancy.py)
        path = request.url.path
        route = path[len(root):] if root and path.startswith(root) else path
        status, doc, headers = problems.problem(exc, root + CALENDAR_ROUTE if route.startswith("/calendar/") else path)
        page: Callable[..., Response] | None = getattr(request.app.state, "html_errors", None)
        if page is not None and route.startswith(("/pages", "/signin", "/signout", "/me/page")):
            return page(status, doc, headers, root)
        return JSONResponse(doc, status_code=status, headers=headers, media_type=problems.PROBLEM)

    async def typed(request: Request, exc: Exception) -> Response:
        return respond(request, exc)

    async def invalid(request: Request, exc: Exception) -> Response:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
        return respond(request, InvalidInput(where, str(first.get("msg", "malformed request"))))

    async def http(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        doc = {"type": "about:blank", "title": str(getattr(exc, "detail", "")), "status": status,
               "detail": str(getattr(exc, "detail", ""))}
        return JSONResponse(doc, status_code=status, media_type=problems.PROBLEM, headers=getattr(exc, "headers", None))

    app.add_exception_handler(EtrackError, typed)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http)
    app.add_exception_handler(Exception, typed)


def timed(app: FastAPI) -> None:
    """Every request counted and timed by route (``/metrics``); the Authorization header is never read here."""

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Any]) -> Response:
        started = time.perf_counter()
        try:
            response: Response = await call_next(request)
        except Exception:
            server_of(request).metrics.observe(request.method, "unhandled", 500, time.perf_counter() - started)
            raise
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        server_of(request).metrics.observe(request.method, path, response.status_code, time.perf_counter() - started)
        return response
