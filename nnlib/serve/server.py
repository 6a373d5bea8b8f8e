"""Chapter 14: :class:`ModelServer` -- one model behind the app, run by uvicorn; and the command line."""
from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import logging
import math
import os
import signal
import socket
import sys
import threading
import time

import numpy as np

from ..batching import Job, collect_batch, run_batch
from .validation import ApiError, validate_generate, validate_predict

__all__ = ["ModelServer", "start", "main", "ROUTES", "API_ROUTES"]

log = logging.getLogger("nnlib.serve")

#: The model endpoints (the 404 message lists these) and every path the server answers.
API_ROUTES = {"/health": "GET", "/v1/models": "GET", "/v1/predict": "POST", "/v1/generate": "POST"}
ROUTES = {**API_ROUTES, "/metrics": "GET", "/docs": "GET", "/openapi.json": "GET"}
#: How many forward passes ``stats["batches"]`` remembers (the oldest are dropped).
STATS_BATCHES = 10_000


def _integer(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise ValueError(f"ModelServer: {name} must be an integer in {lo}..{hi}, got {value!r}")
    return int(value)


def _number(name: str, value, lo: float, hi: float, lo_open: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.floating, np.integer))
    try:
        ok = ok and math.isfinite(value) and lo <= value <= hi and not (lo_open and value == lo)
    except OverflowError:
        ok = False
    if not ok:
        raise ValueError(f"ModelServer: {name} must be a finite number in {'(' if lo_open else '['}{lo:g}, {hi:g}], "
                         f"got {value!r}")
    return float(value)


