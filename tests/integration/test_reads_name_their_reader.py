"""Every read names its reader and passes a gate in domain/access.py, deny by default (issue #21, item 6).

The command line's list is the click tree: every command either takes ``--as`` (then it is run
without a reader: a usage error naming --as, exit 2; and with a reader lacking the grant or the
role in that record: NotPermitted, exit 3; nothing printed to stdout) or is listed below as
reading nothing a grant guards, with why. The Python list is the public methods of the
application and its composed services: each one that reads takes a ``viewer`` and is called
without one (a typed InvalidInput) and with one lacking the grant (NotPermitted); a command
takes its actor; the store's own plumbing is listed with why. A new command or method that
fits none of these fails here until it names its reader.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.application import Application

from engagement_tracker.adapters.cli import cli
from engagement_tracker.domain import Actor, NotPermitted, Role
from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.domain.application.analysts import AnalystService
from engagement_tracker.domain.application.audit import AuditService
from engagement_tracker.domain.application.budget_commands import BudgetService
from engagement_tracker.domain.application.cohort_commands import CohortService
from engagement_tracker.domain.application.engagement_commands import EngagementService
from engagement_tracker.domain.application.grant_commands import AccessService
from engagement_tracker.domain.application.parties import PartyService
from engagement_tracker.domain.application.release_calendar import ReleaseCalendarService
from engagement_tracker.domain.errors import InvalidInput
from tests.integration.test_out_files import Store, etrack
from tests.support import Cast, CohortCast, FakeClock, drive, frame_cohort, granted, new_tracker, open_engagement

# --- the command line ----------------------------------------------------------------------------------


def leaves(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(group)
    for name in sorted(group.list_commands(ctx)):  # the lazy group imports each command when asked for it
        command = group.get_command(ctx, name)
        assert command is not None, name
        path = (*prefix, name)
        if isinstance(command, click.Group):
            yield from leaves(command, path)
        else:
            yield " ".join(path), command


#: Commands that take no reader, and why: none of them prints what a grant guards.
NO_READER = {
    "audit check-bundle": "checks a bundle file offline against a public key; opens no store",
    "audit keygen": "writes a new key file; opens no store",
    "audit vkey": "prints the public verifier key of a key file; opens no store",
    "audit witness add-checkpoint": "a witness's decision on its own state file, with its own key; opens no store",
    "audit witness add-log": "adds a log's public key to a witness's state file; opens no store",
    "audit witness init": "writes a witness's key and empty state; opens no store",
    "audit witness serve": "a witness answering on its own state and key; opens no store",
    "demo": "records the sample store and prints the sample it recorded (its own, public, data)",
    "import template": "writes an import layout's header line: code, not data; opens no store",
    "init": "the first admin, refused once a store has one; prints only the new admin's id",
    "new-cipher-key": "prints a random key; opens no store",
    "new-record-key": "prints a random key; opens no store",
    "party register": "a write that prints the new party's id only",
    "projections rebuild": "an operator's maintenance: prints counts and the trail's head hash, no content",
    "projections run": "an operator's maintenance: prints counts only",
    "serve": "the HTTP server: each request names its reader by its token (tests/integration/test_http_permissions.py)",
    "projections status": "an operator's maintenance: positions and lag per store, counts only",
    "tenant create": "an operator's: makes a tenant's empty store and keys; prints its name and where they are",
    "tenant list": "the tenants' names and store URLs (no data of any tenant)",
    "steps": "the step catalogue: code, not data",
    "tick": "the deadline clock's write (the system role); prints which deadline of which id fell due",
    "workflow diagram": "the workflow definition: code, not data",
}

#: Per command taking --as: its arguments, and the reader that lacks the grant (or the role in that record).
CLI_READS: dict[str, tuple[Callable[[Store, Path], list[str]], Callable[[Store], str]]] = {
    "access history": (lambda s, t: [], lambda s: s.as_outsider("auditor")),
    "activity": (lambda s, t: [], lambda s: s.as_outsider("analyst")),
    "audit checkpoint": (lambda s, t: ["--key", s.key], lambda s: s.as_outsider("auditor")),
    "calendar": (lambda s, t: [s.coach.split(":")[1]], lambda s: s.sponsor),  # another person's calendar
    "import engagements": (lambda s, t: [_csv(s, "coach,coachee,sponsor,sponsor_function,org_unit\n")],
                           lambda s: s.as_outsider("admin")),
    "import parties": (lambda s, t: [_csv(s, "kind,name\nperson,Someone\n")], lambda s: s.as_outsider("admin")),
    "party rectify": (lambda s, t: [str(s.outsider), "--name", "Oscar O."], lambda s: s.as_outsider("admin")),
    "reminders opt-in": (lambda s, t: [s.coach.split(":")[1]], lambda s: s.as_outsider("admin")),
    "reminders opt-out": (lambda s, t: [s.coach.split(":")[1]], lambda s: s.as_outsider("admin")),
    "reminders pending": (lambda s, t: [], lambda s: s.as_outsider("admin")),
    "reminders send": (lambda s, t: [], lambda s: s.as_outsider("admin")),
    "retention pending": (lambda s, t: [], lambda s: s.as_outsider("admin")),
    "templates declare": (lambda s, t: ["x", "--kind", "cohort", "--ritual", "weekly_standup", "--role", "scribe"],
                          lambda s: s.as_outsider("admin")),
    "templates list": (lambda s, t: [], lambda s: s.as_outsider("coach")),
    "subject export": (lambda s, t: [str(s.outsider)], lambda s: s.as_outsider("admin")),
    "audit consistency": (lambda s, t: ["1"], lambda s: s.as_outsider("auditor")),
    "audit export": (lambda s, t: [], lambda s: s.as_outsider("auditor")),
    "audit prove": (lambda s, t: [str(s.eid), "--key", s.key, "--out", str(t / "b.json")],
                    lambda s: s.as_outsider("auditor")),
    "audit tiles": (lambda s, t: ["--key", s.key, "--out", str(t / "tiles")], lambda s: s.as_outsider("auditor")),
    "audit verify": (lambda s, t: [], lambda s: s.as_outsider("auditor")),
    "audit releases": (lambda s, t: [], lambda s: s.as_outsider("auditor")),
    "audit witness request": (lambda s, t: [str(s.where / "two.note")], lambda s: s.as_outsider("auditor")),
    "audit witness push": (lambda s, t: [str(s.where / "two.note"), "--policy", str(s.where / "push.policy")],
                           lambda s: s.as_outsider("auditor")),
    "audit witness cosign": (lambda s, t: [str(s.where / "two.note"), "--state", str(s.where / "w.json"), "--key",
                                           str(s.where / "w.pem")], lambda s: s.as_outsider("auditor")),
    "coach hours": (lambda s, t: ["--coach", s.coach.split(":")[1]], lambda s: s.as_outsider("auditor")),
    "coach-load": (lambda s, t: [s.coach.split(":")[1]], lambda s: s.as_outsider("admin")),
    "cohort dashboard": (lambda s, t: [str(s.cid), "--out", str(t / "c.html")], lambda s: s.as_outsider("member")),
    "cohort show": (lambda s, t: [str(s.cid)], lambda s: s.as_outsider("member")),
    "cohort step": (lambda s, t: [str(s.cid), "set_scope", "scope=everything"], lambda s: s.as_outsider("member")),
    "cohorts": (lambda s, t: [], lambda s: s.as_outsider("auditor")),
    "engagements": (lambda s, t: [], lambda s: s.as_outsider("auditor")),
    "grant": (lambda s, t: ["auditor", str(s.outsider)], lambda s: s.as_outsider("admin")),
    "open": (lambda s, t: ["--coachee", str(s.outsider), "--sponsor", s.sponsor.split(":")[1], "--unit", "Ops"],
             lambda s: s.as_outsider("coach")),
    "parties": (lambda s, t: [], lambda s: s.as_outsider("admin")),
    "privacy-budget grant": (lambda s, t: [s.analyst.split(":")[1], "1"], lambda s: s.as_outsider("admin")),
    "privacy-budget show": (lambda s, t: [], lambda s: s.as_outsider("analyst")),
    "releases calendar set": (lambda s, t: ["signal:theme,period"], lambda s: s.as_outsider("admin")),
    "releases calendar show": (lambda s, t: [], lambda s: s.as_outsider("analyst")),
    "releases plan": (lambda s, t: ["--period", "2026"], lambda s: s.as_outsider("analyst")),
    "replay": (lambda s, t: [str(s.eid)], lambda s: s.as_outsider("auditor")),
    "report engagement": (lambda s, t: [str(s.eid), "--out", str(t / "r.html")], lambda s: s.as_outsider("coach")),
    "report synthesis": (lambda s, t: ["--period", "2026", "--out", str(t / "s.html")],
                         lambda s: s.as_outsider("analyst")),
    "revoke": (lambda s, t: ["auditor", s.auditor.split(":")[1]], lambda s: s.as_outsider("admin")),
    "show": (lambda s, t: [str(s.eid)], lambda s: s.as_outsider("coach")),
    "signals summary": (lambda s, t: [], lambda s: s.as_outsider("analyst")),
    "signals trends": (lambda s, t: [], lambda s: s.as_outsider("analyst")),
    "step": (lambda s, t: [str(s.eid), "suspend"], lambda s: s.as_outsider("coach")),
    "subject erase": (lambda s, t: [s.sponsor.split(":")[1]], lambda s: s.as_outsider("admin")),
    "testimonials quotes": (lambda s, t: [], lambda s: s.as_outsider("analyst")),
    "testimonials ratings": (lambda s, t: [], lambda s: s.as_outsider("analyst")),
    "timeline": (lambda s, t: [str(s.eid)], lambda s: s.as_outsider("coach")),
    "token issue": (lambda s, t: [str(s.outsider)], lambda s: s.as_outsider("admin")),
    "token list": (lambda s, t: [], lambda s: s.as_outsider("admin")),
    "token revoke": (lambda s, t: [str(s.eid)], lambda s: s.as_outsider("admin")),
    "tenant delete": (lambda s, t: [a_tenant(s)], lambda s: s.as_outsider("admin")),
}

def _csv(store: Store, text: str) -> str:
    """An import file beside the store (the command reads it before it names its reader)."""
    path = store.where / f"import-{abs(hash(text))}.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def a_tenant(store: Store) -> str:
    """A tenant beside the store (its own file and keys), made once: only its own admin deletes it."""
    from engagement_tracker.adapters.tenants import create_tenant, known_tenants

    if "readers" not in known_tenants(store.url):
        create_tenant(store.url, "readers")
    return "readers"


LEAVES = dict(leaves())
WITH_READER = sorted(n for n, c in LEAVES.items() if any("--as" in p.opts for p in c.params))


def test_every_command_names_its_reader_or_says_why_it_reads_nothing_guarded() -> None:
    unnamed = sorted(set(LEAVES) - set(WITH_READER) - set(NO_READER))
    assert not unnamed, f"commands without --as and not listed as reading nothing a grant guards: {unnamed}"
    assert not set(NO_READER) & set(WITH_READER), "listed as reading nothing, yet takes --as"
    assert sorted(CLI_READS) == WITH_READER, "every command taking --as needs its case here"
    assert "coach-load" in WITH_READER


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store(tmp_path_factory.mktemp("reads"))


@pytest.mark.parametrize("name", WITH_READER)
def test_a_command_without_a_reader_is_refused(store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.delenv("ETRACK_AS", raising=False)
    monkeypatch.chdir(tmp_path)
    args = CLI_READS[name][0](store, tmp_path)
    code, err = etrack(capsys, "--db", store.url, *name.split(), *args)
    assert code == 2, (name, code, err)
    assert "--as" in err and err.startswith(("error: UsageError: ", "error: InvalidInput: ")), err
    assert [p.name for p in tmp_path.iterdir()] == []


@pytest.mark.parametrize("name", WITH_READER)
def test_a_command_by_a_reader_lacking_the_grant_is_refused(store: Store, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.chdir(tmp_path)
    make, reader = CLI_READS[name]
    code, out, err = etrack_out(capsys, "--db", store.url, *name.split(), *make(store, tmp_path), "--as", reader(store))
    assert code == 3, (name, code, err)
    assert err.startswith("error: NotPermitted: "), err
    assert out == "", f"{name} printed something before refusing: {out[:200]}"
    assert [p.name for p in tmp_path.iterdir()] == []


def etrack_out(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from engagement_tracker.adapters.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.out, captured.err


def test_a_coach_reads_their_own_load_only(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = etrack_out(capsys, "--db", store.url, "coach-load", "--as", store.coach, "--format", "json")
    assert code == 0 and store.coach.split(":")[1] in out, err
    code, out, err = etrack_out(capsys, "--db", store.url, "coach-load", str(store.outsider), "--as", store.coach)
    assert code == 3 and "a coach reads their own load" in err and out == ""
    code, out, err = etrack_out(capsys, "--db", store.url, "coach-load", store.coach.split(":")[1], "--as",
                                store.admin, "--format", "json")
    assert code == 0 and '"active": 0' in out, err
    code, out, err = etrack_out(capsys, "--db", store.url, "coach-load", "--as", store.admin)
    assert code == 2 and "an admin names the coach" in err


# --- the Python API ------------------------------------------------------------------------------------

#: Public methods that take no reader, and why.
PLUMBING = {
    "access_register": "the register the gates read (the command path's port)",
    "held_grants": "what the gates read at each call (GrantsSource); a caller reads app.access.grants(viewer)",
    "write_guard": "what a recording transaction re-checks of the grants its command relied on (no data)",
    "attempts": "the command path's retry loop",
    "require_affordable": "what a DP release asks of the budget before drawing noise (the analyst it names is the viewer)",
    "worth": "states an amount of rho in epsilon at the deployment's delta (arithmetic; reads no budget)",
    "atomically": "the analysts' unit of work: records the releases of the calls it runs (each names its viewer)",
    # the command path's own API, which the services are given (load, decide, save, exactly once)
    "load": "the command path: the aggregate a command decides on (sealed values only)",
    "history": "the command path: an aggregate's events, folded by the views into their record (sealed)",
    "update": "the command path: load, decide, save, retry (the command it runs names its actor)",
    "create": "the command path: create exactly once (the command it runs names its actor)",
    "commit": "the command path: save one command's aggregates, exactly once",
    "save_new": "the command path: save a new aggregate, exactly once",
    "new_id": "the command path: the id of what a creating command makes",
    "new_party": "the command path: a party aggregate to save (its key made first)",
    "now": "the command path: the injected clock",
    "resolve_command_id": "the command path: the caller's command id, or a new one",
    "stored_versions": "the command path: exactly-once bookkeeping (versions a command id recorded)",
    "tell": "the command path: the outcome of the command just run",
    "seal_optional": "the sealing port, for commands",
    "exists": "whether an id is taken (a creating command's check); says nothing of what it holds",
    "recorded_by": "exactly-once bookkeeping of a creating command",
    "seal": "the sealing port, for commands",
    "unseal": "the sealing port: a caller needs the ciphertext first, which only gated reads hand out",
    "make_signal": "builds a value for a command (no store read)",
    "register": "parties.register: a command (parties are registered by the host, which authenticates people)",
    "initialise": "a command, refused once the store has an admin",
    "tick": "the deadline clock's command (the system role)",
    "ids": "engagements.ids, cohorts.ids: ids only, for the deadline clock and the projections",
    "ids_of": "the command path's listing of ids by creating event (ids only)",
    "party": "the party aggregate commands load (its name sealed)",
    "party_name": "unseals a name for a view that already passed its gate",
    "get": "the aggregate a command loads (engagement, cohort, party); views are view/timeline",
    "record": "the folded record the views read; views are engagements.view/timeline, cohorts.view",
    "name": "parties.name: unseals a name for a view that already passed its gate",
    "provide": "bootstrap's wiring of app.audit and app.analysts (factories; reads nothing)",
    "authenticate": "access.authenticate: the party a bearer token identifies (the gates then decide); no data",
    "identify": "access.identify: the party a token identifies, and the token as a reliance for a command's scope; no data",
    "spec": "release_calendar.spec: the calendar's period and shapes, for the analyst service (no data)",
    "released_periods": "release_calendar.released_periods: which periods are recorded, for the analyst service",
    "released": ("release_calendar.released: the analyst service's port (app.analysts.calendar_sections is the "
                 "gated read of the same sections)"),
}

#: The parameter naming who acts in a command.
ACTOR_PARAMS = {"actor", "admin", "analyst"}


def public_methods(cls: type) -> dict[str, Any]:
    base = set(dir(Application))
    return {n: getattr(cls, n) for n in dir(cls)
            if not n.startswith("_") and callable(getattr(cls, n)) and (n not in base or n in ("get",))
            and not isinstance(inspect.getattr_static(cls, n), type)}


def services() -> dict[str, type]:

    return {"app": EngagementTracker, "engagements": EngagementService, "cohorts": CohortService,
            "parties": PartyService, "access": AccessService, "budgets": BudgetService,
            "audit": AuditService, "release_calendar": ReleaseCalendarService,
            "analyst": AnalystService}


def python_reads() -> list[str]:
    reads = []
    for where, cls in services().items():
        for name, fn in public_methods(cls).items():
            if "viewer" in inspect.signature(fn).parameters:
                reads.append(f"{where}.{name}")
    return sorted(reads)


class World:
    def __init__(self, app: EngagementTracker) -> None:
        self.app = app
        cast = Cast.register(app)
        self.eid = open_engagement(app, cast)
        drive(app, cast, self.eid, "accompaniment.in_progress")
        cc = CohortCast.register(app)
        self.cid = frame_cohort(app, cc)
        self.coach = cast.coach
        self.analyst = granted(app, Role.ANALYST, "Anna")
        self.outsider = app.parties.register("person", "Oscar Outsider").value
        self.audit = app.audit
        self.analytics = app.analysts


#: Each Python read, called as ``viewer`` (None, or a reader lacking the grant of the role it claims).
PY_READS: dict[str, tuple[Role, Callable[[World, Any], object]]] = {
    "access.history": (Role.AUDITOR, lambda w, v: w.app.access.history(v)),
    "engagements.coach_hours": (Role.AUDITOR, lambda w, v: w.app.engagements.coach_hours(v, w.coach.party)),
    "engagements.coach_load": (Role.ADMIN, lambda w, v: w.app.engagements.coach_load(v, w.coach.party)),
    "engagements.view": (Role.COACH, lambda w, v: w.app.engagements.view(w.eid, v)),
    "access.grants": (Role.AUDITOR, lambda w, v: w.app.access.grants(v)),
    "parties.list": (Role.ADMIN, lambda w, v: w.app.parties.list(v)),
    "budgets.balance": (Role.ANALYST, lambda w, v: w.app.budgets.balance(v)),
    "app.replay": (Role.AUDITOR, lambda w, v: w.app.replay(w.eid, v)),
    "engagements.testimonial_quotes": (Role.ANALYST, lambda w, v: w.app.engagements.testimonial_quotes(v)),
    "engagements.timeline": (Role.COACH, lambda w, v: w.app.engagements.timeline(w.eid, v)),
    "cohorts.experiment_effects": (Role.MEMBER, lambda w, v: w.app.cohorts.experiment_effects(w.cid, v)),
    "cohorts.metrics": (Role.MEMBER, lambda w, v: w.app.cohorts.metrics(w.cid, v)),
    "cohorts.view": (Role.MEMBER, lambda w, v: w.app.cohorts.view(w.cid, v)),
    "audit.checkpoint": (Role.AUDITOR, lambda w, v: w.audit.checkpoint(v, Ed25519PrivateKey.generate())),
    "audit.consistency": (Role.AUDITOR, lambda w, v: w.audit.consistency(v, 1)),
    "audit.entries": (Role.AUDITOR, lambda w, v: w.audit.entries(v)),
    "audit.export": (Role.AUDITOR, lambda w, v: w.audit.export(v, _Sink())),
    "audit.publish": (Role.AUDITOR, lambda w, v: w.audit.publish(v, Ed25519PrivateKey.generate())),
    "audit.prove": (Role.AUDITOR, lambda w, v: w.audit.prove(v, w.eid, None, Ed25519PrivateKey.generate())),
    "audit.verify": (Role.AUDITOR, lambda w, v: w.audit.verify(v)),
    "audit.releases": (Role.AUDITOR, lambda w, v: w.audit.releases(v)),
    "audit.prove_releases": (Role.AUDITOR, lambda w, v: w.audit.prove_releases(v, w.eid, None,
                                                                               Ed25519PrivateKey.generate())),
    "analyst.activity": (Role.ANALYST, lambda w, v: w.analytics.activity(v)),
    "analyst.calendar_sections": (Role.ANALYST, lambda w, v: w.analytics.calendar_sections(v, "2025-Q4")),
    "analyst.plan": (Role.ANALYST, lambda w, v: w.analytics.plan(v, "2026")),
    "release_calendar.show": (Role.ANALYST, lambda w, v: w.app.release_calendar.show(v)),
    "analyst.preview": (Role.ANALYST, lambda w, v: w.analytics.preview(v, 1.0)),
    "analyst.summary": (Role.ANALYST, lambda w, v: w.analytics.summary(v)),
    "analyst.testimonials": (Role.ANALYST, lambda w, v: w.analytics.testimonials(v)),
    "analyst.trends": (Role.ANALYST, lambda w, v: w.analytics.trends(v)),
}


class _Sink:
    """A file that fails the test if anything reaches it."""

    def write(self, text: str) -> int:
        raise AssertionError(f"a refused export wrote {text[:80]!r}")


def test_every_public_method_is_a_gated_read_a_command_or_named_plumbing() -> None:
    unnamed = []
    for where, cls in services().items():
        for name, fn in public_methods(cls).items():
            params = set(inspect.signature(fn).parameters)
            if "viewer" in params or params & ACTOR_PARAMS or name in PLUMBING:
                continue
            unnamed.append(f"{where}.{name}{inspect.signature(fn)}")
    assert not unnamed, f"public methods that name no reader (take a viewer, or list them as plumbing): {unnamed}"
    assert sorted(PY_READS) == python_reads(), "every read taking a viewer needs its case here"


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    app = new_tracker("memory:", FakeClock())
    yield World(app)
    app.close()


@pytest.mark.parametrize("name", sorted(PY_READS))
def test_a_python_read_without_a_reader_or_lacking_the_grant_is_refused(world: World, name: str) -> None:
    role, call = PY_READS[name]
    with pytest.raises(InvalidInput, match=r"viewer|Actor"):
        call(world, None)
    with pytest.raises(InvalidInput, match=r"viewer|Actor"):
        call(world, str(world.outsider))  # an id is not a reader
    with pytest.raises(NotPermitted):
        call(world, Actor(world.outsider, role))

