"""Benchmark (chapter 14): the HTTP endpoint of nnlib.serve under concurrent load, batching on and off.

Serves an MLP (30 -> 2048 -> 2048 -> 2, softmax; the seed's breast-cancer input,
wide enough that one forward pass costs milliseconds) on 127.0.0.1 and sends a bounded
number of POST /v1/predict requests (one row each) from 1, 8 and 32 client
threads, each keeping one connection open. Prints requests/s and p50/p99
latency for every setting, and how many rows the average forward pass held.
Optionally (--generate) also times POST /v1/generate on the shipped GPT.

The clients run in the same process as the server (one Python, one GIL), so the
figures are a lower bound on what the server alone could do; they compare the
settings with each other, not with other servers. Loopback only.

Run:  python benchmarks/bench_serve.py              (about half a minute)
      python benchmarks/bench_serve.py --quick      (a few seconds, for a smoke test)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def make_model():
    import nnlib
    from nnlib.layers import Dense
    from nnlib.models import Sequential

    nnlib.manual_seed(0)
    return Sequential([Dense(2048, activation="relu", input_shape=(30,)), Dense(2048, activation="relu"),
                       Dense(2, activation="softmax")])


def run(requests: int, clients=(1, 8, 32), max_wait_ms: float = 2.0, generate: bool = False) -> list:
    import nnlib.serve as serve

    rng = np.random.default_rng(0)
    bodies = [{"inputs": [rng.normal(size=30).round(4).tolist()]} for _ in range(64)]
    model = make_model()
    rows = []
    for batching in (False, True):
        with serve.start(model, port=0, batching=batching, max_batch_size=32, max_wait_ms=max_wait_ms) as server:
            serve.load_test(server.url, "/v1/predict", bodies, concurrency=4, requests=40)  # warm up
            for c in clients:
                server.stats["batches"].clear()
                r = serve.load_test(server.url, "/v1/predict", bodies, concurrency=c, requests=requests)
                batches = list(server.stats["batches"])
                rows.append({"endpoint": "predict", "batching": batching, "clients": c, "requests": len(r["latencies_ms"]),
                             "errors": r["errors"], "rps": r["rps"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"],
                             "rows_per_forward": float(np.mean(batches)) if batches else float("nan")})
    if generate:
        from nnlib.datasets import data_path
        from nnlib.gpt import GPT
        gpt = GPT.load(data_path("checkpoints/gpt_char.nnlib"))
        with serve.start(gpt, port=0) as server:
            body = [{"prompt": "The ", "max_tokens": 32, "temperature": 0.8, "top_k": 20, "seed": 0}]
            for c in (1, 4):
                r = serve.load_test(server.url, "/v1/generate", body, concurrency=c, requests=max(4, requests // 25))
                rows.append({"endpoint": "generate(32 tokens)", "batching": False, "clients": c,
                             "requests": len(r["latencies_ms"]), "errors": r["errors"], "rps": r["rps"],
                             "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "rows_per_forward": float("nan")})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per setting (default 400)")
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--generate", action="store_true", help="also time /v1/generate on the shipped GPT")
    parser.add_argument("--quick", action="store_true", help="60 requests per setting")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    n = 60 if args.quick else args.requests
    rows = run(n, max_wait_ms=args.max_wait_ms, generate=args.generate)
    print(f"nnlib.serve on 127.0.0.1, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"OMP/OPENBLAS threads={os.environ.get('OPENBLAS_NUM_THREADS', os.environ.get('OMP_NUM_THREADS', 'default'))}, "
          f"max_wait_ms={args.max_wait_ms}, clients and server in one process")
    print(f"{'endpoint':<20} {'batching':>8} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'rows/fwd':>8} {'errors':>6}")
    for r in rows:
        print(f"{r['endpoint']:<20} {str(r['batching']):>8} {r['clients']:>7} {r['rps']:>8.0f} {r['p50_ms']:>8.2f} "
              f"{r['p99_ms']:>8.2f} {r['rows_per_forward']:>8.1f} {r['errors']:>6}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
    return 0 if all(r["errors"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
