"""Imports: a programme's CSV file of parties, against registering the same parties one call at a time.

Each round starts two fresh SQLite stores (untimed); one arm imports the file
(``app.imports.run``: every row checked, then one command per row, each with its derived command
id), the other registers the same rows with ``app.parties.register`` in a loop (no check, a new
command id each). The checking alone (``app.imports.check``, nothing written) and a second run
of the same file (every row "already recorded") are reported beside them.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from bench.measure import cost_row, rounds_of, timed
from engagement_tracker.adapters import open_tracker
from engagement_tracker.domain import Actor, EngagementTracker, Role


def party_file(rows: int) -> bytes:
    """A parties file of ``rows`` persons, each with a name and a contact (UTF-8, a header line)."""
    lines = ["kind,name,contact"]
    lines.extend(f"person,Coachée Numéro {i},coachee.{i}@example.org" for i in range(rows))
    return ("\n".join(lines) + "\n").encode()


def _fresh(directory: Path, name: str) -> tuple[EngagementTracker, Actor]:
    app = open_tracker(f"sqlite:///{directory / name}")
    return app, Actor(app.access.initialise("Bench Admin").value, Role.ADMIN)


def bench_imports(directory: Path, rows: int, rounds: int) -> list[dict[str, Any]]:
    data = party_file(rows)
    made = {"n": 0}
    stores: dict[str, tuple[EngagementTracker, Actor]] = {}
    last: dict[str, tuple[EngagementTracker, Actor]] = {}

    def before() -> None:  # untimed: a fresh store for whichever arm runs next
        for arm in ("import", "register"):
            if arm not in stores:
                made["n"] += 1
                stores[arm] = _fresh(directory, f"import-{made['n']}.sqlite")

    def ours() -> None:
        app, admin = stores.pop("import")
        app.imports.run("parties", data, admin)
        _close(last, "import", app, admin)

    def baseline() -> None:
        app, _admin = stores.pop("register")
        for line in data.decode().splitlines()[1:]:
            kind, name, contact = line.split(",")
            app.parties.register(kind, name, contact)
        _close(last, "register", app, _admin)

    t = rounds_of({"import": ours, "register": baseline}, rounds, before)
    app, admin = last["import"]
    check = [timed(lambda: app.imports.check("parties", data, admin))[0] for _ in range(3)]
    rerun = [timed(lambda: app.imports.run("parties", data, admin))[0] for _ in range(2)]
    for store, _ in [*stores.values(), *last.values()]:
        store.close()
    n = f"{rows:,}"
    return [
        cost_row("import/parties", f"import a {n}-row parties file (checked, then one command per row)", rows,
                 t["import"], t["register"], f"app.parties.register x {n}", "<= 1.5",
                 rows_per_s=round(rows / statistics.median(t["import"]))),
        {"name": "import/parties-check", "what": f"check every row of a {n}-row file, nothing written",
         "events": 0, "baseline": "-", "ratio": round(statistics.median(check), 4),
         "spread": [round(min(check), 4), round(max(check), 4)], "rounds": len(check),
         "target": "report (seconds)", "met": None, "peak_rss_mb": None},
        {"name": "import/parties-rerun", "what": f"the same {n}-row file again: every row already recorded",
         "events": 0, "baseline": "-", "ratio": round(statistics.median(rerun), 4),
         "spread": [round(min(rerun), 4), round(max(rerun), 4)], "rounds": len(rerun),
         "target": "report (seconds)", "met": None, "peak_rss_mb": None},
    ]


def _close(last: dict[str, tuple[EngagementTracker, Actor]], arm: str, app: EngagementTracker, admin: Actor) -> None:
    previous = last.get(arm)
    if previous is not None:
        previous[0].close()
    last[arm] = (app, admin)
