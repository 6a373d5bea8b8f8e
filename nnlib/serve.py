"""Chapter 14: serve a model over HTTP (模型服务) with the standard library only.

One command::

    python -m nnlib.serve data/checkpoints/gpt_char.nnlib --port 8000
    python -m nnlib.serve my_mlp.nnlib --max-batch-size 32 --max-wait-ms 5

or, from Python (a notebook, a test)::

    with nnlib.serve.start(model, port=0) as server:     # port 0: any free port
        print(server.url)                                # http://127.0.0.1:54321

Endpoints (JSON in, JSON out):

* ``GET /health`` -- ``{"status": "ok"}``
* ``GET /v1/models`` -- the model's name, version, kind and input/output shapes
  (or vocabulary and context length for a GPT)
* ``POST /v1/predict`` -- ``{"inputs": [[...], ...]}``: one row of features per
  example; answers ``{"outputs": [[...], ...]}`` (and ``"predictions"`` for a
  classifier)
* ``POST /v1/generate`` (a GPT) -- ``{"prompt": "...", "max_tokens": 64,
  "temperature": 0.8, "top_k": 20, "seed": 0}``

Every bad request gets a 4xx status and ``{"error": "..."}`` saying what is wrong
(malformed JSON, wrong content type, unknown fields, wrong feature count,
non-numbers, too many rows or tokens, an oversized body -- refused from its
Content-Length before it is read --, unknown path, wrong method).

**Micro-batching (微批处理).** Concurrent ``/v1/predict`` requests are queued; a
worker thread takes the first, waits at most ``max_wait_ms`` for more, stacks
their rows (up to ``max_batch_size``) into ONE forward pass and hands each
request its own rows of the result. One matmul on 32 rows costs little more
than on 1 row, so under load this raises throughput. The worker takes whatever
has queued up while the previous batch ran, and waits (at most ``max_wait_ms``)
only while other requests are still being received and checked, so a lone
client pays no waiting time.
``batching=False`` runs each request's forward on its own.

The model is used by one thread at a time (a lock): nnlib's ``no_grad`` switch is
global and ``GPT.generate`` toggles the model's mode, so two threads must not
run it at once. Each generation builds its own KV cache.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import queue
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

__all__ = ["ModelServer", "start", "main", "ApiError", "validate_predict", "validate_generate", "load_test",
           "latency_summary"]

ROUTES = {"/health": "GET", "/v1/models": "GET", "/v1/predict": "POST", "/v1/generate": "POST"}


class ApiError(Exception):
    """Chapter 14: a request the server refuses: HTTP ``status`` and a message for ``{"error": ...}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = int(status)
        self.message = message


# ---------------------------------------------------------------------- loading
def _load_any(path):
    """Chapter 14: load any nnlib model file (Sequential, GPT, quantized) with ``load_model``, for inference."""
    from .models import load_model

    return load_model(os.fspath(path), compile=False)


# ---------------------------------------------------------------------- validation
def _json_number(v) -> bool:
    return type(v) in (int, float)


def validate_predict(body, n_features: int, max_rows: int) -> np.ndarray:
    """Chapter 14: check a ``/v1/predict`` body and return its rows as a float32 array (rows, n_features).

    Raises :class:`ApiError` (400) naming the first problem: not an object,
    unknown or missing fields, not a list of rows, too many rows, a row of the
    wrong length, a value that is not a number, or a value that is not finite.
    """
    if not isinstance(body, dict):
        raise ApiError(400, f"the body must be a JSON object like {{\"inputs\": [[...]]}}, got {type(body).__name__}")
    unknown = sorted(set(body) - {"inputs"})
    if unknown:
        raise ApiError(400, f"unknown field(s) {unknown}; /v1/predict takes only 'inputs'")
    if "inputs" not in body:
        raise ApiError(400, "missing field 'inputs' (a list of rows, each a list of numbers)")
    rows = body["inputs"]
    if not isinstance(rows, list) or not rows:
        raise ApiError(400, "'inputs' must be a non-empty list of rows, e.g. [[0.1, 0.2, ...]]")
    if len(rows) > max_rows:
        raise ApiError(400, f"too many rows: {len(rows)}; at most {max_rows} per request")
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise ApiError(400, f"inputs[{i}] must be a list of {n_features} numbers, got {type(row).__name__}")
        if len(row) != n_features:
            raise ApiError(400, f"inputs[{i}] has {len(row)} values; the model expects {n_features} features")
    if not all(_json_number(v) for row in rows for v in row):
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                if not _json_number(v):
                    raise ApiError(400, f"inputs[{i}][{j}] is not a number: {json.dumps(v)[:40]}")
    with np.errstate(over="ignore"):
        x = np.asarray(rows, dtype=np.float64).astype(np.float32)
    if not np.isfinite(x).all():
        i, j = np.argwhere(~np.isfinite(x))[0]
        raise ApiError(400, f"inputs[{i}][{j}] is not a finite float32 number (too large, inf or NaN)")
    return x


