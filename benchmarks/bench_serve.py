"""Benchmark (chapter 14): nnlib.serve under load, against the same model in torch and in onnxruntime.

Every server is the same app (``nnlib.serve.ModelServer``: FastAPI on uvicorn, the
same micro-batcher, the same validation), run in its own child process
(``--serve``); only the computation behind it changes:

* ``nnlib``            the nnlib model, micro-batching on (the default server)
* ``nnlib-nobatch``    the nnlib model, one forward pass per request
* ``torch``            ``nnlib.interop.to_torch(model)``, eval, ``inference_mode``, batching on
* ``onnxruntime``      ``nnlib.export.to_onnx(model)`` in an onnxruntime session, batching on

Two workloads: ``POST /v1/predict`` on an MLP (30 -> 2048 -> 2048 -> 2, softmax; one
row per request) and ``POST /v1/generate`` on the shipped character GPT (32 tokens,
seeded). For generation, torch and onnxruntime recompute the context window at every
token (what ``to_torch``/``to_onnx`` give: no KV cache) with nnlib's own sampler, so
all three produce the same kind of text; nnlib uses its KV cache.

The load generator is THIS process (asyncio, raw sockets on 127.0.0.1, one keep-alive
connection per client), never the server's. For every backend and 1, 8, 32 and 64
clients it sends ``--requests`` requests (default 2,000), ``--repeats`` times (default
3), and prints the median requests/s, p50 and p99 with their range over the repeats.
Model threads: ``--threads`` (default 1) for NumPy's BLAS, torch and onnxruntime alike.

Run from the repository root:
      python -m benchmarks.bench_serve                 (the full table: many minutes)
      python -m benchmarks.bench_serve --quick         (a smoke run: small counts, two client levels)
      python -m benchmarks.bench_serve --json out.json (also write every measurement)
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time

import numpy as np

from benchmarks.models import serve_gpt, serve_mlp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BACKENDS = ("nnlib", "nnlib-nobatch", "torch", "onnxruntime")
GEN_BODY = {"prompt": "The ", "max_tokens": 32, "temperature": 0.8, "top_k": 20, "seed": 0}


# ---------------------------------------------------------------------- the server side (a child process)
def window_generate(logits_of, context_length: int):
    """A ``generate`` for ModelServer from a full-window logits function (no KV cache), sampling as nnlib does."""
    from nnlib.sampling import sample_next

    keep = max(1, context_length - context_length // 4)

    def generate(ids, max_new_tokens, temperature=1.0, top_k=None, top_p=None, seed=None):
        rng = np.random.default_rng(seed)
        out = np.empty(ids.size + max_new_tokens, dtype=np.int64)
        out[:ids.size] = ids
        n, start = ids.size, 0
        for _ in range(max_new_tokens):
            if n - start > context_length:
                start = n - keep
            logits = logits_of(out[None, start:n])[:, -1, :]
            out[n] = sample_next(logits, temperature, top_k, top_p, rng)[0]
            n += 1
        return out[:n]
    return generate


def backend_functions(backend: str, model, threads: int) -> dict:
    """``forward=``/``generate=`` for ModelServer (empty for nnlib's own computation)."""
    from nnlib.gpt import GPT

    is_gpt = isinstance(model, GPT)
    if backend.startswith("nnlib"):
        return {}
    if backend == "torch":
        import torch

        from nnlib.interop import to_torch
        torch.set_num_threads(threads)
        module = to_torch(model).eval()

        def run(x):
            with torch.inference_mode():
                return module(torch.from_numpy(np.ascontiguousarray(x))).numpy()
    else:
        import onnxruntime as ort

        from nnlib.export import to_onnx
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.log_severity_level = 3
        session = ort.InferenceSession(to_onnx(model).SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def run(x):
            return session.run(None, {name: np.ascontiguousarray(x)})[0]
    if is_gpt:
        return {"generate": window_generate(run, model.config.context_length)}
    return {"forward": run}


def serve_child(args) -> int:
    import nnlib.serve as serve

    model = serve_gpt() if args.workload == "generate" else serve_mlp()
    fns = backend_functions(args.serve, model, args.threads)
    server = serve.ModelServer(model, port=args.port, batching=args.serve != "nnlib-nobatch", max_batch_size=32,
                               max_wait_ms=args.max_wait_ms, max_connections=1024, **fns)
    print(f"ready {server.port}", flush=True)
    server.serve_forever()
    return 0


# ---------------------------------------------------------------------- the load generator (this process)
async def _client(port: int, payload: bytes, n: int, latencies: list, errors: list, start: asyncio.Event):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await start.wait()
        for _ in range(n):
            t0 = time.perf_counter()
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - t0) * 1000.0)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(head[:40])
    finally:
        writer.close()


