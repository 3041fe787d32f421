"""The coach's ICF hours log: every recorded session, its hours, paid or pro bono, and the totals.

Coaches applying for an ICF credential keep a log of their coaching hours: the client, the
dates, paid or pro bono hours, the group size for team coaching. A client is named only where
that client consented (``consent_to_icf_log``); otherwise the line says ``confidential``. Each
line names the engagement id, the session number and the version of the ``SessionHeld`` event
it was read from, so an auditor can check that every line comes from a recorded session (and
that none is missing). The totals are compared with the ACC and PCC thresholds.

Read from the events themselves, not from a projection: the log is the sessions as recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

#: What a line says in place of a client who did not consent to be named.
CONFIDENTIAL = "confidential"


@attrs.frozen
class Credential:
    """An ICF credential's hours requirements."""

    name: str
    hours: float
    paid_hours: float
    clients: int


#: ACC: 100 hours, 75 of them paid, 8 clients or more; PCC: 500 hours, 450 paid, 25 clients or more.
CREDENTIALS = (Credential("ACC", 100, 75, 8), Credential("PCC", 500, 450, 25))

#: The fields of a log line, in the order the CSV prints them.
LINE_FIELDS = (
    "engagement", "session", "version", "client", "held_on", "coaching", "group_size",
    "minutes", "hours", "paid_hours", "pro_bono_hours",
)


def hours_totals(lines: Iterable[Mapping[str, Any]], clients: Iterable[str]) -> dict[str, Any]:
    """The totals of log lines, and for each credential what is met and what is missing.

    ``clients`` are the distinct clients' ids behind the lines (never printed): a client counts
    once however many sessions it had; a team counts as one client.
    """
    minutes = {"paid": 0, "pro_bono": 0}
    for line in lines:
        minutes["paid" if line["paid_hours"] else "pro_bono"] += int(line["minutes"])
    n_clients = len(set(clients))
    total = round((minutes["paid"] + minutes["pro_bono"]) / 60, 2)
    paid = round(minutes["paid"] / 60, 2)
    credentials = {}
    for c in CREDENTIALS:
        missing = {
            "hours": max(0.0, round(c.hours - total, 2)),
            "paid_hours": max(0.0, round(c.paid_hours - paid, 2)),
            "clients": max(0, c.clients - n_clients),
        }
        credentials[c.name] = {
            "required": {"hours": c.hours, "paid_hours": c.paid_hours, "clients": c.clients},
            "missing": missing,
            "met": not any(missing.values()),
        }
    return {
        "hours": total,
        "paid_hours": paid,
        "pro_bono_hours": round(minutes["pro_bono"] / 60, 2),
        "clients": n_clients,
        "credentials": credentials,
    }