_GENERATE_FIELDS = {"prompt", "max_tokens", "temperature", "top_k", "top_p", "seed"}


def validate_generate(body, tokenizer, vocab_size: int, max_tokens: int, max_prompt_tokens: int) -> dict:
    """Chapter 14: check a ``/v1/generate`` body; returns the arguments for ``GPT.generate`` plus ``ids``.

    Fields: ``prompt`` (string, required), ``max_tokens`` (1..max_tokens, default 64 or less),
    ``temperature`` (0..10, default 1.0), ``top_k`` (positive integer or null),
    ``top_p`` (0 < p <= 1 or null), ``seed`` (integer or null).
    """
    if not isinstance(body, dict):
        raise ApiError(400, f"the body must be a JSON object like {{\"prompt\": \"...\"}}, got {type(body).__name__}")
    unknown = sorted(set(body) - _GENERATE_FIELDS)
    if unknown:
        raise ApiError(400, f"unknown field(s) {unknown}; /v1/generate takes {sorted(_GENERATE_FIELDS)}")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise ApiError(400, "'prompt' must be a non-empty string")

    def integer(name, default, lo, hi):
        v = body.get(name, default)
        if v is None and default is None:
            return None
        if type(v) is not int or not lo <= v <= hi:
            raise ApiError(400, f"'{name}' must be an integer in {lo}..{hi}, got {json.dumps(v)[:40]}")
        return v

    def number(name, default, lo, hi, lo_open=False):
        v = body.get(name, default)
        if v is None and default is None:
            return None
        if not _json_number(v) or not math.isfinite(v) or v > hi or v < lo or (lo_open and v == lo):
            raise ApiError(400, f"'{name}' must be a number in {'(' if lo_open else '['}{lo}, {hi}], "
                                f"got {json.dumps(v)[:40]}")
        return float(v)

    n_new = integer("max_tokens", min(64, max_tokens), 1, max_tokens)
    args = {"max_new_tokens": n_new, "temperature": number("temperature", 1.0, 0.0, 10.0),
            "top_k": integer("top_k", None, 1, vocab_size), "top_p": number("top_p", None, 0.0, 1.0, lo_open=True),
            "seed": integer("seed", None, 0, 2 ** 63 - 1)}
    if tokenizer is None:
        raise ApiError(400, "this model has no tokenizer, so it cannot take a text prompt")
    try:
        ids = np.asarray(tokenizer.encode(prompt), dtype=np.int64)
    except ValueError as exc:
        raise ApiError(400, f"the prompt cannot be encoded: {exc}") from None
    if ids.size > max_prompt_tokens:
        raise ApiError(400, f"too many tokens: the prompt has {ids.size}; at most {max_prompt_tokens}")
    args["ids"] = ids
    return args


# ---------------------------------------------------------------------- batching
class _Job:
    __slots__ = ("rows", "done", "result", "error")

    def __init__(self, rows):
        self.rows = rows
        self.done = threading.Event()
        self.result = None
        self.error = None