async def _load(port: int, payload: bytes, clients: int, requests: int) -> dict:
    shares = [requests // clients + (i < requests % clients) for i in range(clients)]
    latencies, errors, start = [], [], asyncio.Event()
    tasks = [asyncio.ensure_future(_client(port, payload, k, latencies, errors, start)) for k in shares if k]
    await asyncio.sleep(0.05)  # connections open
    t0 = time.perf_counter()
    start.set()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.perf_counter() - t0
    errors += [repr(d) for d in done if isinstance(d, BaseException)]
    lat = np.asarray(latencies)
    return {"rps": lat.size / wall, "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "requests": int(lat.size), "errors": len(errors)}


def request_bytes(workload: str) -> bytes:
    if workload == "generate":
        body = json.dumps(GEN_BODY).encode()
        path = b"/v1/generate"
    else:
        row = np.random.default_rng(0).normal(size=30).round(4).tolist()
        body = json.dumps({"inputs": [row]}).encode()
        path = b"/v1/predict"
    return (b"POST " + path + b" HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


def start_server(backend: str, workload: str, args) -> tuple:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_serve", "--serve", backend, "--workload", workload,
                             "--port", str(port), "--threads", str(args.threads), "--max-wait-ms",
                             str(args.max_wait_ms)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env, cwd=ROOT)
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        proc.kill()
        raise RuntimeError(f"the {backend} server did not start: {line!r}")
    return proc, port


def measure(args) -> list:
    rows = []
    plan = [] if args.no_predict else [("predict", b, args.clients, args.requests) for b in args.backends]
    if not args.no_generate:
        plan += [("generate", b, args.gen_clients, args.gen_requests) for b in args.backends if b != "nnlib-nobatch"]
    for workload, backend, clients, requests in plan:
        proc, port = start_server(backend, workload, args)
        try:
            payload = request_bytes(workload)
            asyncio.run(_load(port, payload, 4, max(8, requests // 20)))  # warm up
            for c in clients:
                reps = [asyncio.run(_load(port, payload, c, requests)) for _ in range(args.repeats)]
                row = {"workload": workload, "backend": backend, "clients": c, "repeats": reps}
                for key in ("rps", "p50_ms", "p99_ms"):
                    values = [r[key] for r in reps]
                    row[key] = (float(np.median(values)), float(min(values)), float(max(values)))
                row["errors"] = sum(r["errors"] for r in reps)
                row["requests"] = reps[0]["requests"]
                rows.append(row)
                print(_format(row), flush=True)
        finally:
            proc.send_signal(2)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return rows


def _format(r) -> str:
    def fig(v, digits):
        return f"{v[0]:.{digits}f} [{v[1]:.{digits}f}-{v[2]:.{digits}f}]"
    return (f"{r['workload']:<9} {r['backend']:<14} {r['clients']:>3} clients  {fig(r['rps'], 0):>22} req/s  "
            f"p50 {fig(r['p50_ms'], 1):>20} ms  p99 {fig(r['p99_ms'], 1):>20} ms  "
            f"({r['requests']} requests x {len(r['repeats'])}, errors {r['errors']})")


def ratios(rows) -> list:
    """nnlib (batched) requests/s over torch's and onnxruntime's, per workload and client count (medians)."""
    by = {(r["workload"], r["backend"], r["clients"]): r["rps"][0] for r in rows}
    out = []
    for (w, b, c), v in sorted(by.items()):
        if b == "nnlib":
            for other in ("torch", "onnxruntime"):
                if (w, other, c) in by:
                    out.append(f"{w:<9} {c:>3} clients: nnlib / {other} = {v / by[(w, other, c)]:.2f}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement (predict)")
    parser.add_argument("--gen-requests", type=int, default=2000, help="requests per measurement (generate)")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions per figure (the median is shown)")
    parser.add_argument("--threads", type=int, default=1, help="model threads (BLAS, torch, onnxruntime)")
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--no-generate", action="store_true", help="only the MLP")
    parser.add_argument("--no-predict", action="store_true", help="only the GPT's /v1/generate")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS), help="which servers")
    parser.add_argument("--clients", type=int, nargs="+", help="client counts (default 1 8 32 64)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 x 100 requests, 1 and 8 clients")
    parser.add_argument("--json", help="also write every measurement to this JSON file")
    parser.add_argument("--serve", choices=BACKENDS, help=argparse.SUPPRESS)   # the child: run one server
    parser.add_argument("--workload", choices=("predict", "generate"), default="predict", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve_child(args)
    clients = tuple(args.clients or (1, 8, 32, 64))
    args.clients, args.gen_clients = clients, clients
    if args.quick:
        args.requests, args.gen_requests, args.repeats = 100, 12, 3
        args.clients, args.gen_clients = (1, 8), (1, 4)
    print(f"nnlib.serve benchmark on 127.0.0.1: {platform.machine()}, {os.cpu_count()} CPUs, model threads "
          f"{args.threads}, max_wait_ms {args.max_wait_ms}; load generator in its own process (asyncio); "
          f"figures: median [min-max] of {args.repeats} repeats", flush=True)
    rows = measure(args)
    print("\n".join(["", "ratios of requests/s (medians):", *ratios(rows)]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
    return 0 if all(r["errors"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
