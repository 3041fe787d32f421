"""Start-up: whole ``etrack`` processes against ``python -c pass``, alternated in the same rounds.

Each arm is a new process, as a person runs it: ``etrack --help``, a read command (``etrack
engagements`` on a small store, its table printed to /dev/null) and ``python -c pass``. Each runs
once untimed first (so its bytecode is cached, as an installed package's is: pip compiles it).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.measure import judged, per_round, rounds_of


def _etrack() -> list[str]:
    """The console script beside this interpreter, as installed; else the module."""
    script = Path(sys.executable).parent / "etrack"
    return [str(script)] if script.exists() else [sys.executable, "-m", "engagement_tracker.adapters.cli"]


def _arm(argv: list[str], env: dict[str, str]) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    return run


def _rows(name: str, what: str, ours: list[float], bare: list[float], seconds_target: str) -> list[dict[str, Any]]:
    stats = per_round(ours, bare)
    seconds = statistics.median(ours)
    return [{
        "name": f"startup/{name}", "what": f"{what}: a whole process, against python -c pass", "events": 0,
        "seconds": round(seconds, 4), "baseline": "python -c pass", "baseline_seconds": round(statistics.median(bare), 4),
        **stats, "target": "<= 4", "met": judged("<= 4")(stats["ratio"]), "peak_rss_mb": None,
    }, {
        "name": f"startup/{name}-seconds", "what": f"{what}: a whole process (seconds)", "events": 0,
        "baseline": seconds_target.split()[1] + " s", "ratio": round(seconds, 4),
        "spread": [round(min(ours), 4), round(max(ours), 4)], "rounds": len(ours),
        "target": seconds_target, "met": judged(seconds_target)(seconds), "peak_rss_mb": None,
    }]


def bench_startup(store: Path, rounds: int, reader: str) -> list[dict[str, Any]]:
    """``etrack --help`` and ``etrack engagements --as READER`` (the store at STORE) against ``python -c pass``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(ETRACK_DATABASE_URL=f"sqlite:///{store}", COLUMNS="120")
    arms = {"help": _arm([*_etrack(), "--help"], env), "read": _arm([*_etrack(), "engagements", "--as", reader], env),
            "pass": _arm([sys.executable, "-c", "pass"], env)}
    for arm in arms.values():  # untimed: bytecode written, files in the page cache
        arm()
    t = rounds_of(arms, rounds)
    return [*_rows("help", "etrack --help", t["help"], t["pass"], "<= 0.3"),
            *_rows("read", "etrack engagements (a read command, a 1,000-event store)", t["read"], t["pass"], "<= 0.5")]
