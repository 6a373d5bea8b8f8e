"""Chapter 14: serve a model over HTTP (模型服务) -- a FastAPI app on uvicorn.

One command::

    python -m nnlib.serve data/checkpoints/gpt_char.nnlib --port 8000
    python -m nnlib.serve my_mlp.nnlib --max-batch-size 32 --max-wait-ms 5

or, from Python (a notebook, a test)::

    with nnlib.serve.start(model, port=0) as server:     # port 0: any free port
        print(server.url)                                # http://127.0.0.1:54321

It needs the optional extra: ``pip install nnlib[serve]`` (FastAPI and uvicorn);
``import nnlib`` itself still needs only NumPy, and this package imports FastAPI only
when a server is built.

Endpoints (JSON in, JSON out; ``/docs`` and ``/openapi.json`` describe them):

* ``GET /health`` -- ``{"status": "ok", "model": ...}``
* ``GET /v1/models`` -- the model's name, version, kind and input/output shapes
  (or vocabulary and context length for a GPT)
* ``POST /v1/predict`` -- ``{"inputs": [[...], ...]}``: one row of features per
  example; answers ``{"outputs": [[...], ...]}`` (and ``"predictions"`` for a classifier)
* ``POST /v1/generate`` (a GPT) -- ``{"prompt": "...", "max_tokens": 64,
  "temperature": 0.8, "top_k": 20, "top_p": null, "seed": 0}``
* ``GET /metrics`` -- requests by endpoint and status, errors by status, a latency
  histogram and a histogram of rows per forward pass, in the Prometheus text format.

Every bad request gets a 4xx status and ``{"error": "..."}`` naming what is wrong;
where HTTP itself is broken or suspect (a smuggling attempt, a client too slow to
send its headers or body) the answer says so and the connection is closed.

**Why FastAPI on uvicorn.** A hand-written server on ``http.server`` got the classic
things wrong (a thread per connection held forever by a silent client, lenient
``Content-Length`` parsing, a GET body read as a second request). uvicorn runs the
app on asyncio (thousands of idle connections cost no threads) with ``h11``, a strict
HTTP/1.1 parser; FastAPI declares the bodies as pydantic models and publishes them
as OpenAPI. :mod:`nnlib.serve.gate` adds the limits uvicorn leaves to the
application (header and body timeouts, a connection cap, header size and count) and
:mod:`nnlib.serve.validation` parses bodies strictly (bounded size and depth, no NaN,
no duplicate keys).

**Micro-batching (微批处理).** Concurrent ``/v1/predict`` requests become
:class:`nnlib.batching.Job` s on an asyncio queue; one asyncio task
(:func:`~nnlib.batching.collect_batch`, :func:`~nnlib.batching.run_batch`) takes
the first, waits at most ``max_wait_ms`` for more (up to ``max_batch_size`` rows),
runs ONE forward pass in the model's worker thread, off the event loop, and hands
each request its own rows. ``batching=False`` runs each request's forward on its own.

The model runs in one worker thread (a lock, too): nnlib's ``no_grad`` switch is
global and ``GPT.generate`` toggles the model's mode. Each generation builds its own
KV cache.
"""
from __future__ import annotations

from .client import latency_summary, load_test
from .server import API_ROUTES, ROUTES, ModelServer, main, start
from .validation import ApiError, parse_json, validate_generate, validate_predict

__all__ = ["ModelServer", "start", "main", "ApiError", "validate_predict", "validate_generate", "parse_json",
           "load_test", "latency_summary", "ROUTES", "API_ROUTES"]
