"""Chapter 14: nnlib.serve (FastAPI on uvicorn) -- every endpoint, bad bodies, micro-batching, shutdown, the CLI.

The hostile-client cases (timeouts, framing, smuggling, limits) are in tests/nnlib/serve/test_serve_hostile.py.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

import nnlib
import nnlib.serve as serve
from nnlib.datasets import data_path
from nnlib.gpt import GPT
from nnlib.layers import Dense
from nnlib.models import Sequential
from nnlib.quantize import quantize_model

TIMEOUT = 20


def _mlp():
    nnlib.manual_seed(0)
    return Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(3, activation="softmax")])


def call(url, body=None, method=None, content_type="application/json", headers=None):
    """(status, decoded JSON) for one request; bytes bodies are sent as they are."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    hdrs = dict(headers or {})
    if data is not None and content_type is not None:
        hdrs["Content-Type"] = content_type
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            assert r.headers["Content-Type"] == "application/json"
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        assert e.headers["Content-Type"] == "application/json"
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def mlp_server():
    with serve.start(_mlp(), port=0, max_batch_size=16, max_wait_ms=30, max_rows=64,
                     max_body_bytes=4096) as server:
        yield server


@pytest.fixture(scope="module")
def gpt_server():
    nnlib.manual_seed(0)
    gpt = GPT.load(data_path("checkpoints/gpt_char.nnlib"))
    with serve.start(gpt, port=0, max_tokens=32, name="gpt_char") as server:
        yield server


# ---------------------------------------------------------------------- the happy paths
def test_binds_loopback_and_health(mlp_server):
    assert mlp_server.host == "127.0.0.1" and mlp_server.url.startswith("http://127.0.0.1:")
    assert call(mlp_server.url + "/health") == (200, {"status": "ok", "model": mlp_server.name})


def test_models(mlp_server, gpt_server):
    status, body = call(mlp_server.url + "/v1/models")
    entry = body["data"][0]
    assert status == 200 and entry["input_shape"] == [None, 4] and entry["output_shape"] == [None, 3]
    assert entry["kind"] == "predictor" and entry["version"].startswith("nnlib-") and entry["parameters"] == 67
    status, body = call(gpt_server.url + "/v1/models")
    entry = body["data"][0]
    assert entry["id"] == "gpt_char" and entry["vocab_size"] == 96 and entry["context_length"] == 128
    assert entry["kind"] == "language-model" and entry["max_tokens"] == 32


def test_predict_matches_the_model(mlp_server):
    x = np.random.default_rng(0).normal(size=(5, 4)).round(3)
    status, body = call(mlp_server.url + "/v1/predict", {"inputs": x.tolist()})
    ref = mlp_server.model.predict(x.astype(np.float32), verbose=0)
    assert status == 200 and np.allclose(body["outputs"], ref, atol=1e-7)
    assert body["predictions"] == ref.argmax(1).tolist()


def test_generate_matches_the_model_and_is_seeded(gpt_server):
    req = {"prompt": "The ", "max_tokens": 20, "temperature": 0.8, "top_k": 20, "seed": 0}
    status, body = call(gpt_server.url + "/v1/generate", req)
    ref = gpt_server.model.generate_text("The ", 20, temperature=0.8, top_k=20, seed=0)
    assert status == 200 and body["text"] == ref and body["tokens"] == 20 and body["text"] == "The " + body["completion"]
    assert call(gpt_server.url + "/v1/generate", req)[1] == body


def test_concurrent_generation_is_thread_safe(gpt_server):
    reqs = [{"prompt": "def ", "max_tokens": 12, "temperature": 1.0, "seed": s} for s in range(6)]
    expected = [gpt_server.model.generate_text("def ", 12, temperature=1.0, seed=s) for s in range(6)]
    got = [None] * 6

    def worker(i):
        got[i] = call(gpt_server.url + "/v1/generate", reqs[i])[1]["text"]
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert got == expected


