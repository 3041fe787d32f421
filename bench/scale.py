"""Scale: the reference size and a larger one, each point in its own process (its own peak RSS), run
in the order ref, big, big, ref, ... so that drift weighs on both; ratios per pair of the same round."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.measure import judged, peak_rss_mb, per_round, timed


def scale_point(events: int, directory: Path) -> dict[str, Any]:
    """One size, in this process: per-event cost of bulk record and of rebuild, a whole-history
    query, and peak RSS."""
    from bench.record import granted
    from bench.store import batches, sqlite_app
    from bench.workload import histories
    from engagement_tracker.adapters import bootstrap
    from engagement_tracker.adapters.runner import ProjectionRunner
    from engagement_tracker.domain import Role

    name = f"scale-{events}-{os.getpid()}.sqlite"
    app = sqlite_app(directory, name)
    t_record = 0.0
    n = 0
    for group in batches(histories(app.sealer, events)):
        n += sum(len(a.pending_events) for a in group)
        t, _ = timed(lambda g=group: app.save(*g))
        t_record += t
    t_rebuild, _ = timed(ProjectionRunner(app).rebuild)
    analyst = granted(app, "Analyst", Role.ANALYST)
    service = bootstrap.analyst_service(app)
    t_query, _ = timed(lambda: service.summary(analyst, ["theme", "period"], period="quarter"))
    app.close()
    (directory / name).unlink(missing_ok=True)
    return {"events": n, "record_us_per_event": round(1e6 * t_record / n, 2),
            "rebuild_us_per_event": round(1e6 * t_rebuild / n, 2), "query_s": round(t_query, 3),
            "peak_rss_mb": round(peak_rss_mb(), 1)}


def _point(size: int, directory: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "bench", "_scale", str(size), str(directory)],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def bench_scale(directory: Path, ref: int, big: int, rounds: int) -> list[dict[str, Any]]:
    refs: list[dict[str, Any]] = []
    bigs: list[dict[str, Any]] = []
    for r in range(rounds):
        for size in (ref, big) if r % 2 == 0 else (big, ref):
            (refs if size == ref else bigs).append(_point(size, directory))
    rows = []
    n_big, n_ref = bigs[0]["events"], refs[0]["events"]
    for key, label, target in (("record_us_per_event", "bulk record per event", "<= 1.3"),
                               ("rebuild_us_per_event", "rebuild per event", "<= 1.3"),
                               ("peak_rss_mb", "peak RSS (record, rebuild, whole-history query)", "<= 1.5")):
        stats = per_round([b[key] for b in bigs], [p[key] for p in refs])
        rows.append({
            "name": f"scale/{key.split('_')[0] if key != 'peak_rss_mb' else 'rss'}", "what": f"{label}, {n_big} "
            f"events against {n_ref}", "events": n_big, "ours": [b[key] for b in bigs],
            "baseline": f"the {n_ref}-event point", "base": [p[key] for p in refs], **stats,
            "target": target, "met": judged(target)(stats["ratio"]), "peak_rss_mb": max(b["peak_rss_mb"] for b in bigs),
        })
    peak = max(b["peak_rss_mb"] for b in bigs)
    target = "<= 100" if n_big >= 1_000_000 else None
    rows.append({
        "name": "scale/query-rss", "what": f"peak RSS of a process that imported, rebuilt and ran a whole-history "
        f"query at {n_big} events (MB)", "events": n_big, "baseline": "100 MB", "ratio": peak, "spread": [
            min(b["peak_rss_mb"] for b in bigs), peak], "rounds": len(bigs), "query_s": [b["query_s"] for b in bigs],
        "target": target or "report (the target applies at 1M events)", "met": judged(target)(peak),
        "peak_rss_mb": peak,
    })
    return rows
