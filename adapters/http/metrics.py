"""Request counts and latencies for ``/metrics``, in the Prometheus text format (no dependency)."""

from __future__ import annotations

import threading
from collections import defaultdict

#: Upper bounds (seconds) of the latency histogram's buckets.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Counters by (method, route template, status) and a latency histogram by route."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._buckets: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self._sums: dict[tuple[str, str], float] = defaultdict(float)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(method, route, status)] += 1
            counts = self._buckets[(method, route)]
            index = next((i for i, bound in enumerate(BUCKETS) if seconds <= bound), len(BUCKETS))
            counts[index] += 1
            self._sums[(method, route)] += seconds

    def render(self) -> str:
        lines = ["# HELP etrack_http_requests_total HTTP requests answered, by method, route and status.",
                 "# TYPE etrack_http_requests_total counter"]
        with self._lock:
            for (method, route, status), n in sorted(self._requests.items()):
                lines.append(f'etrack_http_requests_total{{method="{method}",route="{_label(route)}",status="{status}"}} {n}')
            lines += ["# HELP etrack_http_request_duration_seconds Time to answer, by method and route.",
                      "# TYPE etrack_http_request_duration_seconds histogram"]
            for (method, route), counts in sorted(self._buckets.items()):
                labels = f'method="{method}",route="{_label(route)}"'
                running = 0
                for bound, n in zip((*map(str, BUCKETS), "+Inf"), counts, strict=True):
                    running += n
                    lines.append(f'etrack_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {running}')
                lines.append(f"etrack_http_request_duration_seconds_sum{{{labels}}} {self._sums[(method, route)]:.6f}")
                lines.append(f"etrack_http_request_duration_seconds_count{{{labels}}} {running}")
        return "\n".join(lines) + "\n"
