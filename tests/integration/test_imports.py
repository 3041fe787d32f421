"""Imports (issue #27, item 4): every bad row listed and nothing written; a clean file imported
once, whatever how often it runs; on a real SQLite file and a real PostgreSQL schema."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.adapters.cli import main
from engagement_tracker.domain import EngagementTracker, Role
from engagement_tracker.domain.application.imports import (
    MAX_IMPORT_BYTES,
    file_digest,
    import_command_id,
    looks_like_formula,
    read_rows,
    template,
)
from engagement_tracker.domain.errors import ImportRefused, NotPermitted
from engagement_tracker.domain.values import Actor
from tests.support import FakeClock, admin, event_count, granted, new_tracker

PARTIES = (
    "kind,name,contact\r\n"
    "person,Marc Petit,marc.petit@example.org\r\n"
    "person,Zoé Lefèvre,+33 6 12 34 56 78\r\n"
    "team,Platform Team,\r\n"
).encode()


@pytest.fixture
def app(durable_store_url: str):  # type: ignore[no-untyped-def]
    app = new_tracker(durable_store_url, FakeClock())
    yield app
    app.close()


def vault_subjects(app: EngagementTracker) -> int:
    """How many keys the vault holds (a refused import makes none)."""
    return sum(1 for pid in app.ids_of("etrack:Party.Created") if not app.sealer.is_erased(str(pid)))


def refused(app: EngagementTracker, kind: str, data: bytes, actor: Actor) -> list[tuple[int, str, str]]:
    before = event_count(app)
    with pytest.raises(ImportRefused) as caught:
        app.imports.run(kind, data, actor)
    assert event_count(app) == before, "a refused import wrote something"
    return list(caught.value.problems)


def test_a_file_with_every_kind_of_bad_party_row_lists_each_and_writes_nothing(app: EngagementTracker) -> None:
    ada = admin(app)
    keys = vault_subjects(app)
    data = (b"kind,name,contact\n"
            b"person,=cmd|' /C calc'!A0,\n"              # 2: a formula
            b"robot,Rob,\n"                              # 3: an unknown kind
            b"person,,\n"                                # 4: an empty name
            b"person,Marc Petit,marc@example.org\n"      # 5
            b"person,marc petit,MARC@example.org\n"      # 6: repeats 5
            b"person,Ren\xe9 Caf\xe9,\n"                 # 7: Latin-1, not UTF-8
            b"person,A,b,c\n"                            # 8: a cell too many
            b"person,@SUM(1+1),\n"                       # 9: a formula
            b"person," + b"N" * 201 + b",\n"             # 10: a name too long
            b"person,Ok Name,-2+3\n")                    # 11: a formula in the contact
    problems = refused(app, "parties", data, ada)
    assert [(line, column) for line, column, _ in problems] == [
        (2, "name"), (3, "kind"), (4, "name"), (6, ""), (7, ""), (8, ""), (9, "name"), (10, "name"), (11, "contact")]
    reasons = {(line, column): reason for line, column, reason in problems}
    assert "formula" in reasons[(2, "name")] and "UTF-8" in reasons[(7, "")] and "repeats line 5" in reasons[(6, "")]
    assert "200" in reasons[(10, "name")]
    assert vault_subjects(app) == keys  # no key made for a row of a refused file


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty"),
    (b"\xef\xbb\xbf  \n\n", "empty"),
    (b"kind,name,contact\n", "no rows"),
    (b"kind,nom\nperson,Marc\n", "not a column"),
    (b"name,name\nMarc,Marc\n", "named twice"),
    (b"x" * (MAX_IMPORT_BYTES + 1), "limit"),
])
def test_an_empty_headless_or_huge_file_is_refused(app: EngagementTracker, data: bytes, reason: str) -> None:
    problems = refused(app, "parties", data, admin(app))
    assert any(reason in text for _, _, text in problems), problems


def test_a_clean_file_is_imported_once_however_often_it_runs(app: EngagementTracker) -> None:
    ada = admin(app)
    first = app.imports.run("parties", PARTIES, ada)
    assert [(r["line"], r["status"]) for r in first] == [(2, "recorded"), (3, "recorded"), (4, "recorded")]
    ids = [UUID(r["id"]) for r in first]
    assert [app.parties.name(pid) for pid in ids] == ["Marc Petit", "Zoé Lefèvre", "Platform Team"]
    assert [app.parties.get(pid).kind.value for pid in ids] == ["person", "person", "team"]
    assert app.sealing.unseal(app.parties.get(ids[1]).contact) == "+33 6 12 34 56 78"  # a phone number, not a formula
    events = event_count(app)
    again = app.imports.run("parties", PARTIES, ada)
    assert [r["id"] for r in again] == [r["id"] for r in first]
    assert {r["status"] for r in again} == {"already recorded"}
    assert event_count(app) == events
    # each row's command id is the file's bytes and its line, recorded in its event
    stored = app.history(type(app.parties.get(ids[0])), ids[0], "party")[0]
    assert stored.command_id == import_command_id("parties", file_digest(PARTIES), 2)
    assert stored.actor == ada  # the importing admin is named on the event


def _stop_after(n: int):  # type: ignore[no-untyped-def]
    def progress(done: int, _total: int) -> None:
        if done == n:
            raise KeyboardInterrupt

    return progress


def test_an_import_cut_short_then_run_again_records_every_row_once(app: EngagementTracker) -> None:
    ada = admin(app)
    with pytest.raises(KeyboardInterrupt):
        app.imports.run("parties", PARTIES, ada, on_progress=_stop_after(2))
    assert sum(1 for _ in app.ids_of("etrack:Party.Created")) == 1 + 2  # the admin and two rows
    rows = app.imports.run("parties", PARTIES, ada)
    assert [r["status"] for r in rows] == ["already recorded", "already recorded", "recorded"]
    assert sum(1 for _ in app.ids_of("etrack:Party.Created")) == 1 + 3


def test_only_a_granted_admin_imports(app: EngagementTracker) -> None:
    ada = admin(app)
    coach = granted(app, Role.COACH, "Claire Coach")
    before = event_count(app)
    with pytest.raises(NotPermitted):
        app.imports.run("parties", PARTIES, coach)
    with pytest.raises(NotPermitted):
        app.imports.run("parties", PARTIES, Actor(coach.party, Role.ADMIN))  # an admin claim without the grant
    assert event_count(app) == before
    assert len(app.imports.run("parties", PARTIES, ada)) == 3


def test_engagement_rows_are_checked_against_the_store(app: EngagementTracker) -> None:
    ada = admin(app)
    coach = granted(app, Role.COACH, "Claire Dubois").party
    ungranted = app.parties.register("person", "Uma Ungranted").value
    coachee, sponsor, team = (UUID(r["id"]) for r in app.imports.run("parties", PARTIES, ada))
    erased = app.parties.register("person", "Eve Erased").value
    app.parties.erase(erased, ada)
    today = app.now().date()
    header = "coach,coachee,sponsor,sponsor_function,org_unit,first_meeting\n"
    rows = [
        f"{coach},{coachee},{sponsor},line_manager,Operations/Lyon,{today}",           # 2: fine
        f"{coach},{uuid4()},{sponsor},hr,Operations,",                                # 3: unknown coachee
        f"{coach},{coachee},{sponsor},hr,Operations,2026-02-30",                      # 4: a bad date
        f"{coach},{coachee},{sponsor},line_manager,Operations/Lyon,",                 # 5: repeats 2
        f"{ungranted},{team},{sponsor},training,Platform,",                           # 6: no coach grant
        f"{coach},{coachee},{team},hr,Operations,",                                   # 7: a team as sponsor
        f"{coach},{erased},{sponsor},hr,Operations,",                                 # 8: an erased coachee
        f"{coach},{coachee},{sponsor},boss,Marc Petit said so,",                      # 9: function, org unit
        f"{coach},not-an-id,{sponsor},hr,Operations,{date(today.year + 1, 1, 1)}",    # 10: id, future date
        f"{coach},{coach},{sponsor},hr,Operations,",                                  # 11: coach is coachee
    ]
    data = (header + "\n".join(rows) + "\n").encode()
    problems = refused(app, "engagements", data, ada)
    assert [(line, column) for line, column, _ in problems] == [
        (3, "coachee"), (4, "first_meeting"), (5, ""), (6, "coach"), (7, "sponsor"), (8, "coachee"),
        (9, "org_unit"), (9, "sponsor_function"), (10, "coachee"), (10, "first_meeting"), (11, "")]
    assert not list(app.engagements.ids())
    clean = (header + rows[0] + "\n" + f"{coach},{team},{sponsor},hr,Platform,\n").encode()
    done = app.imports.run("engagements", clean, ada)
    assert [r["status"] for r in done] == ["recorded", "recorded"]
    first = app.engagements.get(done[0]["id"])
    assert (first.coach, first.coachee, first.sponsor, first.org_unit) == (coach, coachee, sponsor, "Operations/Lyon")
    assert [row["event"] for row in app.engagements.timeline(first.id, Actor(coach, Role.COACH))] == [
        "Created", "FirstMeetingHeld"]
    events = event_count(app)
    assert {r["status"] for r in app.imports.run("engagements", clean, ada)} == {"already recorded"}
    assert event_count(app) == events
    assert len(list(app.engagements.ids())) == 2


def test_a_coach_is_not_given_more_teams_than_the_limit(app: EngagementTracker) -> None:
    ada = admin(app)
    coach = granted(app, Role.COACH, "Claire Dubois").party
    sponsor = app.parties.register("person", "Sophie Laurent").value
    teams = [app.parties.register("team", f"Team {i}").value for i in range(app.capacity.refuse_above + 1)]
    data = ("coach,coachee,sponsor,sponsor_function,org_unit\n" + "".join(
        f"{coach},{t},{sponsor},hr,Platform\n" for t in teams)).encode()
    problems = refused(app, "engagements", data, ada)
    assert [(line, column) for line, column, _ in problems] == [(len(teams) + 1, "coach")]


def test_the_command_line_lists_every_bad_row_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock())
    ada = admin(app)
    app.close()
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"kind,name\nperson,=1+1\nalien,X\n")
    code = _etrack("--db", url, "import", "parties", str(bad), "--as", f"admin:{ada.party}")
    captured = capsys.readouterr()
    assert code == 2
    assert "line 2, column name:" in captured.err and "line 3, column kind:" in captured.err
    assert "error: ImportRefused:" in captured.err and "Traceback" not in captured.err
    layout = tmp_path / "parties.csv"
    assert _etrack("import", "template", "parties", "--out", str(layout)) == 0
    assert layout.read_text() == template("parties") == "kind,name,contact\n"
    good = tmp_path / "good.csv"
    good.write_bytes(layout.read_bytes() + b"person,Marc Petit,\n")
    capsys.readouterr()
    assert _etrack("--db", url, "import", "parties", str(good), "--as", f"admin:{ada.party}", "--format", "csv") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "line,id,status" and out[1].startswith("2,") and out[1].endswith(",recorded")


def _etrack(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@given(st.binary(max_size=400))
def test_any_bytes_are_read_or_refused_with_reasons(data: bytes) -> None:
    rows, problems = read_rows("parties", b"kind,name,contact\n" + data)
    for row in rows:
        assert not any(looks_like_formula(cell) for cell in row.cells.values())
        assert row.line >= 2
    for line, column, reason in problems:
        assert line >= 0 and isinstance(column, str) and reason


@given(st.text(min_size=1, max_size=30))
def test_a_formula_is_never_taken_for_a_phone_number(text: str) -> None:
    if text[0] in "=@\t\r":
        assert looks_like_formula(text)