class _Batcher:
    """Collects rows from concurrent requests and runs them as one forward pass (see the module docstring)."""

    def __init__(self, run, max_batch_size: int, max_wait_ms: float, stats: dict, in_flight=lambda: 1 << 30):
        self.run = run
        self.in_flight = in_flight
        self.max_batch_size = int(max_batch_size)
        self.max_wait = float(max_wait_ms) / 1000.0
        self.queue = queue.Queue()
        self.stats = stats
        self._stop = object()
        self.thread = threading.Thread(target=self._loop, name="nnlib-serve-batcher", daemon=True)
        self.thread.start()

    def submit(self, rows: np.ndarray, timeout: float = 60.0, on_queued=None) -> np.ndarray:
        job = _Job(rows)
        self.queue.put(job)
        if on_queued is not None:
            on_queued()
        if not job.done.wait(timeout):
            raise ApiError(503, "the model did not answer in time; try again")
        if job.error is not None:
            raise job.error
        return job.result

    def close(self) -> None:
        self.queue.put(self._stop)
        self.thread.join(timeout=5)

    def _loop(self) -> None:
        carry = None
        while True:
            job = carry if carry is not None else self.queue.get()
            carry = None
            if job is self._stop:
                return
            batch, n = [job], len(job.rows)
            deadline = time.monotonic() + self.max_wait
            while n < self.max_batch_size:
                remaining = deadline - time.monotonic()
                try:
                    nxt = self.queue.get_nowait()
                except queue.Empty:
                    # wait only while other requests are being received (a lone client pays nothing)
                    if remaining <= 0 or self.in_flight() <= 0:
                        break
                    try:
                        nxt = self.queue.get(timeout=min(remaining, 0.0005))
                    except queue.Empty:
                        continue
                if nxt is self._stop or n + len(nxt.rows) > self.max_batch_size:
                    carry = nxt
                    break
                batch.append(nxt)
                n += len(nxt.rows)
            self._process(batch)

    def _process(self, batch) -> None:
        try:
            x = batch[0].rows if len(batch) == 1 else np.concatenate([j.rows for j in batch])
            out = self.run(x)
            self.stats["batches"].append(len(x))
            start = 0
            for j in batch:
                j.result = out[start:start + len(j.rows)]
                start += len(j.rows)
        except Exception as exc:  # noqa: BLE001 -- every waiting request must hear about it
            for j in batch:
                j.error = exc
        finally:
            for j in batch:
                j.done.set()