# ---------------------------------------------------------------------- bad requests
BAD_PREDICT = [
    ({"inputs": [[1, 2, 3]]}, "has 3 values; the model expects 4 features"),
    ({"inputs": [[1, 2, "x", 4]]}, 'inputs[0][2] is not a number: "x"'),
    ({"inputs": [[1, 2, True, 4]]}, "inputs[0][2] is not a number: true"),
    ({"inputs": [[1, 2, None, 4]]}, "inputs[0][2] is not a number: null"),
    ({"inputs": [[1, 2, 3, 4]], "extra": 1}, "unknown field(s) ['extra']"),
    ({}, "missing field 'inputs'"),
    ({"inputs": []}, "non-empty list of rows"),
    ({"inputs": [1, 2, 3, 4]}, "inputs[0] must be a list of 4 numbers"),
    ([1, 2], "must be a JSON object"),
    ({"inputs": [[0, 0, 0, 0]] * 65}, "too many rows: 65; at most 64"),
    ({"inputs": [[1, 2, 3, 1e39]]}, "inputs[0][3] is not a finite float32"),
]


@pytest.mark.parametrize("body, message", BAD_PREDICT)
def test_bad_predict_bodies(mlp_server, body, message):
    status, reply = call(mlp_server.url + "/v1/predict", body)
    assert status == 400 and message in reply["error"], reply


@pytest.mark.parametrize("raw, message", [
    (b"{bad json", "malformed JSON"),
    (b'{"inputs": [[NaN, 1, 2, 3]]}', "NaN is not valid JSON"),
    (b'{"inputs": [[1e400, 1, 2, 3]]}', "not a finite"),
    (b"\xff\xfe", "malformed JSON"),
])
def test_malformed_bodies(mlp_server, raw, message):
    status, reply = call(mlp_server.url + "/v1/predict", raw)
    assert status == 400 and message in reply["error"]


def test_content_type_size_path_and_method(mlp_server):
    url = mlp_server.url
    status, reply = call(url + "/v1/predict", b'{"inputs": [[1,2,3,4]]}', content_type="text/plain")
    assert status == 415 and "application/json" in reply["error"]
    status, reply = call(url + "/v1/predict", b'{"inputs": [[1,2,3,4]]}', content_type=None)
    assert status == 415
    status, reply = call(url + "/v1/predict", {"inputs": [[0.123456789] * 4] * 100})
    assert status == 413 and "at most 4096 bytes" in reply["error"]
    status, reply = call(url + "/v2/predict", {"inputs": []})
    assert status == 404 and "/v1/predict" in reply["error"]
    assert call(url + "/nope")[0] == 404
    status, reply = call(url + "/v1/predict")
    assert status == 405 and "use POST" in reply["error"]
    status, reply = call(url + "/health", {"x": 1})
    assert status == 405 and "use GET" in reply["error"]
    assert call(url + "/v1/models", method="DELETE")[0] == 405
    status, reply = call(url + "/v1/generate", {"prompt": "x"})
    assert status == 400 and "not a language model" in reply["error"]


def test_oversized_body_refused_before_reading(mlp_server):
    """A huge Content-Length is answered at once with 413; the server never waits for those bytes."""
    conn = http.client.HTTPConnection(mlp_server.host, mlp_server.port, timeout=TIMEOUT)
    conn.putrequest("POST", "/v1/predict")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(10 ** 9))
    conn.endheaders()
    conn.send(b'{"inputs": ')  # and nothing more
    resp = conn.getresponse()
    assert resp.status == 413 and "1000000000 bytes" in json.loads(resp.read())["error"]
    conn.close()


def _raw(server, request: bytes) -> str:
    """Send raw bytes, read the reply until the server closes the connection."""
    chunks = []
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as s:
        s.sendall(request)
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode()


