"""``tenants`` (PostgreSQL, ``ETRACK_BENCH_POSTGRES_URL``): many tenants on one server, and one large tenant.

- ``tenants/memory``: N tenants of E events each (made with ``create_tenant``, filled through the
  domain's histories), then all N opened together in this process, each loading its engagements:
  the resident memory each open tenant adds (VmRSS after, minus before, over N). Reported.
- ``tenants/served-memory``: the same N tenants opened by ``etrack serve --all-tenants``'s router
  (``adapters/http/tenancy.py``: each tenant's store and its FastAPI application): the memory each adds.
- ``tenants/commands``: one command per save (``record_session``), round-robin across the N open
  tenants, against the same commands on one tenant, arms alternated in rounds (ratio: across / one), each arm
  run untimed first (WARM commands per tenant) so both run with prepared statements.
- ``tenants/record``, ``tenants/rebuild``: one tenant at BIG events against one at REF events:
  bulk record (batches of < 900 events) and rebuild of every projection, per event (target
  <= 1.3 x). Each point is a fresh tenant; the points run ref, big (then big, ref, ...).
- ``tenants/record-grown``: the record figure with its arms alternated: a tenant of BIG events and one
  of REF (each filled with 20,000 events through the domain, then grown server-side by copying them
  under new ids, with their seal rows: minutes, where recording 5 million through the domain takes
  hours), then rounds of 20,000 events recorded into each in turn (target <= 1.3 x).

Sizes: ``--tenants N,EVENTS`` (100,10000; ``--quick`` 5,200) and ``--tenant-scale REF,BIG``
(100000,5000000; ``--quick`` 500,2000). Every schema made is dropped at the end, keys included.
An open tenant holds about two server connections (``pool_size=1``: its events' pool and its key
vault's): more than about 40 tenants at once need pgbouncer in front of a stock PostgreSQL
(max_connections = 100), with ``ETRACK_BENCH_POSTGRES_URL=postgresql://...?pooler=transaction``.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from bench.measure import judged, per_round, rounds_of, throughput_row, timed
from bench.record import NOTE, _engagements, granted
from bench.store import batches
from bench.workload import histories
from engagement_tracker.adapters import open_tracker
from engagement_tracker.adapters.runner import ProjectionRunner
from engagement_tracker.adapters.tenants import KEYS_ENV, create_tenant, open_tenant
from engagement_tracker.domain import Actor, EngagementTracker, Role

WARM = 6  # commands per tenant before the timed rounds: past psycopg's prepare_threshold (5)
ENGAGEMENTS = 4  # engagements in accompaniment per tenant, which the commands record sessions on (--quick: 2)


def rss_mb() -> float:
    """This process's resident set now (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _fill(app: EngagementTracker, events: int, seed: int) -> int:
    n = 0
    for group in batches(histories(app.sealer, events, seed=seed)):
        n += sum(len(a.pending_events) for a in group)
        app.save(*group)
    return n


