"""Chapter 14: measuring a server from the client side -- a bounded load test and its latency summary."""
from __future__ import annotations

import json
import threading
import time

import numpy as np

__all__ = ["load_test", "latency_summary"]


# ---------------------------------------------------------------------- measuring
def load_test(url: str, path: str, bodies, concurrency: int = 8, requests: int = 200,
              timeout: float = 30.0) -> dict:
    """Chapter 14: a bounded load test: ``requests`` POSTs to ``url + path`` from ``concurrency`` threads.

    Each thread keeps one HTTP/1.1 connection open and sends its share of the
    requests one after another, cycling through ``bodies`` (dicts). Returns
    ``{"latencies_ms": [...], "wall_s": ..., "errors": n, **latency_summary(...)}``.
    Meant for loopback (the notebook, the benchmark), not for testing servers you do not run.
    """
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    payloads = [json.dumps(b).encode("utf-8") for b in bodies]
    if not payloads or int(concurrency) < 1 or int(requests) < 1:
        raise ValueError("load_test: need at least one body, one client and one request")
    concurrency, requests = int(concurrency), int(requests)
    shares = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]
    latencies, errors, lock = [], [0], threading.Lock()
    barrier = threading.Barrier(concurrency)

    def client(k: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        mine, bad = [], 0
        try:
            barrier.wait(timeout)
            for i in range(shares[k]):
                data = payloads[(k + i * concurrency) % len(payloads)]
                t0 = time.perf_counter()
                conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                mine.append((time.perf_counter() - t0) * 1000.0)
                bad += resp.status != 200
        except (OSError, http.client.HTTPException, threading.BrokenBarrierError):
            bad += shares[k] - len(mine)
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)
                errors[0] += bad

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout * max(shares) + 5)
    wall = time.perf_counter() - t0
    return {"latencies_ms": latencies, "wall_s": wall, "errors": errors[0], **latency_summary(latencies, wall)}


def latency_summary(latencies_ms, wall_s: float) -> dict:
    """Chapter 14: p50, p90, p99 latency (ms) and throughput (requests per second) of a load test."""
    lat = np.asarray(latencies_ms, dtype=np.float64)
    if lat.size == 0:
        return {"p50_ms": float("nan"), "p90_ms": float("nan"), "p99_ms": float("nan"), "rps": 0.0}
    p50, p90, p99 = np.percentile(lat, [50, 90, 99])
    return {"p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99), "rps": float(lat.size / wall_s)}