class ModelServer:
    """Chapter 14: an HTTP server (FastAPI on uvicorn) for one nnlib model, a Sequential or a GPT.

    ``ModelServer(model, host="127.0.0.1", port=8000, max_batch_size=32, max_wait_ms=2.0, batching=True)``;
    ``start()`` serves from a background thread (``url``, ``stop()``, a context manager),
    ``serve_forever()`` until Ctrl+C or SIGTERM. ``stats["batches"]`` holds the rows of
    each recent forward pass (a ``deque`` of the last 10,000), ``stats["requests"]`` counts
    model requests; ``GET /metrics`` has the full counters.

    Limits (all validated): ``max_rows`` per request, ``max_body_bytes``, ``max_tokens``
    per generation, ``max_connections``; ``header_timeout``, ``body_timeout`` and
    ``keep_alive_timeout`` in seconds; ``shutdown_timeout``: how long a stop waits for
    requests in flight. ``forward``/``generate`` replace the model's own computation
    (the benchmark serves torch and onnxruntime this way, behind the same app).
    """

    def __init__(self, model, host: str = "127.0.0.1", port: int = 8000, max_batch_size: int = 32,
                 max_wait_ms: float = 2.0, batching: bool = True, max_rows: int = 1024,
                 max_body_bytes: int = 1 << 20, max_tokens: int = 256, name: str | None = None,
                 version: str | None = None, verbose: bool = False, max_connections: int = 256,
                 header_timeout: float = 10.0, body_timeout: float = 10.0, keep_alive_timeout: float = 5.0,
                 shutdown_timeout: float = 30.0, forward=None, generate=None):
        from .. import __version__
        from ..gpt import GPT

        self.max_batch_size = _integer("max_batch_size", max_batch_size, 1, 65536)
        self.max_wait_ms = _number("max_wait_ms", max_wait_ms, 0.0, 10_000.0)
        self.max_rows = _integer("max_rows", max_rows, 1, 1 << 20)
        self.max_body_bytes = _integer("max_body_bytes", max_body_bytes, 1, 1 << 30)
        self.max_tokens = _integer("max_tokens", max_tokens, 1, 1 << 16)
        self.max_connections = _integer("max_connections", max_connections, 1, 1 << 16)
        self.header_timeout = _number("header_timeout", header_timeout, 0.0, 3600.0, lo_open=True)
        self.body_timeout = _number("body_timeout", body_timeout, 0.0, 3600.0, lo_open=True)
        self.keep_alive_timeout = _number("keep_alive_timeout", keep_alive_timeout, 0.0, 3600.0, lo_open=True)
        self.shutdown_timeout = _number("shutdown_timeout", shutdown_timeout, 0.0, 3600.0)
        port = _integer("port", port, 0, 65535)
        if not isinstance(batching, bool):
            raise ValueError(f"ModelServer: batching must be True or False, got {batching!r}")
        if isinstance(model, (str, os.PathLike)):
            from ..models import load_model  # any nnlib model file: Sequential, GPT, quantized

            path = os.fspath(model)
            model = load_model(path, compile=False)
            name = name or os.path.splitext(os.path.basename(path))[0]
        self.model = model
        self.is_gpt = isinstance(model, GPT)
        self.name = str(name or getattr(model, "name", None) or type(model).__name__.lower())
        self.version = version or f"nnlib-{__version__}"
        self.batching = batching
        self.verbose = bool(verbose)
        self.lock = threading.Lock()  # one forward at a time: eval() and the layers' buffers are the model's shared state
        self.stats = {"batches": collections.deque(maxlen=STATS_BATCHES), "requests": 0}
        self._forward_fn = forward or self._nnlib_forward
        self._generate_fn = generate or self._nnlib_generate
        if self.is_gpt:
            self.n_features = None
            self.max_prompt_tokens = 4 * model.config.context_length
        else:
            shape = getattr(model, "input_shape", None)
            if shape is None or len(shape) != 2 or shape[1] is None:
                raise ValueError("ModelServer: serve a built Sequential with one feature axis, input shape "
                                 f"(None, n); this model has input shape {shape}")
            self.n_features = int(shape[1])
            self.max_prompt_tokens = 0
        last = None if self.is_gpt else model.layers[-1]
        self._activation = getattr(last, "activation_name", None)
        self._sock = self._listen(host, port)
        self.host, self.port = self._sock.getsockname()[:2]
        self._uvicorn = None
        self._thread = None
        self._queue = None
        self._batcher = None

    # ---------------------------------------------------------------- sockets and uvicorn
    @staticmethod
    def _listen(host: str, port: int) -> socket.socket:
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        except socket.gaierror as exc:
            raise OSError(f"cannot resolve host {host!r}: {exc}") from None
        try:
            sock = socket.create_server((host, port), family=family, backlog=256)
        except OSError as exc:
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        sock.setblocking(False)
        return sock

    def _config(self):
        import uvicorn

        from .app import build_app
        from .gate import Gate, protocol_class
        from .metrics import Metrics

        self.metrics = Metrics(ROUTES)
        app = build_app(self)
        gate = Gate(app, ROUTES, API_ROUTES, self.metrics, self.max_body_bytes, self.body_timeout)
        config = uvicorn.Config(gate, http=protocol_class(self.header_timeout, self.max_connections, self.metrics),
                                lifespan="on", log_config=None, access_log=self.verbose, server_header=False,
                                timeout_keep_alive=self.keep_alive_timeout, h11_max_incomplete_event_size=16384,
                                timeout_graceful_shutdown=self.shutdown_timeout, loop="asyncio", ws="none")
        server = uvicorn.Server(config)
        self.metrics.connections = lambda: len(server.server_state.connections)
        return server

    # ---------------------------------------------------------------- the model
    def _nnlib_forward(self, x: np.ndarray) -> np.ndarray:
        from ..engine import Tensor, no_grad

        with self.lock, self.model.evaluating(), no_grad():
            return self.model.forward(Tensor(x)).data

    def _nnlib_generate(self, ids, **args) -> np.ndarray:
        with self.lock:
            return self.model.generate(ids, **args)

    def _forward_counted(self, x: np.ndarray) -> np.ndarray:
        """The forward pass (in the model thread), counted in ``stats`` and ``/metrics``."""
        out = np.asarray(self._forward_fn(x))
        if out.ndim != 2 or out.shape[0] != len(x):
            raise RuntimeError(f"the model returned shape {out.shape} for {len(x)} rows")
        self.stats["batches"].append(len(x))
        self.metrics.observe_batch(len(x))
        return out

    async def startup(self) -> None:
        """Chapter 14: start the model's worker thread (and the batching loop); the app's lifespan calls it."""
        loop = asyncio.get_running_loop()
        # one worker thread runs the model (and parses big bodies): the event loop never computes
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nnlib-serve-model"))
        if self.batching and not self.is_gpt:
            self._queue = asyncio.Queue(maxsize=4 * self.max_connections)
            self._batcher = loop.create_task(self._batch_loop())

    async def _batch_loop(self) -> None:
        while True:
            batch = await collect_batch(self._queue, self.max_batch_size, self.max_wait_ms / 1000.0,
                                        arriving=self._arriving)
            await run_batch(batch, self._forward_counted)

    def _arriving(self, collected: int) -> int:
        """Requests being handled that are neither queued nor in the batch being collected: how many
        could still join it. Counted over every route, so it errs towards waiting."""
        return self.metrics.in_flight - self._queue.qsize() - collected

    async def shutdown(self) -> None:
        """Chapter 14: stop the batching loop; the app's lifespan calls it when the server stops."""
        if self._batcher is not None:
            self._batcher.cancel()
            try:
                await self._batcher
            except asyncio.CancelledError:
                pass
            while not self._queue.empty():  # nobody is waiting any more, but leave no future pending
                job = self._queue.get_nowait()
                if not job.future.done():
                    job.future.cancel()
            self._batcher = None

    # ---------------------------------------------------------------- endpoints
    @property
    def url(self) -> str:
        """Chapter 14: ``http://host:port`` of the running server."""
        host = f"[{self.host}]" if ":" in str(self.host) else self.host
        return f"http://{host}:{self.port}"

    def info(self) -> dict:
        """Chapter 14: what ``GET /v1/models`` says about the model."""
        from ..quantize import quantized_layers

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

    async def predict(self, body) -> dict:
        """Chapter 14: the reply to ``POST /v1/predict`` (through the micro-batcher when batching is on)."""
        if self.is_gpt:
            raise ApiError(400, f"model {self.name!r} is a language model: use POST /v1/generate")
        x = validate_predict(body, self.n_features, self.max_rows)
        self.stats["requests"] += 1
        try:
            if self._batcher is not None:
                job = Job(x)
                try:
                    self._queue.put_nowait(job)
                except asyncio.QueueFull:
                    raise ApiError(503, "the server is busy; try again shortly", {"retry-after": "1"}) from None
                out = await job.future
            else:
                out = await asyncio.to_thread(self._forward_counted, x)
        except ApiError:
            raise
        except Exception as exc:  # noqa: BLE001 -- the model failed: a 500 that says how, and one log line
            log.error("nnlib.serve: the model failed: %s: %s", type(exc).__name__, exc)
            raise ApiError(500, f"internal error: {type(exc).__name__}: {exc}") from None
        if not np.isfinite(out).all():
            raise ApiError(500, "internal error: the model produced a non-finite output (NaN or inf)")
        result = {"model": self.name, "outputs": out.tolist()}
        if self._activation == "softmax":
            result["predictions"] = out.argmax(axis=1).tolist()
        elif self._activation == "sigmoid" and out.shape[1] == 1:
            result["predictions"] = (out[:, 0] >= 0.5).astype(int).tolist()
        return result

    async def generate(self, body) -> dict:
        """Chapter 14: the reply to ``POST /v1/generate`` (the generation runs in the model thread)."""
        if not self.is_gpt:
            raise ApiError(400, f"model {self.name!r} is not a language model: use POST /v1/predict")
        c = self.model.config
        args = validate_generate(body, self.model.tokenizer, c.vocab_size, self.max_tokens, self.max_prompt_tokens)
        ids = args.pop("ids")
        self.stats["requests"] += 1
        try:
            out = await asyncio.to_thread(self._generate_fn, ids, **args)
        except Exception as exc:  # noqa: BLE001
            log.error("nnlib.serve: generation failed: %s: %s", type(exc).__name__, exc)
            raise ApiError(500, f"internal error: {type(exc).__name__}: {exc}") from None
        tok = self.model.tokenizer
        new = np.asarray(out)[ids.size:]
        return {"model": self.name, "prompt": body["prompt"], "completion": tok.decode(new.tolist()),
                "text": tok.decode(np.asarray(out).tolist()), "tokens": int(new.size)}

    # ---------------------------------------------------------------- running
    def start(self) -> "ModelServer":
        """Chapter 14: serve from a background thread; returns self once it accepts requests (``.url``, ``.stop()``)."""
        if self._thread is not None:
            return self
        self._uvicorn = self._config()
        errors = []

        def run():
            try:
                self._uvicorn.run(sockets=[self._sock])
            except BaseException as exc:  # noqa: BLE001 -- reported by start() below
                errors.append(exc)

        self._thread = threading.Thread(target=run, name="nnlib-serve", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._thread.join(1)
                self._thread = None
                raise RuntimeError(f"nnlib.serve: the server did not start: {errors[0] if errors else 'timeout'}")
            time.sleep(0.005)
        return self

    def serve_forever(self) -> None:
        """Chapter 14: serve until Ctrl+C or SIGTERM; then stop accepting, finish the requests in flight, return."""
        stop = threading.Event()

        def on_signal(signum, frame):
            if stop.is_set() and self._uvicorn is not None:
                self._uvicorn.force_exit = True  # a second Ctrl+C: do not wait any longer
            stop.set()
        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            while not stop.wait(0.2):
                if self._thread is None or not self._thread.is_alive():
                    break
            log.info("nnlib.serve: shutting down (finishing the requests in flight)")
            self.stop()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def stop(self) -> None:
        """Chapter 14: stop accepting, let the requests in flight finish, close the socket, end the threads."""
        if self._thread is not None:
            self._uvicorn.should_exit = True
            self._thread.join(self.shutdown_timeout + 10)
            self._thread = None
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> "ModelServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ModelServer({self.name!r} at {self.url}, batching={self.batching})"


def start(model, host: str = "127.0.0.1", port: int = 0, **kwargs) -> ModelServer:
    """Chapter 14: serve ``model`` (a model or a file path) from a background thread; returns the running server.

    ``port=0`` picks a free port (see ``server.url``). Use it as a context manager
    or call ``server.stop()``. Other keyword arguments go to :class:`ModelServer`.
    """
    return ModelServer(model, host=host, port=port, **kwargs).start()


# ---------------------------------------------------------------------- the command line
def _int_arg(lo: int, hi: int):
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer in {lo}..{hi}, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be an integer in {lo}..{hi}, got {text}")
        return value
    return parse


def _float_arg(lo: float, hi: float, lo_open: bool = False):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not math.isfinite(value) or not lo <= value <= hi or (lo_open and value == lo):
            raise argparse.ArgumentTypeError(f"must be a finite number in {'(' if lo_open else '['}{lo:g}, {hi:g}], "
                                             f"got {text!r}")
        return value
    return parse


def main(argv=None) -> int:
    """Chapter 14: ``python -m nnlib.serve PATH [--host H] [--port P] [--max-batch-size N] [--max-wait-ms MS]
    [--no-batching]`` (and the limits; ``--help`` lists them). Exits 0 after Ctrl+C or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m nnlib.serve",
                                     description="Serve an nnlib model file over HTTP (chapter 14): FastAPI on "
                                                 "uvicorn; API docs at /docs, counters at /metrics.")
    parser.add_argument("path", help="a model file: model.save(...), GPT.save(...) or a quantized model")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=_int_arg(0, 65535), default=8000,
                        help="port 1..65535 (default 8000; 0 = any free port)")
    parser.add_argument("--max-batch-size", type=_int_arg(1, 65536), default=32, help="most rows in one forward pass")
    parser.add_argument("--max-wait-ms", type=_float_arg(0, 10_000), default=2.0,
                        help="how long the first request of a batch waits for others (ms, 0..10000)")
    parser.add_argument("--no-batching", action="store_true", help="one forward pass per request")
    parser.add_argument("--max-rows", type=_int_arg(1, 1 << 20), default=1024, help="most rows in one request")
    parser.add_argument("--max-tokens", type=_int_arg(1, 1 << 16), default=256,
                        help="most tokens one /v1/generate may produce")
    parser.add_argument("--max-body-bytes", type=_int_arg(1, 1 << 30), default=1 << 20, help="largest request body")
    parser.add_argument("--max-connections", type=_int_arg(1, 1 << 16), default=256, help="most open connections")
    parser.add_argument("--timeout", type=_float_arg(0, 3600, lo_open=True), default=10.0,
                        help="seconds a client has for its request headers, and again for its body (default 10)")
    parser.add_argument("--keep-alive", type=_float_arg(0, 3600, lo_open=True), default=5.0,
                        help="seconds an idle connection stays open (default 5)")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.path):
        parser.error(f"no such file: {args.path}")
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s",
                        stream=sys.stderr)
    try:
        server = ModelServer(args.path, host=args.host, port=args.port, max_batch_size=args.max_batch_size,
                             max_wait_ms=args.max_wait_ms, batching=not args.no_batching, max_rows=args.max_rows,
                             max_tokens=args.max_tokens, max_body_bytes=args.max_body_bytes,
                             max_connections=args.max_connections, header_timeout=args.timeout,
                             body_timeout=args.timeout, keep_alive_timeout=args.keep_alive, verbose=not args.quiet)
    except (ValueError, OSError) as exc:
        print(f"nnlib.serve: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"nnlib.serve: {exc}", file=sys.stderr)
        return 2
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"nnlib.serve: warning: bound to {args.host}, reachable from other machines; there is no "
              f"authentication", file=sys.stderr)
    info = server.info()["data"][0]
    print(f"Serving {server.name!r} ({info['kind']}, {info['parameters']:,} parameters) on {server.url}  "
          f"endpoint {info['endpoint']}  docs {server.url}/docs  (Ctrl+C to stop)", flush=True)
    server.serve_forever()
    print("nnlib.serve: stopped", file=sys.stderr, flush=True)
    return 0
