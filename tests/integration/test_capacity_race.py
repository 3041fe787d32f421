"""Many threads race for a coach's last team slots on a real SQLite file: never more than the limit."""

from __future__ import annotations

import threading
from pathlib import Path

from engagement_tracker.domain import CapacityExceeded, Role
from tests.support import FakeClock, granted, new_tracker


def test_racing_commands_never_overfill_a_coach(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.sqlite'}"
    setup = new_tracker(url)
    coach = granted(setup, Role.COACH, "Coach")
    contenders = [(setup.parties.register("team", f"Team {n}").value, setup.parties.register("person", f"Manager {n}").value)
                  for n in range(12)]
    setup.close()

    barrier = threading.Barrier(len(contenders))
    outcomes: list[object] = []
    lock = threading.Lock()

    def contend(team: object, sponsor: object) -> None:
        app = new_tracker(url, FakeClock())
        try:
            barrier.wait()
            try:
                result: object = app.engagements.open(coach, team, sponsor, "line_manager", "Digital Factory").value
            except CapacityExceeded as exc:  # never ConcurrencyConflict: every clash is progress, retried
                result = exc
            with lock:
                outcomes.append(result)
        finally:
            app.close()

    threads = [threading.Thread(target=contend, args=pair) for pair in contenders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert len(outcomes) == len(contenders)
    winners = [o for o in outcomes if not isinstance(o, Exception)]
    losers = [o for o in outcomes if isinstance(o, Exception)]
    assert len(winners) == 4
    assert all(isinstance(o, CapacityExceeded) for o in losers), losers

    check = new_tracker(url)
    load = check.engagements.coach_load(coach)
    assert load["active"] == 4
    assert sorted(load["active_team_engagements"]) == sorted(str(w) for w in winners)
    assert len(list(check.engagements.ids())) == 4  # no loser left an engagement behind
    check.close()