def _drop(url: str, prefix: str) -> None:
    import psycopg

    from engagement_tracker.adapters.storage import parse_url, postgres_conninfo

    with psycopg.connect(postgres_conninfo(parse_url(url)), autocommit=True) as conn:
        names = [r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                                            (prefix.replace("_", r"\_") + "%",)).fetchall()]
        for name in names:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _scoped(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def _commands(apps: list[EngagementTracker], coaches: list[Actor], ids: list[list[UUID]],
              count: int) -> Callable[[], None]:
    """``count`` sessions recorded, command i on tenant i mod len(apps) (one of its engagements in turn)."""
    state = {"i": 0}

    def run() -> None:
        for _ in range(count):
            i = state["i"]
            state["i"] += 1
            t = i % len(apps)
            eid = ids[t][(i // len(apps)) % len(ids[t])]
            apps[t].engagements.record_session(eid, coaches[t], date(2026, 2, 1) + timedelta(days=i % 300), 90,
                                               ["delegation"], NOTE)
    return run


def bench_many(url: str, tenants: int, events: int, rounds: int, per_round: int,
               engagements: int = ENGAGEMENTS) -> list[dict[str, Any]]:
    main = f"bt_{uuid.uuid4().hex[:8]}"
    # one pooled connection per tenant and per vault (about two server connections per open tenant):
    # 100 open tenants still exceed PostgreSQL's default max_connections (100), so the full size runs
    # through pgbouncer (ETRACK_BENCH_POSTGRES_URL=...?pooler=transaction, see the operator's guide)
    main_url = _scoped(url, main) + "&pool_size=1"
    names = [f"t{i:03d}" for i in range(tenants)]
    try:
        open_tracker(main_url).close()
        stored = 0
        t0 = time.perf_counter()
        for i, name in enumerate(names):
            create_tenant(main_url, name)
            app = open_tenant(main_url, name)
            try:
                stored += _fill(app, events, seed=i)
            finally:
                app.close()
        fill_s = time.perf_counter() - t0
        gc.collect()
        before = rss_mb()
        apps = [open_tenant(main_url, name) for name in names]
        try:
            coaches = [granted(app, "Coach", Role.COACH) for app in apps]
            ids = [_engagements(app, coach, engagements, 0) for app, coach in zip(apps, coaches, strict=True)]
            gc.collect()
            per_tenant = (rss_mb() - before) / tenants
            # untimed, both arms: each tenant's connection runs a command's statements more often than
            # psycopg's prepare_threshold (5), so both arms run prepared, as on a server up a while; without
            # it the one-tenant arm was prepared after its fifth command while the across arm (one command
            # per tenant per round at 100 tenants) ran unprepared in every round (PostgreSQL directly)
            _commands(apps, coaches, ids, WARM * tenants)()
            _commands(apps[:1], coaches[:1], ids[:1], WARM)()
            t = rounds_of({"across": _commands(apps, coaches, ids, per_round),
                           "one": _commands(apps[:1], coaches[:1], ids[:1], per_round)}, rounds)
            after = rss_mb()
        finally:
            for app in apps:
                app.close()
        served = _served_memory(main_url, names)
    finally:
        _drop(url, main)
    return [*served,
        {"name": "tenants/memory", "what": f"resident memory each open tenant adds: {tenants} tenants of {events} "
         f"events open in one process, each having recorded {engagements} engagements (MB)", "events": stored,
         "ours": f"{per_tenant:.2f} MB per tenant", "baseline": f"the process before opening them: {before:.0f} MB",
         "ratio": round(per_tenant, 2), "rounds": 1, "target": "report", "met": None,
         "rss_after_commands_mb": round(after, 1), "fill_s": round(fill_s, 1), "peak_rss_mb": round(after, 1)},
        throughput_row("tenants/commands", f"one command per save (record_session), round-robin across {tenants} "
                       f"open tenants of {events} events", per_round, t["across"], t["one"],
                       "the same commands on one tenant", ">= 0.8", unit="commands"),
    ]


def _served_memory(main_url: str, names: list[str]) -> list[dict[str, Any]]:
    """``tenants/served-memory``: what each open tenant adds to ``etrack serve --all-tenants`` (its store and its
    FastAPI application, opened by the TenantRouter as a first request does), all N open at once."""
    try:
        import anyio

        from engagement_tracker.adapters.http.tenancy import TenantRouter
    except ImportError:  # the [serve] extra is not installed
        return []
    router = TenantRouter(main_url, max_open=len(names))

    async def open_all() -> float:
        await router.tenant(names[0])  # the first pays the API's imports and models once: not counted
        gc.collect()
        before = rss_mb()
        for name in names[1:]:
            await router.tenant(name)
        gc.collect()
        grown = (rss_mb() - before) / max(1, len(names) - 1)
        await router.close()
        return grown

    per_tenant = anyio.run(open_all)
    return [{"name": "tenants/served-memory", "what": f"resident memory each open tenant adds to etrack serve "
             f"--all-tenants: {len(names)} tenants opened by its router (store + FastAPI application; the first, "
             "which pays the imports, not counted), MB",
             "events": 0, "ours": f"{per_tenant:.2f} MB per tenant", "baseline": "the process before opening them",
             "ratio": round(per_tenant, 2), "rounds": 1, "target": "report", "met": None}]


def _point(url: str, main_url: str, events: int) -> dict[str, Any]:
    name = f"s{events}_{uuid.uuid4().hex[:4]}"
    create_tenant(main_url, name)
    app = open_tenant(main_url, name)
    try:
        t_record, n = timed(lambda: _fill(app, events, seed=events))
        t_rebuild, _ = timed(ProjectionRunner(app).rebuild)
    finally:
        app.close()
    return {"events": n, "record_us_per_event": round(1e6 * t_record / n, 2),
            "rebuild_us_per_event": round(1e6 * t_rebuild / n, 2)}


def bench_big(url: str, ref: int, big: int, rounds: int) -> list[dict[str, Any]]:
    main = f"bs_{uuid.uuid4().hex[:8]}"
    main_url = _scoped(url, main)
    refs: list[dict[str, Any]] = []
    bigs: list[dict[str, Any]] = []
    try:
        open_tracker(main_url).close()
        for r in range(rounds):
            for size in (ref, big) if r % 2 == 0 else (big, ref):
                (refs if size == ref else bigs).append(_point(url, main_url, size))
                _drop(url, f"{main}_s")  # each point's tenant schema, once measured
    finally:
        _drop(url, main)
    rows = []
    for key, label in (("record_us_per_event", "bulk record per event"), ("rebuild_us_per_event", "rebuild per event")):
        stats = per_round([b[key] for b in bigs], [p[key] for p in refs])
        rows.append({
            "name": f"tenants/{key.split('_')[0]}", "what": f"one tenant: {label}, {bigs[0]['events']} events against "
            f"{refs[0]['events']} (us per event)", "events": bigs[0]["events"], "ours": [b[key] for b in bigs],
            "baseline": f"the {refs[0]['events']}-event tenant", "base": [p[key] for p in refs], **stats,
            "target": "<= 1.3", "met": judged("<= 1.3")(stats["ratio"]),
        })
    return rows


def _grow(url: str, schema: str, target: int) -> int:
    """Tenant ``schema`` grown to ``target`` events server-side: its events copied under new ids (an md5 of the
    id and the copy's number), each with a seal row chaining from its last; the table's indexes grow as a
    recorded store's would, in minutes instead of hours. Returns the events now held."""
    import psycopg

    from engagement_tracker.adapters.storage import parse_url, postgres_conninfo

    events, seals = f'"{schema}".etrack_events', f'"{schema}".etrack_record_seals'
    with psycopg.connect(postgres_conninfo(parse_url(url)), autocommit=True) as conn:
        first = int(conn.execute(f"SELECT max(notification_id) FROM {events}").fetchone()[0])  # type: ignore[index]
        copy = 0
        while int(conn.execute(f"SELECT max(notification_id) FROM {events}").fetchone()[0]) < target:  # type: ignore[index]
            copy += 1
            conn.execute(f"INSERT INTO {events} (originator_id, originator_version, topic, state) SELECT "
                         f"md5(originator_id::text || '/{copy}')::uuid, originator_version, topic, state FROM {events} "
                         "WHERE notification_id <= %s ORDER BY notification_id", (first,))
        last = conn.execute(f"SELECT position, record_tag, tag FROM {seals} ORDER BY position DESC LIMIT 1").fetchone()
        if last is not None:
            conn.execute(f"INSERT INTO {seals} SELECT notification_id, originator_id::text, originator_version, "
                         f"notification_id - 1, %s, %s FROM {events} WHERE notification_id > %s", (last[1], last[2], last[0]))
        conn.execute(f"ANALYZE {events}")
        conn.execute(f"ANALYZE {seals}")
        return int(conn.execute(f"SELECT count(*) FROM {events}").fetchone()[0])  # type: ignore[index]


def bench_grown(url: str, ref: int, big: int, rounds: int, each: int, seed_events: int) -> list[dict[str, Any]]:
    """``tenants/record-grown``: bulk record per event into a tenant of BIG events against one of REF, the arms
    alternated in rounds of ``each`` events each (the same machine state weighs on both). Each tenant is
    first filled with ``seed_events`` events through the domain, then grown server-side (``_grow``)."""
    main = f"bg_{uuid.uuid4().hex[:8]}"
    main_url = _scoped(url, main)
    apps: dict[str, EngagementTracker] = {}
    try:
        open_tracker(main_url).close()
        held: dict[str, int] = {}
        for name, size in (("ref", ref), ("big", big)):
            create_tenant(main_url, name)
            apps[name] = open_tenant(main_url, name)
            _fill(apps[name], seed_events, seed=1)
            held[name] = _grow(url, f"{main}_{name}", size)
        built = {name: iter(batches(histories(app.sealer, 1 << 62, seed=7 + i))) for i, (name, app) in
                 enumerate(apps.items())}

        counts: dict[str, list[int]] = {"big": [], "ref": []}

        def arm(name: str) -> Callable[[], None]:
            def run() -> None:
                n = 0
                while n < each:
                    group = next(built[name])
                    n += sum(len(a.pending_events) for a in group)
                    apps[name].save(*group)
                counts[name].append(n)
            return run

        t = rounds_of({"big": arm("big"), "ref": arm("ref")}, rounds)
    finally:
        for app in apps.values():
            app.close()
        _drop(url, main)
    us = {name: [1e6 * s / n for s, n in zip(t[name], counts[name], strict=True)] for name in t}
    stats = per_round(us["big"], us["ref"])
    return [{"name": "tenants/record-grown", "what": f"one tenant: bulk record (build and save) per event into a "
             f"store of {held['big']} events against one of {held['ref']}, {each} events a round, arms "
             f"alternated (each filled with {seed_events} events through the domain, then grown server-side)",
             "events": held["big"], "ours": [round(x, 1) for x in us["big"]],
             "baseline": f"the {held['ref']}-event tenant", "base": [round(x, 1) for x in us["ref"]],
             **stats, "target": "<= 1.3", "met": judged("<= 1.3")(stats["ratio"])}]


def bench_tenants(url: str, quick: bool, many: tuple[int, int] | None,
                  scale: tuple[int, int] | None) -> list[dict[str, Any]]:
    """Every tenants figure, the tenants' keys in a temporary directory (removed with them)."""
    tenants, events = many or ((5, 200) if quick else (100, 10_000))
    ref, big = scale or ((500, 2_000) if quick else (100_000, 5_000_000))
    saved = os.environ.get(KEYS_ENV)
    with tempfile.TemporaryDirectory(prefix="etrack-bench-keys-") as keys:
        os.environ[KEYS_ENV] = keys
        try:
            rows = bench_many(url, tenants, events, 2 if quick else 5, 20 if quick else 100, 2 if quick else ENGAGEMENTS)
            rows += bench_big(url, ref, big, 2 if quick else 1)
            rows += bench_grown(url, ref, big, 2 if quick else 6, 500 if quick else 20_000, 300 if quick else 20_000)
        finally:
            if saved is None:
                os.environ.pop(KEYS_ENV, None)
            else:
                os.environ[KEYS_ENV] = saved
    return rows