# ---------------------------------------------------------------------- the server
class _Handler(BaseHTTPRequestHandler):
    server_version = "nnlib-serve/1"
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # the headers and the body go out as two writes; without TCP_NODELAY, Nagle's algorithm holds the
        # second until the client's delayed ACK (~40 ms on Linux) -- every small reply would take 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):  # quiet unless the server says otherwise
        if self.server.owner.verbose:
            sys.stderr.write(f"{self.address_string()} - {fmt % args}\n")

    def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload, allow_nan=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_error(self, code, message=None, explain=None):
        """http.server's own refusals (malformed request line, unknown method, huge headers) as JSON too."""
        self.close_connection = True
        try:
            self._send(int(code), {"error": message or HTTPStatus(int(code)).phrase}, {"Connection": "close"})
        except OSError:
            pass

    def _route(self, method: str) -> None:
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        close = method != "GET"  # until a body is read, the connection cannot be reused
        try:
            if path not in ROUTES:
                raise ApiError(404, f"unknown path {path!r}; the endpoints are {sorted(ROUTES)}")
            if ROUTES[path] != method:
                raise ApiError(405, f"{method} is not allowed on {path}; use {ROUTES[path]}")
            if method == "GET":
                self._send(200, owner.handle_get(path))
                return
            owner._arrive()
            try:
                body = self._read_json(owner.max_body_bytes)
                close = False
                reply = owner.handle_post(path, body)
            finally:
                owner._queued()  # a no-op if predict_rows already said so
            self._send(200, reply)
        except ApiError as exc:
            headers = {"Allow": ROUTES.get(path, "")} if exc.status == 405 else {}
            if close:
                headers["Connection"] = "close"
                self.close_connection = True
            self._send(exc.status, {"error": exc.message}, headers)
            if exc.status == 413:
                self._discard_body()
        except Exception as exc:  # noqa: BLE001 -- a bug must not kill the connection silently
            self._send(500, {"error": f"internal error: {type(exc).__name__}: {exc}"})

    def _discard_body(self, most: int = 64 << 20, seconds: float = 1.0) -> None:
        """After a 413, read and drop what the client is still sending (briefly, boundedly) before closing.

        Closing a socket with unread data makes the client's send fail ("broken pipe") before
        it reads our answer; a short "lingering close" lets it see the 413 and its JSON.
        """
        deadline = time.monotonic() + seconds
        try:
            self.connection.settimeout(0.2)
            while most > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(min(most, 1 << 16)) if hasattr(self.rfile, "read1") else b""
                if not chunk:
                    break
                most -= len(chunk)
        except OSError:
            pass

    def _read_json(self, limit: int):
        ctype = self.headers.get("Content-Type", "")
        if ctype.split(";", 1)[0].strip().lower() != "application/json":
            raise ApiError(415, f"Content-Type must be application/json, got {ctype or 'nothing'!r}")
        length = self.headers.get("Content-Length")
        if length is None:
            raise ApiError(411, "a Content-Length header is required")
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            raise ApiError(400, f"invalid Content-Length {length!r}") from None
        if n > limit:
            raise ApiError(413, f"the body is {n} bytes; at most {limit} bytes are accepted")
        raw = self.rfile.read(n)
        if len(raw) != n:
            raise ApiError(400, f"the body ended after {len(raw)} of {n} bytes")

        def no_constants(name):
            raise ValueError(f"{name} is not valid JSON (send finite numbers)")
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=no_constants)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ApiError(400, f"malformed JSON: {exc}") from None

    def do_GET(self):  # noqa: N802 (the http.server naming)
        self._route("GET")

    def do_POST(self):  # noqa: N802
        self._route("POST")

    def do_PUT(self):  # noqa: N802
        self._route("PUT")

    def do_DELETE(self):  # noqa: N802
        self._route("DELETE")

    def do_PATCH(self):  # noqa: N802
        self._route("PATCH")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class ModelServer:
    """Chapter 14: an HTTP server for one nnlib model (a Sequential or a GPT); see the module docstring.

    ``ModelServer(model, host="127.0.0.1", port=8000, max_batch_size=32, max_wait_ms=2.0,
    batching=True)``; ``start()`` runs it in a background thread, ``serve_forever()``
    in this one, ``stop()`` shuts it down. ``stats`` counts forward passes:
    ``stats["batches"]`` lists the rows of each one.
    """

    def __init__(self, model, host: str = "127.0.0.1", port: int = 8000, max_batch_size: int = 32,
                 max_wait_ms: float = 2.0, batching: bool = True, max_rows: int = 1024,
                 max_body_bytes: int = 1 << 20, max_tokens: int = 256, name: str | None = None,
                 version: str | None = None, verbose: bool = False):
        from . import __version__
        from .gpt import GPT

        if isinstance(model, (str, os.PathLike)):
            path = os.fspath(model)
            model = _load_any(path)
            name = name or os.path.splitext(os.path.basename(path))[0]
        if int(max_batch_size) < 1 or float(max_wait_ms) < 0 or int(max_rows) < 1 or int(max_tokens) < 1:
            raise ValueError("ModelServer: max_batch_size, max_rows and max_tokens must be >= 1 and max_wait_ms >= 0")
        self.model = model
        self.is_gpt = isinstance(model, GPT)
        self.name = name or getattr(model, "name", None) or type(model).__name__.lower()
        self.version = version or f"nnlib-{__version__}"
        self.max_batch_size, self.max_wait_ms = int(max_batch_size), float(max_wait_ms)
        self.batching = bool(batching)
        self.max_rows, self.max_body_bytes, self.max_tokens = int(max_rows), int(max_body_bytes), int(max_tokens)
        self.verbose = bool(verbose)
        self.lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._in_flight = 0      # requests being received and checked, not yet queued
        self._local = threading.local()
        self.stats = {"batches": [], "requests": 0}
        if self.is_gpt:
            self.n_features = None
        else:
            shape = getattr(model, "input_shape", None)
            if shape is None or len(shape) != 2 or shape[1] is None:
                raise ValueError("ModelServer: serve a built Sequential with one feature axis, input shape "
                                 f"(None, n); this model has input shape {shape}")
            self.n_features = int(shape[1])
        self.httpd = _HTTPServer((host, int(port)), _Handler)
        self.httpd.owner = self
        self.host, self.port = self.httpd.server_address[:2]
        self._batcher = None
        self._thread = None

    # ---------------------------------------------------------------- model calls
    def _count_request(self) -> None:
        with self._stats_lock:
            self.stats["requests"] += 1

    def _arrive(self) -> None:
        """A POST request is being read and checked (the batcher waits only while such requests exist)."""
        with self._stats_lock:
            self._in_flight += 1
        self._local.arriving = True

    def _queued(self) -> None:
        """This thread's request has reached the queue (or failed): it no longer counts as arriving."""
        if getattr(self._local, "arriving", False):
            self._local.arriving = False
            with self._stats_lock:
                self._in_flight -= 1

    def _forward(self, x: np.ndarray) -> np.ndarray:
        from .tensor import Tensor, no_grad

        with self.lock:
            was = self.model.training
            self.model.eval()
            try:
                with no_grad():
                    return self.model.forward(Tensor(x)).data
            finally:
                self.model.train(was)

    def predict_rows(self, x: np.ndarray) -> np.ndarray:
        """Chapter 14: the model's outputs for rows ``x``, through the batcher when batching is on."""
        self._count_request()
        if self._batcher is not None:
            return self._batcher.submit(x, on_queued=self._queued)
        out = self._forward(x)
        self.stats["batches"].append(len(x))
        return out

    # ---------------------------------------------------------------- endpoints
    @property
    def url(self) -> str:
        """Chapter 14: ``http://host:port`` of the running server."""
        host = f"[{self.host}]" if ":" in str(self.host) else self.host
        return f"http://{host}:{self.port}"

    def info(self) -> dict:
        """Chapter 14: what ``GET /v1/models`` says about the model."""
        from .quantize import quantized_layers

        m = self.model
        entry = {"id": self.name, "version": self.version, "parameters": int(m.num_parameters()),
                 "quantized": bool(quantized_layers(m))}
        if self.is_gpt:
            c = m.config
            entry.update(kind="language-model", endpoint="/v1/generate", vocab_size=c.vocab_size,
                         context_length=c.context_length, max_tokens=self.max_tokens,
                         tokenizer=None if m.tokenizer is None else type(m.tokenizer).__name__)
        else:
            entry.update(kind="predictor", endpoint="/v1/predict", input_shape=[None, self.n_features],
                         output_shape=list(m.output_shape), max_rows=self.max_rows,
                         batching={"enabled": self.batching, "max_batch_size": self.max_batch_size,
                                   "max_wait_ms": self.max_wait_ms})
        return {"object": "list", "data": [entry]}

    def handle_get(self, path: str) -> dict:
        """Chapter 14: the JSON reply to ``GET /health`` or ``GET /v1/models``."""
        if path == "/health":
            return {"status": "ok", "model": self.name}
        return self.info()

    def handle_post(self, path: str, body) -> dict:
        """Chapter 14: the JSON reply to ``POST /v1/predict`` or ``/v1/generate`` (raises :class:`ApiError`)."""
        if path == "/v1/predict":
            if self.is_gpt:
                raise ApiError(400, f"model {self.name!r} is a language model: use POST /v1/generate")
            x = validate_predict(body, self.n_features, self.max_rows)
            out = self.predict_rows(x)
            result = {"model": self.name, "outputs": out.tolist()}
            last = self.model.layers[-1]
            act = getattr(last, "activation_name", None)
            if act == "softmax":
                result["predictions"] = out.argmax(axis=1).tolist()
            elif act == "sigmoid" and out.shape[1] == 1:
                result["predictions"] = (out[:, 0] >= 0.5).astype(int).tolist()
            return result
        if not self.is_gpt:
            raise ApiError(400, f"model {self.name!r} is not a language model: use POST /v1/predict")
        c = self.model.config
        args = validate_generate(body, self.model.tokenizer, c.vocab_size, self.max_tokens, 4 * c.context_length)
        ids = args.pop("ids")
        self._count_request()
        with self.lock:
            out = self.model.generate(ids, **args)
        tok = self.model.tokenizer
        new = out[ids.size:]
        return {"model": self.name, "prompt": body["prompt"], "completion": tok.decode(new.tolist()),
                "text": tok.decode(out.tolist()), "tokens": int(new.size)}

    # ---------------------------------------------------------------- running
    def _start_batcher(self) -> None:
        if self.batching and not self.is_gpt and self._batcher is None:
            self._batcher = _Batcher(self._forward, self.max_batch_size, self.max_wait_ms, self.stats,
                                     lambda: self._in_flight)

    def start(self) -> "ModelServer":
        """Chapter 14: serve in a background thread; returns self (``.url``, ``.stop()``)."""
        self._start_batcher()
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="nnlib-serve", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Chapter 14: serve in this thread until Ctrl+C."""
        self._start_batcher()
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Chapter 14: stop serving, close the socket, end the batching thread."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()
        if self._batcher is not None:
            self._batcher.close()
            self._batcher = None

    def __enter__(self) -> "ModelServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ModelServer({self.name!r} at {self.url}, batching={self.batching})"


def start(model, host: str = "127.0.0.1", port: int = 0, **kwargs) -> ModelServer:
    """Chapter 14: serve ``model`` (a model or a file path) in a background thread; returns the server.

    ``port=0`` picks a free port (see ``server.url``). Use it as a context manager
    or call ``server.stop()``. Other keyword arguments go to :class:`ModelServer`.
    """
    return ModelServer(model, host=host, port=port, **kwargs).start()


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


def main(argv=None) -> int:
    """Chapter 14: ``python -m nnlib.serve PATH [--host H] [--port P] [--max-batch-size N] [--max-wait-ms MS]
    [--no-batching]``."""
    parser = argparse.ArgumentParser(prog="python -m nnlib.serve",
                                     description="Serve an nnlib model file over HTTP (chapter 14).")
    parser.add_argument("path", help="a model file: model.save(...), GPT.save(...) or a quantized model")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free port)")
    parser.add_argument("--max-batch-size", type=int, default=32, help="most rows in one forward pass")
    parser.add_argument("--max-wait-ms", type=float, default=2.0,
                        help="how long the first request of a batch waits for others (ms)")
    parser.add_argument("--no-batching", action="store_true", help="one forward pass per request")
    parser.add_argument("--max-rows", type=int, default=1024, help="most rows in one request")
    parser.add_argument("--max-tokens", type=int, default=256, help="most tokens one /v1/generate may produce")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.path):
        parser.error(f"no such file: {args.path}")
    try:
        server = ModelServer(args.path, host=args.host, port=args.port, max_batch_size=args.max_batch_size,
                             max_wait_ms=args.max_wait_ms, batching=not args.no_batching, max_rows=args.max_rows,
                             max_tokens=args.max_tokens, verbose=not args.quiet)
    except (ValueError, OSError) as exc:
        print(f"nnlib.serve: {exc}", file=sys.stderr)
        return 2
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"nnlib.serve: warning: bound to {args.host}, reachable from other machines; there is no "
              f"authentication", file=sys.stderr)
    info = server.info()["data"][0]
    print(f"Serving {server.name!r} ({info['kind']}, {info['parameters']:,} parameters) on {server.url}  "
          f"endpoint {info['endpoint']}  (Ctrl+C to stop)", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
