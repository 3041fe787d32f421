"""The demo's build time (``--only demo``): ``etrack demo --programme`` (150 coachees, 8 units, 8
quarters, about 5,500 events through the domain's commands) as a whole process on a fresh SQLite
store, alternated round by round with ``etrack demo`` (the 15-story sample) on a fresh store.
Target: the programme within 15 s. ``--quick`` times the sample alone (one round), as a smoke test.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.measure import judged
from bench.startup import _etrack


def _timed(directory: Path, *args: str) -> float:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    env = {**os.environ, "COLUMNS": "200"}
    t0 = time.perf_counter()
    subprocess.run([*_etrack(), "--db", f"sqlite:///{directory / 'etrack.sqlite'}", "demo", *args], cwd=directory,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    return time.perf_counter() - t0


def bench_demo(directory: Path, quick: bool) -> list[dict[str, Any]]:
    sample: list[float] = []
    programme: list[float] = []
    for r in range(1 if quick else 3):
        arms = [("sample", ()), ("programme", ("--programme",))]
        for name, args in arms if r % 2 == 0 else reversed(arms):
            if quick and name == "programme":
                continue
            (programme if name == "programme" else sample).append(_timed(directory / f"demo-{name}", *args))
    rows = [{"name": "demo/sample-seconds", "what": "etrack demo (15 stories, 2 cohorts): a whole process, fresh store",
             "events": 0, "ours": f"{statistics.median(sample):.2f} s", "baseline": "-",
             "ratio": round(statistics.median(sample), 2),
             "target": "report", "met": None, "peak_rss_mb": None}]
    if programme:
        seconds = statistics.median(programme)
        rows.append({"name": "demo/programme-seconds", "what": "etrack demo --programme (150 coachees, 8 units, "
                     "8 quarters, cohorts' readings): a whole process, fresh store", "events": 0,
                     "ours": f"{seconds:.2f} s", "baseline": "15 s", "ratio": round(seconds, 2),
                     "spread": [round(min(programme), 2), round(max(programme), 2)], "target": "<= 15",
                     "met": judged("<= 15")(seconds), "peak_rss_mb": None})
    return rows
