"""One supervisor for every tenant's projections: ``etrack projections run --all-tenants``.

The supervisor follows each tenant's store with its own :class:`ProjectionRunner` (one thread per
tenant; on PostgreSQL each LISTENs on its own schema's notifications), looks for new tenants every
``rescan`` seconds and starts them, stops following a deleted one, and restarts a runner that
failed, after a back-off doubling from ``backoff_first`` to ``backoff_last`` seconds (reset once it
runs again). :meth:`Supervisor.status` reports each tenant's state, restarts and lag (events stored
but not yet projected); :func:`tenant_lags` reads the same from the stores without running
anything (``etrack projections status``), and :func:`metrics_text` writes either as Prometheus text
for a ``/metrics`` endpoint.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from engagement_tracker.adapters.bootstrap import read_models
from engagement_tracker.adapters.runner import ProjectionRunner
from engagement_tracker.adapters.tenants import known_tenants, open_tenant
from engagement_tracker.domain.application import EngagementTracker

log = logging.getLogger("etrack.supervisor")


@attrs.frozen
class TenantStatus:
    """One tenant's projections: ``state`` (running, waiting to restart, stopped), restarts, lag."""

    tenant: str
    state: str
    head: int | None  # the store's last position (None: not read)
    position: int | None  # the projections' lowest recorded position
    restarts: int = 0
    error: str | None = None

    @property
    def lag(self) -> int | None:
        """Events stored and not yet projected (None when unknown)."""
        if self.head is None or self.position is None:
            return None
        return max(self.head - self.position, 0)

    def to_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "state": self.state, "head": self.head, "position": self.position,
                "lag": self.lag, "restarts": self.restarts, "error": self.error}


def store_lag(app: EngagementTracker) -> tuple[int, int]:
    """The store's last position and its projections' lowest position."""
    head = int(app.recorder.max_notification_id() or 0)
    position = min((p.position() for p in read_models(app)), default=head)
    return head, int(position)


def tenant_lags(url: str | None, opener: Callable[..., EngagementTracker] = open_tenant) -> list[TenantStatus]:
    """Every tenant's lag, read from its store now (a read: nothing is projected or made)."""
    statuses = []
    for name in known_tenants(url):
        try:
            app = opener(url, name, adopt=False)
        except Exception as exc:  # one tenant that cannot be read does not hide the others
            statuses.append(TenantStatus(name, "unreadable", None, None, error=_first_line(exc)))
            continue
        try:
            head, position = store_lag(app)
        finally:
            app.close()
        statuses.append(TenantStatus(name, "stored", head, position))
    return statuses


def metrics_text(statuses: Iterable[TenantStatus]) -> str:
    """Prometheus text exposition of each tenant's lag and restarts (what ``/metrics`` serves)."""
    rows = list(statuses)
    lines = ["# HELP etrack_projection_lag_events Events stored and not yet projected, per tenant.",
             "# TYPE etrack_projection_lag_events gauge"]
    lines += [f'etrack_projection_lag_events{{tenant="{s.tenant}"}} {s.lag}' for s in rows if s.lag is not None]
    lines += ["# HELP etrack_projection_restarts_total Restarts of a tenant's projection runner.",
              "# TYPE etrack_projection_restarts_total counter"]
    lines += [f'etrack_projection_restarts_total{{tenant="{s.tenant}"}} {s.restarts}' for s in rows]
    lines += ["# HELP etrack_projection_up 1 while a tenant's runner follows its store.",
              "# TYPE etrack_projection_up gauge"]
    lines += [f'etrack_projection_up{{tenant="{s.tenant}"}} {int(s.state == "running")}' for s in rows]
    return "\n".join(lines) + "\n"


@attrs.define
class _Slot:
    """A tenant's runner: its thread, the runner, failures in a row, when it may start again."""

    thread: threading.Thread | None = None
    runner: ProjectionRunner | None = None
    restarts: int = 0
    failures: int = 0
    not_before: float = 0.0
    error: str | None = None
    stopped: bool = False


