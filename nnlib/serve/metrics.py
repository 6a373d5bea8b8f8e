"""Chapter 14: the server's counters, in the Prometheus text format (``GET /metrics``).

Written by hand rather than with ``prometheus_client``: the server has five fixed
metric families, the text format is a few lines per sample, and keeping it here
means ``nnlib[serve]`` needs only FastAPI and uvicorn. Every label takes values from
a fixed set (the known endpoints, "other", HTTP status codes), so the state is
bounded however many requests arrive. The tests read the output back with
``prometheus_client``'s own parser.

Thread-safe: the event loop counts requests, the model thread counts batches.
"""
from __future__ import annotations

import bisect
import threading

__all__ = ["Metrics", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Request latency buckets (seconds) and batch-size buckets (rows per forward pass).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class _Histogram:
    __slots__ = ("bounds", "counts", "total", "n")

    def __init__(self, bounds):
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.n += 1

    def lines(self, name: str, labels: str) -> list:
        sep = "," if labels else ""
        out, running = [], 0
        for bound, count in zip(self.bounds + ("+Inf",), self.counts):
            running += count
            le = bound if isinstance(bound, str) else repr(float(bound))
            out.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {running}')
        wrap = f"{{{labels}}}" if labels else ""
        out += [f"{name}_sum{wrap} {self.total!r}", f"{name}_count{wrap} {self.n}"]
        return out


class Metrics:
    """Chapter 14: request, error, latency and batch counters of one server; :meth:`render` gives the text format."""

    def __init__(self, endpoints):
        self.endpoints = frozenset(endpoints)
        self._lock = threading.Lock()
        self.requests = {}            # (endpoint, status) -> count
        self.latency = {}             # endpoint -> _Histogram
        self.batches = _Histogram(BATCH_BUCKETS)
        self.refused = {}             # reason -> connections closed before a request was answered
        self.disconnects = 0          # clients that hung up before their answer
        self.in_flight = 0
        self.connections = lambda: 0  # the server sets this to count open connections

    def endpoint(self, path: str) -> str:
        """Chapter 14: the label for ``path``: the path itself if it is an endpoint, else "other" (bounded)."""
        return path if path in self.endpoints else "other"

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        """Chapter 14: count one answered request and its latency."""
        key = (self.endpoint(path), int(status))
        with self._lock:
            self.requests[key] = self.requests.get(key, 0) + 1
            hist = self.latency.get(key[0])
            if hist is None:
                hist = self.latency[key[0]] = _Histogram(LATENCY_BUCKETS)
            hist.observe(seconds)

    def observe_batch(self, rows: int) -> None:
        """Chapter 14: count one forward pass of ``rows`` rows."""
        with self._lock:
            self.batches.observe(rows)

    def refuse(self, reason: str) -> None:
        """Chapter 14: count a connection closed before a request was answered."""
        with self._lock:
            self.refused[reason] = self.refused.get(reason, 0) + 1

    def disconnected(self) -> None:
        """Chapter 14: count a client that hung up before its answer."""
        with self._lock:
            self.disconnects += 1

    def render(self) -> str:
        """Chapter 14: all counters in the Prometheus text exposition format (version 0.0.4)."""
        with self._lock:
            out = ["# HELP nnlib_requests_total HTTP requests answered, by endpoint and status code.",
                   "# TYPE nnlib_requests_total counter"]
            out += [f'nnlib_requests_total{{endpoint="{e}",status="{s}"}} {n}'
                    for (e, s), n in sorted(self.requests.items())]
            errors = {}
            for (_, s), n in self.requests.items():
                if s >= 400:
                    errors[s] = errors.get(s, 0) + n
            out += ["# HELP nnlib_errors_total Requests answered with a 4xx or 5xx status, by status code.",
                    "# TYPE nnlib_errors_total counter"]
            out += [f'nnlib_errors_total{{status="{s}"}} {n}' for s, n in sorted(errors.items())]
            out += ["# HELP nnlib_request_duration_seconds Time from the request's headers to its answer.",
                    "# TYPE nnlib_request_duration_seconds histogram"]
            for e, hist in sorted(self.latency.items()):
                out += hist.lines("nnlib_request_duration_seconds", f'endpoint="{e}"')
            out += ["# HELP nnlib_batch_rows Rows in each forward pass of the model.",
                    "# TYPE nnlib_batch_rows histogram"]
            out += self.batches.lines("nnlib_batch_rows", "")
            out += ["# HELP nnlib_connections_refused_total Connections closed before a request was answered, "
                    "by reason.", "# TYPE nnlib_connections_refused_total counter"]
            out += [f'nnlib_connections_refused_total{{reason="{r}"}} {n}' for r, n in sorted(self.refused.items())]
            out += ["# HELP nnlib_client_disconnects_total Clients that hung up before their answer.",
                    "# TYPE nnlib_client_disconnects_total counter", f"nnlib_client_disconnects_total {self.disconnects}",
                    "# HELP nnlib_in_flight_requests Requests being handled now.",
                    "# TYPE nnlib_in_flight_requests gauge", f"nnlib_in_flight_requests {self.in_flight}"]
        out += ["# HELP nnlib_open_connections Open client connections.", "# TYPE nnlib_open_connections gauge",
                f"nnlib_open_connections {int(self.connections())}"]
        return "\n".join(out) + "\n"
