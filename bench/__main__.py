"""``python -m bench``: the cost of every path, against baselines and limits run in the same process.

Every figure alternates its arms within one run (ours, the baseline, the physical limit; several
rounds, the order reversed every other round) and reports the median of the per-round ratios with
its spread. Every figure carries its target and ``met`` (true, false, or null for a reported extra);
``--check`` exits 1 when a target is missed; ``--markdown FILE.json`` prints a run's figures as the
README's table. ``--quick`` (a minute or two) is the CI smoke test: it
asserts no timing. ``ETRACK_BENCH_POSTGRES_URL`` (a database the benchmark may write a schema into)
adds the PostgreSQL figures, and the tenants figures (``bench/tenants.py``; sized by ``--tenants N,EVENTS``
and ``--tenant-scale REF,BIG``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.imports import bench_imports
from bench.measure import cost_row, rounds_of
from bench.record import bench_record, granted
from bench.releases import bench_release_leaves, bench_releases, forget_releases
from bench.scale import bench_scale, scale_point
from bench.startup import bench_startup
from bench.store import bench_bulk, bench_rebuild, bench_replay, bench_verify, build_store
from engagement_tracker.adapters import bootstrap, open_tracker
from engagement_tracker.adapters.runner import ProjectionRunner
from engagement_tracker.domain import EngagementTracker, Role


def bench_query_size(small: EngagementTracker, large: EngagementTracker, rounds: int) -> dict[str, Any]:
    """The same window query (the first month: the same cells) on a small and a large store, in turn."""
    analysts = {id(app): granted(app, "Analyst", Role.ANALYST) for app in (small, large)}
    services = {id(app): bootstrap.analyst_service(app) for app in (small, large)}
    query = {"since": "2025-01", "until": "2025-01", "period": "month"}
    for app in (small, large):
        services[id(app)].analytics.catch_up()

    def arm(app: EngagementTracker) -> Any:
        def run() -> None:
            forget_releases(app)  # a fresh ledger each time (the release figures measure a long one)
            services[id(app)].summary(analysts[id(app)], ["theme", "period"], **query)  # type: ignore[arg-type]
        return run

    t = rounds_of({"large": arm(large), "small": arm(small)}, rounds)
    n_small, n_large = small.recorder.max_notification_id(), large.recorder.max_notification_id()
    return cost_row("query/window-size", f"window query (January 2025) at {n_large} events against {n_small}",
                    n_large or 0, t["large"], t["small"], f"the same query at {n_small} events", "<= 1.5")


def postgres_figures(url: str, directory: Path, quick: bool, events: int) -> list[dict[str, Any]]:
    """record and rebuild on PostgreSQL, in a schema of their own (dropped afterwards)."""
    import psycopg

    from bench.store import batches
    from bench.workload import histories
    from engagement_tracker.adapters.storage import parse_url, postgres_conninfo

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    scoped = f"{url}{'&' if '?' in url else '?'}schema={schema}"
    rows = []
    try:
        rows.extend(bench_record(scoped, directory, "postgresql", 20 if quick else 60, 3 if quick else 7,
                                 3 if quick else 20, 40 if quick else 160))
        app = open_tracker(scoped)
        for group in batches(histories(app.sealer, events)):
            app.save(*group)
        rebuild = [r for r in bench_rebuild(app, None, 2 if quick else 5) if r["name"] == "rebuild"]
        rebuild[0]["name"] = "rebuild/postgresql"
        rows.extend(rebuild)
        app.close()
    finally:
        with psycopg.connect(postgres_conninfo(parse_url(url)), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return rows


#: The groups of figures ``--only`` may choose (a full run measures all of them).
GROUPS = ("startup", "record", "bulk", "import", "read", "postgresql", "tenants", "scale", "http", "demo", "dp")


def run(quick: bool, events: int | None, sizes: list[int] | None, json_path: str | None,
        only: set[str] | None = None, tenants: tuple[int, int] | None = None,
        tenant_scale: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    events = events or (3_000 if quick else 100_000)
    sizes = sizes if sizes is not None else ([1_000, 3_000] if quick else [100_000, 1_000_000])
    rounds = 2 if quick else 5
    chosen = set(GROUPS) if only is None else only
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="etrack-bench-") as tmp:
        directory = Path(tmp)
        if "startup" in chosen:
            startup_dir = directory / "startup"
            startup_dir.mkdir()
            small_app = build_store(startup_dir, 1_000)
            reader = f"admin:{small_app.access.initialise('Bench Admin').value}"  # every read names its reader
            ProjectionRunner(small_app).catch_up()
            small_app.close()
            results.extend(bench_startup(startup_dir / "store.sqlite", 5 if quick else 21, reader))
        if "record" in chosen:
            results.extend(bench_record(f"sqlite:///{directory / 'record.sqlite'}", directory, "sqlite",
                                        20 if quick else 100, 3 if quick else 7, 3 if quick else 20, 40 if quick else 160))
        if "bulk" in chosen:
            results.extend(bench_bulk(directory, 1_000 if quick else 20_000, rounds))
        if "import" in chosen:
            results.extend(bench_imports(directory, 500 if quick else 10_000, 2 if quick else 3))
        if "read" in chosen:
            app = build_store(directory, events)
            results.extend(bench_verify(app, directory / "store.sqlite", rounds))
            results.extend(bench_rebuild(app, directory / "store.sqlite", rounds))
            results.extend(bench_replay(app, directory, rounds))
            small_dir = directory / "small"
            small_dir.mkdir()
            small = build_store(small_dir, 1_000 if quick else 10_000)
            results.append(bench_query_size(small, app, rounds + 2))
            small.close()
            app.close()
            results.extend(bench_releases(small_dir / "store.sqlite", small_dir, [20, 200] if quick else [100, 1_000],
                                          3 if quick else 9, granted))
            results.extend(bench_release_leaves(small_dir / "store.sqlite", small_dir, 5 if quick else 15, granted))
        pg = os.environ.get("ETRACK_BENCH_POSTGRES_URL")
        if pg and "postgresql" in chosen:
            results.extend(postgres_figures(pg, directory, quick, 2_000 if quick else 20_000))
        if pg and "tenants" in chosen:
            from bench.tenants import bench_tenants

            results.extend(bench_tenants(pg, quick, tenants, tenant_scale))
        if "http" in chosen and importlib.util.find_spec("fastapi") is not None:  # the [serve] extra
            from bench.http import bench_http

            results.extend(bench_http(directory, quick))
            if pg:
                from bench.http import bench_http_postgres

                results.extend(bench_http_postgres(pg, directory, quick))
        if "demo" in chosen:
            from bench.demo import bench_demo

            results.extend(bench_demo(directory, quick))
        if "dp" in chosen and importlib.util.find_spec("opendp") is not None:  # the [dp] extra
            from bench.dp import bench_dp, bench_dp_unit

            results.extend(bench_dp(3 if quick else 9))
            results.extend(bench_dp_unit(directory, 3 if quick else 9))
        if len(sizes) >= 2 and "scale" in chosen:
            results.extend(bench_scale(directory, sizes[0], sizes[1], 2))
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "when": datetime.now(UTC).isoformat(timespec="seconds"), "quick": quick,
            "method": "arms alternated within the run, order reversed every other round; median of per-round "
                      "ratios, spread = lowest and highest round",
            "postgresql": bool(os.environ.get("ETRACK_BENCH_POSTGRES_URL")), "groups": sorted(chosen)}
    if json_path:
        Path(json_path).write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print_table(results, meta)
    return results


def print_table(results: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"python -m bench ({meta['machine']})")
    for col in ("name", "ours", "baseline", "ratio (median)", "spread", "target", "met"):
        table.add_column(col)
    for r in results:
        if "events_per_s" in r:
            ours, base = f"{r['events_per_s']}/s", f"{r['baseline']}: {r['baseline_events_per_s']}/s"
        elif "seconds" in r:
            ours, base = f"{r['seconds']} s", f"{r['baseline']}: {r['baseline_seconds']} s"
        else:
            ours, base = str(r.get("ours", "")), str(r["baseline"])
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        table.add_row(r["name"], ours, base, str(r["ratio"]), str(r.get("spread", "")), r["target"], met)
    Console(width=200).print(table)


def markdown(results: list[dict[str, Any]]) -> str:
    """The figures as the README's table (``python -m bench --markdown FROM.json``)."""
    lines = ["| name | what | ours | baseline (same run) | ratio: median [lowest, highest round] | target | met |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        if "events_per_s" in r:
            unit = "commands" if r.get("unit") == "commands" else "ev"
            ours, base = f"{r['events_per_s']:,} {unit}/s", f"{r['baseline']}: {r['baseline_events_per_s']:,} {unit}/s"
        elif "seconds" in r:
            ours, base = f"{r['seconds']} s", f"{r['baseline']}: {r['baseline_seconds']} s"
        else:
            ours, base = str(r.get("ours", "")), str(r["baseline"]) + (f": {r['base']}" if "base" in r else "")
        spread = r.get("spread")
        ratio = f"**{r['ratio']}** {spread}" if spread else f"**{r['ratio']}**"
        met = {True: "yes", False: "**no**", None: "-"}[r["met"]]
        lines.append(f"| {r['name']} | {r['what']} | {ours} | {base} | {ratio} | {r['target']} | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_scale":
        print(json.dumps(scale_point(int(argv[1]), Path(argv[2]))))
        return
    if argv and argv[0] == "--markdown":
        print(markdown(json.loads(Path(argv[1]).read_text())["results"]))
        return
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run (asserts no timing)")
    parser.add_argument("--events", type=int, default=None, help="events for verify/rebuild/query")
    parser.add_argument("--scale", default=None, help="reference size and larger size, e.g. 100000,1000000")
    parser.add_argument("--json", dest="json_path", default=None, help="write every figure to this file")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--only", default=None, metavar="GROUPS",
                        help=f"measure only these groups, comma-separated, of: {', '.join(GROUPS)} (default all)")
    parser.add_argument("--tenants", default=None, metavar="N,EVENTS",
                        help="tenants figure (ETRACK_BENCH_POSTGRES_URL): N tenants of EVENTS events each "
                             "(default 100,10000; --quick 5,200)")
    parser.add_argument("--tenant-scale", default=None, metavar="REF,BIG",
                        help="tenants figure: one tenant at BIG events against one at REF "
                             "(default 100000,5000000; --quick 500,2000)")
    args = parser.parse_args(argv)
    pairs = {}
    for option, value in (("--tenants", args.tenants), ("--tenant-scale", args.tenant_scale)):
        if value is not None:
            parts = value.split(",")
            if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
                parser.error(f"{option}: two positive whole numbers, comma-separated (e.g. 100,10000), not {value!r}")
            pairs[option] = (int(parts[0]), int(parts[1]))
    sizes = [int(s) for s in args.scale.split(",")] if args.scale else None
    only = set(args.only.split(",")) if args.only else None
    if only is not None and not only <= set(GROUPS):
        parser.error(f"--only: unknown group(s) {', '.join(sorted(only - set(GROUPS)))}; expected some of "
                     f"{', '.join(GROUPS)}")
    results = run(args.quick, args.events, sizes, args.json_path, only, pairs.get("--tenants"),
                  pairs.get("--tenant-scale"))
    missed = [r["name"] for r in results if r["met"] is False]
    if args.check and missed:
        print(f"targets missed: {', '.join(missed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
