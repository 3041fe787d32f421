"""Reminders delivered by SMTP (the standard library's ``smtplib``): ``send_pending(app, admin)``.

Settings (environment, or the TOML file): ``ETRACK_SMTP_HOST`` (required), ``ETRACK_SMTP_PORT``
(25), ``ETRACK_SMTP_FROM`` (required: the sender's address), ``ETRACK_SMTP_STARTTLS`` (``1`` to
upgrade the connection). Each reminder is sent alone, and recorded as sent right after the server
accepted it; a server that fails stops the batch (StoreError, exit 4) with what was sent recorded,
so the next run sends the rest and nothing twice. Each mail's Message-ID derives from its
reminder's id, so a receiving system can also recognise a copy.
"""

from __future__ import annotations

import hashlib
import os
import smtplib
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from engagement_tracker.domain.application import EngagementTracker
from engagement_tracker.domain.errors import InvalidInput, StoreError
from engagement_tracker.domain.outbox import REMINDER_KINDS
from engagement_tracker.domain.values import Actor


def smtp_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The SMTP settings, or InvalidInput naming the one missing or malformed."""
    env = os.environ if environ is None else environ
    host = env.get("ETRACK_SMTP_HOST", "").strip()
    sender = env.get("ETRACK_SMTP_FROM", "").strip()
    if not host:
        raise InvalidInput("ETRACK_SMTP_HOST", "not set: the mail server's host name (in the environment or etrack.toml)")
    if "@" not in sender:
        raise InvalidInput("ETRACK_SMTP_FROM", f"{sender!r}: expected the sender's e-mail address")
    raw = env.get("ETRACK_SMTP_PORT", "25").strip() or "25"
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise InvalidInput("ETRACK_SMTP_PORT", f"{raw!r}: expected a port number (1 to 65535)")
    return {"host": host, "port": int(raw), "sender": sender, "starttls": env.get("ETRACK_SMTP_STARTTLS") == "1"}


def message_id(reminder: str, sender: str) -> str:
    return f"<{hashlib.sha256(reminder.encode()).hexdigest()[:32]}@{sender.rpartition('@')[2]}>"


def send_pending(app: EngagementTracker, actor: Actor, settings: dict[str, Any] | None = None,
                 timeout: float = 10.0) -> dict[str, int]:
    """Deliver every pending reminder; counts of sent and skipped ones (StoreError if the server fails)."""
    pending = app.reminders.pending(actor)  # the admin's grant first: a refused sender learns nothing
    settings = smtp_settings() if settings is None else settings
    done = {"sent": 0, "skipped": 0}
    if not pending:
        return done
    try:
        server = smtplib.SMTP(settings["host"], settings["port"], timeout=timeout)
    except OSError as exc:
        raise StoreError(f"cannot reach the mail server {settings['host']}:{settings['port']} ({exc}); "
                         f"nothing was sent, {len(pending)} reminders wait") from None
    try:
        if settings.get("starttls"):
            server.starttls()
        for reminder in pending:
            prepared = app.reminders.message(reminder)
            if isinstance(prepared, str):
                app.reminders.skip(reminder["reminder"], prepared, actor)
                done["skipped"] += 1
                continue
            address, text = prepared
            mail = EmailMessage()
            mail["From"] = settings["sender"]
            mail["To"] = address
            mail["Subject"] = REMINDER_KINDS[reminder["kind"]]
            mail["Date"] = formatdate(localtime=False)
            mail["Message-ID"] = message_id(reminder["reminder"], settings["sender"])
            mail["Auto-Submitted"] = "auto-generated"
            mail.set_content(text)
            try:
                server.send_message(mail)
            except (smtplib.SMTPException, OSError) as exc:
                left = len(pending) - done["sent"] - done["skipped"]
                raise StoreError(f"the mail server failed ({exc}); {done['sent']} sent and recorded, {left} "
                                 "left: run etrack reminders send again (nothing is sent twice)") from None
            app.reminders.mark_sent(reminder["reminder"], actor)
            done["sent"] += 1
    finally:
        try:
            server.quit()
        except (smtplib.SMTPException, OSError):
            server.close()
    return done