class Supervisor:
    """Every tenant's projections under the main store at ``url``, kept current by one process."""

    def __init__(self, url: str | None, *, poll: float = 0.25, rescan: float = 5.0, backoff_first: float = 1.0,
                 backoff_last: float = 60.0, opener: Callable[..., EngagementTracker] = open_tenant) -> None:
        self.url, self.poll, self.rescan = url, poll, rescan
        self.backoff_first, self.backoff_last = backoff_first, backoff_last
        self.opener = opener
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # --- one tenant's thread -------------------------------------------------------------------

    def _follow(self, name: str, slot: _Slot) -> None:
        try:
            app = self.opener(self.url, name)
        except Exception as exc:
            self._failed(name, slot, exc)
            return
        try:
            runner = ProjectionRunner(app, self.poll)
            with self._lock:
                slot.runner = runner
            if self._stop.is_set() or slot.stopped:
                return
            runner.run(until=lambda: slot.stopped or self._stop.is_set())
        except Exception as exc:
            self._failed(name, slot, exc)
        finally:
            with self._lock:
                slot.runner = None
            app.close()

    def _failed(self, name: str, slot: _Slot, exc: BaseException) -> None:
        with self._lock:
            slot.failures += 1
            delay = min(self.backoff_first * 2 ** (slot.failures - 1), self.backoff_last)
            slot.not_before = time.monotonic() + delay
            slot.error = _first_line(exc)
        log.warning("tenant %s: projections stopped (%s); restarting in %.1f s", name, slot.error, delay)

    def _start(self, name: str, slot: _Slot, restart: bool) -> None:
        if restart:
            slot.restarts += 1
        slot.thread = threading.Thread(target=self._follow, args=(name, slot), name=f"etrack-tenant-{name}",
                                       daemon=True)
        slot.thread.start()

    # --- the loop ------------------------------------------------------------------------------

    def step(self) -> None:
        """One round: start new tenants, restart failed ones whose back-off is over, drop deleted ones."""
        try:
            names = set(known_tenants(self.url))
        except Exception as exc:  # the main store lost for a moment: keep what runs, look again later
            log.warning("cannot list the tenants (%s)", _first_line(exc))
            return
        now = time.monotonic()
        with self._lock:
            for name in sorted(names - set(self._slots)):
                log.info("tenant %s: following its store", name)
                self._slots[name] = slot = _Slot()
                self._start(name, slot, restart=False)
            for name in sorted(set(self._slots) - names):
                log.info("tenant %s: deleted; no longer followed", name)
                gone = self._slots.pop(name)
                gone.stopped = True
                if gone.runner is not None:
                    gone.runner.stop()  # also while it backs off from its store, dropped under it
            for name, slot in self._slots.items():
                alive = slot.thread is not None and slot.thread.is_alive()
                if not alive and slot.error is not None and now >= slot.not_before:
                    self._start(name, slot, restart=True)
                elif alive and slot.runner is not None and slot.failures and now >= slot.not_before + self.rescan:
                    slot.failures, slot.error = 0, None  # it has run a while again: the back-off starts over

    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Supervise until :meth:`stop` (or ``until()`` is true); then stop every runner."""
        try:
            while not self._stop.is_set():
                self.step()
                if until is not None and until():
                    break
                self._stop.wait(min(self.rescan, self.backoff_first))
        finally:
            self.stop()
            for slot in list(self._slots.values()):
                if slot.thread is not None:
                    slot.thread.join(timeout=10)

    def stop(self) -> None:
        """Ask every runner to finish its current page and the loop to return (safe from a signal handler)."""
        self._stop.set()
        with self._lock:
            for slot in self._slots.values():
                slot.stopped = True
                if slot.runner is not None:
                    slot.runner.stop()

    def status(self) -> list[TenantStatus]:
        """Each tenant followed: its state, restarts, last error and lag (read from its open store)."""
        with self._lock:
            slots = dict(self._slots)
        statuses = []
        for name, slot in sorted(slots.items()):
            runner = slot.runner
            alive = slot.thread is not None and slot.thread.is_alive()
            head = position = None
            if runner is not None and alive:
                try:
                    head = int(runner.app.recorder.max_notification_id() or 0)
                    position = min((p.position() for p in runner.projections), default=head)
                except Exception as exc:
                    slot.error = _first_line(exc)
            state = "running" if alive and runner is not None else ("starting" if alive else "waiting to restart")
            statuses.append(TenantStatus(name, state, head, position, slot.restarts, slot.error))
        return statuses


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__
