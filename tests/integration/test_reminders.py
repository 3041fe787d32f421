"""Reminders (issue #27, item 3): tick queues each due reminder once; the sender delivers them to a
real local SMTP server (aiosmtpd), and when the server fails mid-batch every reminder is still
delivered exactly once; opted-out people get none; no mail carries confidential content."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from engagement_tracker.adapters.cli import main
from engagement_tracker.adapters.reminder_mail import send_pending
from engagement_tracker.domain import EngagementTracker
from engagement_tracker.domain.errors import NotPermitted, StoreError
from tests.support import Cast, FakeClock, admin, drive, new_tracker, open_engagement

PLACE = "Salle Kepler, Lyon"
ACTION = "pair on incidents with the night shift"


class Mailbox:
    """An aiosmtpd handler keeping every accepted mail; ``fail_at``: the Nth DATA is refused (451)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.mails: list[Any] = []
        self.fail_at = fail_at
        self.seen = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.seen += 1
            if self.fail_at is not None and self.seen >= self.fail_at:
                return "451 4.3.0 the server is failing, try again later"
            self.mails.append(message_from_bytes(envelope.content))
        return "250 OK"


def serve(box: Mailbox) -> Controller:
    with socket.socket() as probe:  # a free port (aiosmtpd's own readiness check needs a known one)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


@pytest.fixture
def programme(tmp_path: Path) -> Iterator[tuple[EngagementTracker, Cast, Any]]:
    app = new_tracker(f"sqlite:///{tmp_path / 'etrack.sqlite'}", FakeClock())
    cast = Cast.register(app)
    ada = admin(app)
    for i, who in enumerate((cast.coach, cast.coachee, cast.sponsor)):
        app.subjects.rectify(who.party, ada, contact=f"person{i}@example.org")
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    soon = app.clock.now + timedelta(hours=20)  # type: ignore[attr-defined]
    for hours in (0, 1, 2):
        app.sessions.schedule_session(eid, cast.coach, soon + timedelta(hours=hours), 60, PLACE)
    app.sessions.schedule_session(eid, cast.coach, soon + timedelta(days=3), 60, PLACE)  # not yet
    app.engagements.commit_action(eid, cast.coachee, ACTION, app.clock.now.date())  # type: ignore[attr-defined]  # due tonight
    yield app, cast, ada
    app.close()


def test_tick_queues_each_due_reminder_once(programme) -> None:  # type: ignore[no-untyped-def]
    app, cast, ada = programme
    app.tick()
    pending = app.reminders.pending(ada)
    kinds = sorted(r["kind"] for r in pending)
    assert kinds == ["action", "action", *["session"] * 6]  # 3 sessions x (coach, coachee); the action x 2
    assert {r["recipient"] for r in pending} == {str(cast.coach.party), str(cast.coachee.party)}
    app.tick()
    app.tick()
    assert len(app.reminders.pending(ada)) == len(pending)
    with pytest.raises(NotPermitted):
        app.reminders.pending(cast.coach)


def test_a_server_failing_mid_batch_still_delivers_every_reminder_once(programme) -> None:  # type: ignore[no-untyped-def]
    app, cast, ada = programme
    app.tick()
    app.reminders.opt_out(cast.coachee.party, cast.coachee)  # the coachee opts out themselves
    expected = {r["reminder"] for r in app.reminders.pending(ada) if r["recipient"] == str(cast.coach.party)}
    assert len(expected) == 4
    failing, healthy = Mailbox(fail_at=3), Mailbox()
    first = serve(failing)
    try:
        with pytest.raises(StoreError, match="run etrack reminders send again"):
            send_pending(app, ada, {"host": "127.0.0.1", "port": first.port, "sender": "etrack@example.org"})
    finally:
        first.stop()
    assert len(failing.mails) == 2
    second = serve(healthy)
    try:
        done = send_pending(app, ada, {"host": "127.0.0.1", "port": second.port, "sender": "etrack@example.org"})
        again = send_pending(app, ada, {"host": "127.0.0.1", "port": second.port, "sender": "etrack@example.org"})
    finally:
        second.stop()
    assert again == {"sent": 0, "skipped": 0}
    mails = failing.mails + healthy.mails
    ids = [m["Message-ID"] for m in mails]
    assert len(ids) == len(set(ids)) == len(expected) == 4  # each delivered once, none lost
    assert done["sent"] == 2
    outbox = app.reminders.outbox()
    assert outbox is not None and sorted(outbox.known.values()) == ["sent"] * 4 + ["skipped"] * 4  # the coachee's
    assert {m["To"] for m in mails} == {"person0@example.org"}  # the coachee opted out: nothing for them
    assert not app.reminders.pending(ada)
    for mail in mails:
        text = mail.as_string()
        for secret in (PLACE, ACTION, "Claire", "Marc", "Sophie", str(cast.coachee.party)):
            assert secret not in text, secret
        assert mail["Subject"].startswith("Reminder: ")


def test_only_the_person_or_an_admin_opts_out(programme) -> None:  # type: ignore[no-untyped-def]
    app, cast, ada = programme
    with pytest.raises(NotPermitted):
        app.reminders.opt_out(cast.coachee.party, cast.coach)
    app.reminders.opt_out(cast.coachee.party, ada)
    app.reminders.opt_out(cast.coachee.party, cast.coachee, False)
    outbox = app.reminders.outbox()
    assert outbox is not None and str(cast.coachee.party) not in outbox.opted_out


def test_the_command_line_sends_and_reports_a_failing_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'etrack.sqlite'}"
    app = new_tracker(url, FakeClock())
    cast = Cast.register(app)
    ada = admin(app)
    app.subjects.rectify(cast.coach.party, ada, contact="claire@example.org")
    eid = open_engagement(app, cast)
    drive(app, cast, eid, "accompaniment.in_progress")
    app.sessions.schedule_session(eid, cast.coach, app.clock.now + timedelta(hours=3), 60, PLACE)  # type: ignore[attr-defined]
    app.tick()
    app.close()
    box = Mailbox(fail_at=1)
    controller = serve(box)
    monkeypatch.setenv("ETRACK_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ETRACK_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("ETRACK_SMTP_FROM", "etrack@example.org")
    try:
        code = _etrack("--db", url, "reminders", "send", "--as", f"admin:{ada.party}")
        assert code == 4 and "StoreError" in capsys.readouterr().err
        box.fail_at = None
        assert _etrack("--db", url, "reminders", "send", "--as", f"admin:{ada.party}") == 0
        assert "sent 1, skipped" in capsys.readouterr().out  # the coachee (no e-mail address): skipped, in either run
    finally:
        controller.stop()
    assert len(box.mails) == 1 and box.mails[0]["To"] == "claire@example.org"
    reopened = new_tracker(url, FakeClock())
    outbox = reopened.reminders.outbox()
    assert outbox is not None and sorted(outbox.known.values()) == ["sent", "skipped"]
    reopened.close()
    monkeypatch.delenv("ETRACK_SMTP_HOST")
    capsys.readouterr()
    assert _etrack("--db", url, "reminders", "send", "--as", f"admin:{ada.party}") == 4  # a setting: environment
    assert "ETRACK_SMTP_HOST: not set" in capsys.readouterr().err


def _etrack(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