def test_missing_and_bad_content_length(mlp_server):
    reply = _raw(mlp_server, b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n")
    assert reply.startswith("HTTP/1.1 411") and "Content-Length header is required" in reply
    reply = _raw(mlp_server, b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: ten\r\n\r\n")
    assert reply.startswith("HTTP/1.1 400") and "bad Content-Length" in reply and '{"error": ' in reply


def test_http_servers_own_errors_are_json_too(mlp_server):
    reply = _raw(mlp_server, b"GET /health HTTP/1.1 extra\r\n\r\n")  # a malformed request line
    assert reply.startswith("HTTP/1.1 400") and '{"error": "invalid HTTP request: illegal request line' in reply


@pytest.mark.parametrize("body, message", [
    ({"prompt": "The ", "max_tokens": 33}, "'max_tokens' must be an integer in 1..32"),
    ({"prompt": "The ", "max_tokens": 2.5}, "'max_tokens' must be an integer"),
    ({"prompt": "The ", "temperature": -1}, "'temperature' must be a number in [0.0, 10.0]"),
    ({"prompt": "The ", "temperature": "hot"}, "'temperature' must be a number"),
    ({"prompt": "The ", "top_k": 0}, "'top_k' must be an integer in 1..96"),
    ({"prompt": "The ", "top_p": 0}, "'top_p' must be a number in (0.0, 1.0]"),
    ({"prompt": "The ", "seed": -3}, "'seed' must be an integer"),
    ({"prompt": ""}, "'prompt' must be a non-empty string"),
    ({"prompt": 5}, "'prompt' must be a non-empty string"),
    ({"prompt": "The ", "stream": True}, "unknown field(s) ['stream']"),
    ({"prompt": "x" * 513}, "too many tokens: the prompt has 513; at most 512"),
    ({"prompt": "中文"}, "the prompt cannot be encoded"),
    ({"inputs": [[1]]}, "unknown field(s) ['inputs']"),
])
def test_bad_generate_bodies(gpt_server, body, message):
    status, reply = call(gpt_server.url + "/v1/generate", body)
    assert status == 400 and message in reply["error"], reply


def test_predict_on_a_language_model(gpt_server):
    status, reply = call(gpt_server.url + "/v1/predict", {"inputs": [[1]]})
    assert status == 400 and "use POST /v1/generate" in reply["error"]


def test_validators_directly():
    x = serve.validate_predict({"inputs": [[1, 2.5]]}, 2, 10)
    assert x.dtype == np.float32 and x.tolist() == [[1.0, 2.5]]
    with pytest.raises(serve.ApiError) as info:
        serve.validate_predict({"inputs": [[1, 2]]}, 3, 10)
    assert info.value.status == 400


# ---------------------------------------------------------------------- batching
class CountingModel(Sequential):
    """A Sequential that records the batch size of every forward pass (and is slow enough to queue up)."""

    def forward(self, x, training=None):
        self.calls.append(x.shape[0])
        time.sleep(0.01)
        return super().forward(x, training)


def _counting():
    nnlib.manual_seed(0)
    m = CountingModel([Dense(3, input_shape=(2,))])
    m.calls = []
    return m


def _burst(url, n, rows_each=1):
    results = [None] * n
    barrier = threading.Barrier(n)

    def worker(i):
        barrier.wait()
        results[i] = call(url + "/v1/predict", {"inputs": [[float(i), float(r)] for r in range(rows_each)]})
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    return results


def test_micro_batching_merges_concurrent_requests():
    model = _counting()
    with serve.start(model, port=0, max_batch_size=64, max_wait_ms=200) as server:
        results = _burst(server.url, 24)
        assert all(r[0] == 200 for r in results)
        assert sum(model.calls) == 24 and len(model.calls) < 24 // 2, model.calls  # far fewer forward passes
        assert list(server.stats["batches"]) == model.calls and server.stats["requests"] == 24
        # each request got its own rows back
        ref = Sequential.forward(model, np.array([[float(i), 0.0] for i in range(24)], np.float32)).data
        assert np.allclose([r[1]["outputs"][0] for r in results], ref, atol=1e-6)


def test_a_lone_request_does_not_wait_for_company():
    # with nobody else in flight, waiting max_wait_ms cannot fill the batch: the request goes at once
    with serve.start(_counting(), port=0, max_batch_size=64, max_wait_ms=2000) as server:
        call(server.url + "/v1/predict", {"inputs": [[0.0, 1.0]]})     # warm up
        start = time.perf_counter()
        status, _ = call(server.url + "/v1/predict", {"inputs": [[1.0, 2.0]]})
        assert status == 200 and time.perf_counter() - start < 1.0


def test_batches_close_at_max_batch_size():
    """collect_batch stops taking jobs once the batch holds max_batch_size rows; a request is never split,
    so the last one may take a batch past it by less than its own rows (nnlib.batching's documented rule)."""
    model = _counting()
    with serve.start(model, port=0, max_batch_size=8, max_wait_ms=100) as server:
        results = _burst(server.url, 12, rows_each=3)
        assert all(r[0] == 200 and len(r[1]["outputs"]) == 3 for r in results)
        assert sum(model.calls) == 36 and max(model.calls) <= 8 + 3 - 1, model.calls
        assert np.allclose([r[1]["outputs"][0] for r in results],
                           Sequential.forward(model, np.array([[float(i), 0.0] for i in range(12)], np.float32)).data,
                           atol=1e-6)  # each request got its own rows back


def test_without_batching_one_forward_per_request():
    model = _counting()
    with serve.start(model, port=0, batching=False) as server:
        results = _burst(server.url, 8)
        assert all(r[0] == 200 for r in results) and model.calls == [1] * 8


def test_a_failing_forward_answers_500_and_the_server_survives():
    class Broken(Sequential):
        def forward(self, x, training=None):
            raise RuntimeError("boom")
    nnlib.manual_seed(0)
    with serve.start(Broken([Dense(1, input_shape=(2,))]), port=0) as server:
        status, reply = call(server.url + "/v1/predict", {"inputs": [[1, 2]]})
        assert status == 500 and "boom" in reply["error"]
        assert call(server.url + "/health")[0] == 200


# ---------------------------------------------------------------------- lifecycle and the CLI
def test_stop_releases_the_port_and_ends_the_threads():
    before = {t.name for t in threading.enumerate()}
    server = serve.start(_mlp(), port=0)
    port = server.port
    assert call(server.url + "/health")[0] == 200
    server.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    time.sleep(0.1)
    alive = {t.name for t in threading.enumerate()} - before
    assert not any(name.startswith("nnlib-serve") for name in alive), alive


def test_serves_model_files(tmp_path):
    model = _mlp()
    model.save(tmp_path / "mlp.nnlib")
    quantize_model(model).save(tmp_path / "mlp_int8.nnlib")
    x = [[0.5, -1.0, 2.0, 0.0]]
    for name in ("mlp", "mlp_int8"):
        with serve.start(str(tmp_path / f"{name}.nnlib"), port=0) as server:
            assert server.name == name
            status, body = call(server.url + "/v1/predict", {"inputs": x})
            assert status == 200 and np.allclose(body["outputs"], model.predict(np.array(x, np.float32), verbose=0),
                                                 atol=0.02)
            assert call(server.url + "/v1/models")[1]["data"][0]["quantized"] == (name == "mlp_int8")


def test_model_server_loads_every_kind_of_file(tmp_path):
    nnlib.manual_seed(0)
    gpt = GPT(vocab_size=13, context_length=8, d_model=16, n_heads=2, n_layers=1)
    gpt.save(tmp_path / "g.nnlib")
    quantize_model(gpt).save(tmp_path / "gq.nnlib")
    _mlp().save(tmp_path / "m.nnlib")
    from nnlib.models import load_model  # what ModelServer(path) calls, with compile=False

    assert isinstance(load_model(tmp_path / "g.nnlib", compile=False), GPT)
    assert load_model(tmp_path / "gq.nnlib", compile=False).blocks[0].mlp_in.kernel_q.dtype == np.int8
    assert isinstance(load_model(tmp_path / "m.nnlib", compile=False), Sequential)
    (tmp_path / "bad.nnlib").write_bytes(b"not a zip")
    with pytest.raises(ValueError):
        load_model(tmp_path / "bad.nnlib", compile=False)


def test_command_line(tmp_path):
    model = _mlp()
    model.save(tmp_path / "mlp.nnlib")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-m", "nnlib.serve", str(tmp_path / "mlp.nnlib"), "--port", str(port),
                             "--max-wait-ms", "1", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line and "'mlp'" in line, (line, proc.stderr.read() if proc.poll() else "")
        status, body = call(f"http://127.0.0.1:{port}/v1/predict", {"inputs": [[1, 2, 3, 4]]})
        assert status == 200 and len(body["outputs"][0]) == 3
    finally:
        proc.terminate()
        proc.wait(TIMEOUT)
    missing = subprocess.run([sys.executable, "-m", "nnlib.serve", str(tmp_path / "none.nnlib")], env=env,
                             capture_output=True, text=True, timeout=TIMEOUT)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_batch_size"):
        serve.ModelServer(_mlp(), port=0, max_batch_size=0)
    with pytest.raises(ValueError, match="input shape"):
        serve.ModelServer(Sequential([Dense(2)]), port=0)


# ---------------------------------------------------------------------- packaging and the API description
def test_import_nnlib_needs_no_web_stack():
    code = ("import sys, nnlib, nnlib.models, nnlib.gpt, nnlib.batching; "
            "bad = sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'pydantic', 'h11') if m in sys.modules); "
            "assert not bad, bad; import nnlib.serve; "
            "assert 'fastapi' not in sys.modules, 'nnlib.serve imports FastAPI only when a server is built'")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr


def test_openapi_describes_the_endpoints_with_this_models_limits(mlp_server, gpt_server):
    status, spec = call(mlp_server.url + "/openapi.json")
    assert status == 200 and {"/health", "/v1/models", "/v1/predict", "/v1/generate", "/metrics"} <= set(spec["paths"])
    body = spec["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    inputs = body["properties"]["inputs"]
    assert inputs["maxItems"] == 64 and inputs["items"]["minItems"] == inputs["items"]["maxItems"] == 4
    assert body["additionalProperties"] is False and body["required"] == ["inputs"]
    ok = spec["paths"]["/v1/predict"]["post"]["responses"]
    assert ok["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/PredictReply") and "413" in ok
    gen = call(gpt_server.url + "/openapi.json")[1]["paths"]["/v1/generate"]["post"]["requestBody"]
    props = gen["content"]["application/json"]["schema"]["properties"]
    assert props["max_tokens"]["maximum"] == 32 and props["temperature"]["maximum"] == 10.0
    with urllib.request.urlopen(mlp_server.url + "/docs", timeout=TIMEOUT) as r:
        assert r.status == 200 and b"swagger" in r.read().lower()


def _pydantic_accepts(model, body) -> bool:
    import pydantic

    try:
        model.model_validate(body, strict=True)
        return True
    except pydantic.ValidationError:
        return False


@pytest.mark.parametrize("body, _", BAD_PREDICT + [({"inputs": [[1, 2, 3, 4]]}, ""), ({"inputs": [[0.5] * 4] * 64}, "")])
def test_the_documented_predict_schema_agrees_with_the_validator(mlp_server, body, _):
    from nnlib.serve.app import predict_request_model

    model = predict_request_model(4, 64)
    try:
        serve.validate_predict(body, 4, 64)
        valid = True
    except serve.ApiError:
        valid = False
    if body == {"inputs": [[1, 2, 3, 1e39]]}:  # finite in JSON, not in float32: only the validator knows
        assert not valid and _pydantic_accepts(model, body)
    else:
        assert _pydantic_accepts(model, body) == valid, body


GOOD_GENERATE = [{"prompt": "The "}, {"prompt": "a", "max_tokens": 32, "temperature": 0, "top_k": 96, "top_p": 1,
                                      "seed": 2 ** 63 - 1}, {"prompt": "a", "top_k": None, "top_p": None, "seed": None}]


@pytest.mark.parametrize("body", [b for b, _ in [
    ({"prompt": "The ", "max_tokens": 33}, ""), ({"prompt": "The ", "max_tokens": 2.5}, ""),
    ({"prompt": "The ", "temperature": -1}, ""), ({"prompt": "The ", "temperature": "hot"}, ""),
    ({"prompt": "The ", "top_k": 0}, ""), ({"prompt": "The ", "top_p": 0}, ""), ({"prompt": "The ", "seed": -3}, ""),
    ({"prompt": ""}, ""), ({"prompt": 5}, ""), ({"prompt": "The ", "stream": True}, ""), ({"inputs": [[1]]}, ""),
    ({"prompt": "The ", "max_tokens": True}, ""), ({"prompt": "The ", "temperature": 11}, "")]] + GOOD_GENERATE)
def test_the_documented_generate_schema_agrees_with_the_validator(gpt_server, body):
    from nnlib.serve.app import generate_request_model

    model = generate_request_model(96, 32, 512)
    tok = gpt_server.model.tokenizer
    try:
        serve.validate_generate(body, tok, 96, 32, 512)
        valid = True
    except serve.ApiError:
        valid = False
    assert _pydantic_accepts(model, body) == valid, body


def test_accepted_connections_have_tcp_nodelay(mlp_server):
    """Headers and body are separate writes: without TCP_NODELAY every small answer waits ~40 ms for a delayed ACK."""
    with socket.create_connection((mlp_server.host, mlp_server.port), timeout=TIMEOUT) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        conns = list(mlp_server._uvicorn.server_state.connections)
        assert conns and all(c.transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                             for c in conns)
