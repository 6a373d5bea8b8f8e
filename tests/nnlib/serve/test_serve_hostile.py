"""Chapter 14: nnlib.serve under hostile clients -- the eight bad cases of issue 17 and what a reviewer tries next.

Every test talks to a REAL server on 127.0.0.1: ``python -m nnlib.serve`` in a child
process (short timeouts: ``--timeout 1 --keep-alive 1``) or, where a test needs a
special model or limit, ``nnlib.serve.start`` (uvicorn in a thread of this process).
Raw sockets send the malformed bytes; every loop is bounded and every socket has a
timeout. The child's stderr must never show a traceback.
"""
from __future__ import annotations
from tests import REPO_ROOT

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import nnlib
import nnlib.serve as serve
from nnlib.datasets import data_path
from nnlib.layers import Dense
from nnlib.models import Sequential

TIMEOUT = 10
ROOT = str(REPO_ROOT)
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
FAST = ["--timeout", "1", "--keep-alive", "1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Child:
    """``python -m nnlib.serve PATH`` in a child process; ``port``, ``proc``, ``stderr()``."""

    def __init__(self, path, *flags):
        self.port = _free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "nnlib.serve", str(path), "--port", str(self.port),
                                      *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        self.banner = self.proc.stdout.readline()
        self._err = []
        self._reader = threading.Thread(target=lambda: self._err.extend(self.proc.stderr), daemon=True)
        self._reader.start()
        assert f"127.0.0.1:{self.port}" in self.banner, (self.banner, self.stop())

    def stderr(self) -> str:
        return "".join(self._err)

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(TIMEOUT)
        self._reader.join(TIMEOUT)
        return code


@pytest.fixture(scope="module")
def mlp_file(tmp_path_factory):
    nnlib.manual_seed(0)
    model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(3, activation="softmax")], name="mlp")
    path = tmp_path_factory.mktemp("models") / "mlp.nnlib"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def mlp(mlp_file):
    child = Child(mlp_file, "--max-wait-ms", "1", "--max-body-bytes", "200000", *FAST)
    yield child
    code = child.stop()
    assert code == 0 and "Traceback" not in child.stderr(), child.stderr()[-3000:]


@pytest.fixture(scope="module")
def gpt():
    child = Child(data_path("checkpoints/gpt_char.nnlib"), "--max-tokens", "64", *FAST)
    yield child
    code = child.stop()
    assert code == 0 and "Traceback" not in child.stderr(), child.stderr()[-3000:]


# ---------------------------------------------------------------------- raw HTTP
def connect(port: int, timeout: float = TIMEOUT) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_all(s: socket.socket, limit: float = TIMEOUT) -> bytes:
    """Everything until the server closes (or ``limit`` seconds pass: then the socket is still open)."""
    chunks, deadline = [], time.monotonic() + limit
    s.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:  # closed while our data was unread: a close all the same
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
    raise AssertionError(f"the server kept the connection open for {limit} s; got {b''.join(chunks)[:300]!r}")


def raw(port: int, data: bytes, limit: float = TIMEOUT) -> bytes:
    """Send ``data`` on a fresh connection; return what comes back until the server closes it."""
    with connect(port) as s:
        s.sendall(data)
        return read_all(s, limit)


def read_response(s: socket.socket) -> tuple:
    """One complete response (status, headers, body) from an open connection (by its Content-Length)."""
    blob, deadline = b"", time.monotonic() + TIMEOUT
    s.settimeout(TIMEOUT)
    while b"\r\n\r\n" not in blob or len(blob) < _expected(blob):
        assert time.monotonic() < deadline, blob
        chunk = s.recv(65536)
        assert chunk, blob
        blob += chunk
    (response,) = responses(blob)
    return response


def _expected(blob: bytes) -> int:
    head, _, _ = blob.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)content-length: (\d+)", head)
    return len(head) + 4 + (int(m.group(1)) if m else 0)


def responses(blob: bytes) -> list:
    """Split a byte stream of HTTP/1.1 responses into (status, headers dict, body bytes)."""
    out = []
    while blob:
        head, sep, rest = blob.partition(b"\r\n\r\n")
        assert sep, blob[:200]
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
        n = int(headers.get("content-length", 0))
        out.append((status, headers, rest[:n]))
        blob = rest[n:]
    return out


def one(port: int, data: bytes, limit: float = TIMEOUT):
    """The single response to ``data`` (the server must also close the connection)."""
    got = responses(raw(port, data, limit))
    assert len(got) == 1, got
    return got[0]


def error_of(response) -> str:
    status, headers, body = response
    assert headers["content-type"] == "application/json", response
    return json.loads(body)["error"]


def post(path: str, body: bytes, ctype: bytes = b"application/json", extra: bytes = b"") -> bytes:
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: t\r\nContent-Type: " + ctype + b"\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n" + extra + b"Connection: close\r\n\r\n" + body)


def post_json(port: int, path: str, payload) -> tuple:
    status, _, body = one(port, post(path, payload if isinstance(payload, bytes) else json.dumps(payload).encode()))
    return status, json.loads(body)


GOOD = post("/v1/predict", b'{"inputs": [[1, 2, 3, 4]]}')


def threads_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return int(re.search(r"^Threads:\s+(\d+)", fh.read(), re.M).group(1))


# ---------------------------------------------------------------------- case 1: slow and silent clients
def test_slow_clients_are_bounded_and_do_not_block_a_good_request(mlp):
    """50 slow clients of five kinds hang; a good request still answers fast; the server closes them all in ~1 s."""
    def idle_keep_alive():
        s = connect(mlp.port)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(s)[0] == 200
        return s

    kinds = {
        "silent": lambda: connect(mlp.port),
        "partial headers": lambda: _sent(b"POST /v1/predict HTTP/1.1\r\nHost: t\r\nContent-Ty"),
        "short body": lambda: _sent(b"POST /v1/predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                                    b"Content-Length: 46\r\n\r\n{\"inputs\""),
        "idle keep-alive": idle_keep_alive,
        "request line only": lambda: _sent(b"GET /health HTTP/1.1\r\n"),
    }
    _sent.port = mlp.port
    slow = {kind: [make() for _ in range(10)] for kind, make in kinds.items()}
    try:
        t0 = time.monotonic()
        status, _, body = one(mlp.port, GOOD)
        assert status == 200 and len(json.loads(body)["outputs"][0]) == 3
        assert time.monotonic() - t0 < 2.0
        # every slow connection is closed by the server (after --timeout 1 / --keep-alive 1), none is kept forever
        for kind, socks in slow.items():
            for s in socks:
                got = read_all(s, limit=6)
                if kind in ("partial headers", "request line only"):
                    assert got.startswith(b"HTTP/1.1 408") and b"headers did not arrive within 1 s" in got, got
                elif kind == "short body":
                    assert got.startswith(b"HTTP/1.1 408") and b"(9 of 46 bytes)" in got, got
                else:
                    assert got == b"", (kind, got)
    finally:
        for socks in slow.values():
            for s in socks:
                s.close()


def _sent(data: bytes) -> socket.socket:
    s = connect(_sent.port)
    s.sendall(data)
    return s


def test_trickling_headers_or_body_does_not_extend_the_timeouts(mlp):
    """Slowloris: a byte every 0.25 s keeps the socket busy, but the header/body deadlines are totals, not idle times."""
    for start, trickle, expect in [
        (b"GET /health HTTP/1.1\r\nHost: t\r\n", b"X-Slow: 1\r\n", b"headers did not arrive"),
        (b"POST /v1/predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n",
         b" ", b"the body did not arrive within 1 s"),
    ]:
        with connect(mlp.port) as s:
            s.sendall(start)
            t0, got = time.monotonic(), b""
            s.settimeout(0.25)
            while time.monotonic() - t0 < 5:
                try:
                    s.sendall(trickle)
                except OSError:
                    break
                try:
                    chunk = s.recv(4096)
                except socket.timeout:
                    continue
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                got += chunk
            assert expect in got and time.monotonic() - t0 < 3, got


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="counts threads through /proc (Linux)")
def test_idle_connections_cost_no_threads(mlp):
    before = threads_of(mlp.proc.pid)
    socks = [connect(mlp.port) for _ in range(200)]
    try:
        assert one(mlp.port, b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")[0] == 200
        assert threads_of(mlp.proc.pid) <= before + 2  # asyncio: 200 idle sockets, no thread each
    finally:
        for s in socks:
            s.close()


def test_connection_cap_answers_503_json_and_closes():
    nnlib.manual_seed(0)
    with serve.start(Sequential([Dense(1, input_shape=(2,))]), port=0, max_connections=4) as server:
        held = [connect(server.port) for _ in range(4)]
        try:
            time.sleep(0.1)
            status, headers, body = one(server.port, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            assert status == 503 and "too many connections (at most 4)" in json.loads(body)["error"]
        finally:
            for s in held:
                s.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the server notices the closed sockets
            if one(server.port, b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")[0] == 200:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the server never accepted a connection again")
        assert 'nnlib_connections_refused_total{reason="connection_cap"}' in _metrics_text(server.port)


def _metrics_text(port: int) -> str:
    status, headers, body = one(port, b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    return body.decode()


# ---------------------------------------------------------------------- case 2: flags
@pytest.mark.parametrize("flags, message", [
    (["--max-wait-ms", "nan"], "argument --max-wait-ms: must be a finite number in [0, 10000], got 'nan'"),
    (["--max-wait-ms", "inf"], "argument --max-wait-ms: must be a finite number"),
    (["--max-wait-ms", "-1"], "argument --max-wait-ms: must be a finite number"),
    (["--port", "99999"], "argument --port: must be an integer in 0..65535, got 99999"),
    (["--port", "-1"], "argument --port: must be an integer in 0..65535"),
    (["--port", "80x"], "argument --port: must be an integer in 0..65535, got '80x'"),
    (["--max-batch-size", "0"], "argument --max-batch-size: must be an integer in 1..65536"),
    (["--max-tokens", "1e9"], "argument --max-tokens: must be an integer"),
    (["--timeout", "0"], "argument --timeout: must be a finite number in (0, 3600]"),
    (["--keep-alive", "nan"], "argument --keep-alive: must be a finite number"),
    (["--max-connections", "0"], "argument --max-connections: must be an integer in 1..65536"),
])
def test_every_flag_is_validated(mlp_file, flags, message):
    done = subprocess.run([sys.executable, "-m", "nnlib.serve", str(mlp_file), *flags], env=ENV, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_python_api_validates_its_arguments_too():
    nnlib.manual_seed(0)
    model = Sequential([Dense(1, input_shape=(2,))])
    for kwargs, message in [({"max_wait_ms": float("nan")}, "max_wait_ms must be a finite number"),
                            ({"max_wait_ms": float("inf")}, "max_wait_ms"), ({"port": 99999}, "port must be"),
                            ({"max_batch_size": 2.5}, "max_batch_size must be an integer"),
                            ({"header_timeout": 0}, "header_timeout"), ({"batching": "yes"}, "batching must be"),
                            ({"max_tokens": True}, "max_tokens must be an integer")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            serve.ModelServer(model, **{"port": 0, **kwargs})


# ---------------------------------------------------------------------- case 3: what used to be 500s
@pytest.mark.parametrize("body, message", [
    (b"[" * 100000, "the JSON body is nested more than 32 levels deep"),
    (b'{"inputs": [[1' + b"0" * 400 + b", 1, 2, 3]]}", "inputs[0][0] is not a finite float32 number"),
    (b'{"inputs": [[1, 2, 3, 4' + b"0" * 400 + b".5]]}", "inputs[0][3] is not a finite float32 number"),
    (b'{"inputs": ' + b"[" * 983 + b"]" * 983 + b"}", "'inputs' is nested more than 32 levels deep"),
], ids=["brackets-100000", "400-digit-int", "400-digit-float", "inputs-983-deep"])
def test_deep_and_huge_predict_bodies_are_400s(mlp, body, message):
    status, reply = post_json(mlp.port, "/v1/predict", body)
    assert status == 400 and message in reply["error"], reply


@pytest.mark.parametrize("body, message", [
    (b'{"prompt": "The ", "temperature": 1' + b"0" * 400 + b"}", "'temperature' must be a number in [0.0, 10.0]"),
    (b'{"prompt": "The ", "top_p": 0.' + b"0" * 400 + b"1}", "'top_p' must be a number in (0.0, 1.0]"),
    (b'{"prompt": "The ", "top_p": 1' + b"0" * 400 + b"}", "'top_p' must be a number in (0.0, 1.0], got Infinity"),
    (b'{"prompt": "The ", "seed": 1' + b"0" * 400 + b"}", "'seed' must be an integer"),
    (b'{"prompt": "The ", "max_tokens": ' + b"[" * 983 + b"1" + b"]" * 983 + b"}",
     "'max_tokens' is nested more than 32 levels deep"),
    (b'{"prompt": "The ", "max_tokens": ' + b"[" * 20 + b"1" + b"]" * 20 + b"}",
     "'max_tokens' must be an integer in 1..64, got [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]"),
], ids=["temperature-400-digits", "top_p-400-decimals", "top_p-400-digits", "seed-400-digits",
        "max_tokens-983-deep", "max_tokens-20-deep"])
def test_deep_and_huge_generate_fields_are_400s_naming_the_field(gpt, body, message):
    status, reply = post_json(gpt.port, "/v1/generate", body)
    assert status == 400 and message in reply["error"], reply


# ---------------------------------------------------------------------- case 4: framing and smuggling
@pytest.mark.parametrize("lengths, message", [
    (b"Content-Length: +26\r\n", "bad Content-Length"),
    (b"Content-Length: 2_6\r\n", "bad Content-Length"),
    (b"Content-Length: 0x1a\r\n", "bad Content-Length"),
    (b"Content-Length: 26\r\nContent-Length: 27\r\n", "conflicting Content-Length"),
    (b"Content-Length: 26, 27\r\n", "conflicting Content-Length"),
    (b"Content-Length:  -26\r\n", "bad Content-Length"),
])
def test_ambiguous_content_length_is_refused_and_the_connection_closed(mlp, lengths, message):
    response = one(mlp.port, b"POST /v1/predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" + lengths
                   + b"\r\n" + b'{"inputs": [[1, 2, 3, 4]]}')
    assert response[0] == 400 and message in error_of(response) and response[1]["connection"] == "close"


def test_transfer_encoding_with_content_length_is_refused(mlp):
    smuggled = b"GET /v1/models HTTP/1.1\r\nHost: t\r\n\r\n"
    body = b"0\r\n\r\n" + smuggled
    got = responses(raw(mlp.port, b"POST /v1/predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                                  b"Transfer-Encoding: chunked\r\nContent-Length: " + str(len(body)).encode()
                        + b"\r\n\r\n" + body))
    assert len(got) == 1 and got[0][0] == 400 and got[0][1]["connection"] == "close"
    assert "both Transfer-Encoding and Content-Length" in error_of(got[0])


@pytest.mark.parametrize("framing", [b"Content-Length: {n}\r\n", b"Transfer-Encoding: chunked\r\n"])
def test_a_get_with_a_body_gets_one_answer_not_two(mlp, framing):
    smuggled = b"GET /v1/models HTTP/1.1\r\nHost: t\r\n\r\n"
    body = smuggled if b"{n}" in framing else b"%x\r\n" % len(smuggled) + smuggled + b"\r\n0\r\n\r\n"
    header = framing.replace(b"{n}", str(len(body)).encode())
    got = responses(raw(mlp.port, b"GET /health HTTP/1.1\r\nHost: t\r\n" + header + b"\r\n" + body))
    assert len(got) == 1 and got[0][0] == 400 and "a GET request must not have a body" in error_of(got[0])


def test_unknown_transfer_codings_and_chunked_posts(mlp):
    response = one(mlp.port, b"POST /v1/predict HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
    assert response[0] == 501 and "Only Transfer-Encoding: chunked is supported" in error_of(response)
    body = b'{"inputs": [[1, 2, 3, 4]]}'
    response = one(mlp.port, b"POST /v1/predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    assert response[0] == 411 and "Content-Length header is required" in error_of(response)


@pytest.mark.parametrize("request_bytes, message", [
    (b"GET /health HTTP/1.1\r\n\r\n", "Missing mandatory Host: header"),
    (b"GET /health HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n", "illegal header line"),
    (b"GET /health HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n", "illegal header line"),
    (b"GET /h\xc3\xa9alth HTTP/1.1\r\nHost: t\r\n\r\n", "illegal request line"),
    (b"GET /health\r\n\r\n", "illegal request line"),
])
def test_malformed_requests_are_json_400s(mlp, request_bytes, message):
    response = one(mlp.port, request_bytes)
    assert response[0] == 400 and message in error_of(response)


# ---------------------------------------------------------------------- case 5: HEAD and OPTIONS
def test_head_is_get_without_a_body(mlp):
    with connect(mlp.port) as s:
        s.sendall(b"HEAD /health HTTP/1.1\r\nHost: t\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        blob = read_all(s)
    head, _, rest = blob.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and rest.startswith(b"HTTP/1.1 200")  # no body between the two
    n = int(re.search(rb"content-length: (\d+)", head).group(1))
    assert n == len(b'{"status": "ok", "model": "mlp"}') and rest.endswith(b'{"status": "ok", "model": "mlp"}')


@pytest.mark.parametrize("request_line, status, allow", [
    (b"OPTIONS /health", 204, "GET, HEAD, OPTIONS"), (b"OPTIONS /v1/predict", 204, "POST, OPTIONS"),
    (b"OPTIONS *", 204, "GET, HEAD, POST, OPTIONS"), (b"HEAD /v1/predict", 405, "POST, OPTIONS"),
    (b"DELETE /v1/models", 405, "GET, HEAD, OPTIONS"), (b"PUT /v1/predict", 405, "POST, OPTIONS"),
])
def test_options_and_wrong_methods_name_the_allowed_ones(mlp, request_line, status, allow):
    response = one(mlp.port, request_line + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert response[0] == status and response[1]["allow"] == allow
    if status == 405 and not request_line.startswith(b"HEAD"):
        assert "is not allowed on" in error_of(response)


# ---------------------------------------------------------------------- case 6: duplicate keys
@pytest.mark.parametrize("port_of, path, body, key", [
    ("mlp", "/v1/predict", b'{"inputs": [["x"]], "inputs": [[1, 2, 3, 4]]}', "inputs"),
    ("gpt", "/v1/generate", b'{"prompt": "The ", "max_tokens": 1, "max_tokens": 64}', "max_tokens"),
    ("mlp", "/v1/predict", b'{"inputs": [[1, 2, 3, 4]], "x": {"a": 1, "a": 2}}', "a"),
])
def test_duplicate_keys_are_refused(request, port_of, path, body, key):
    status, reply = post_json(request.getfixturevalue(port_of).port, path, body)
    assert status == 400 and f"duplicate key '{key}'" in reply["error"]


# ---------------------------------------------------------------------- case 7: bounded state
def test_server_state_is_bounded():
    nnlib.manual_seed(0)
    with serve.start(Sequential([Dense(1, input_shape=(2,))]), port=0) as server:
        x = np.zeros((1, 2), np.float32)
        for _ in range(serve.server.STATS_BATCHES + 50):
            server._forward_counted(x)
        batches = server.stats["batches"]
        assert len(batches) == batches.maxlen == serve.server.STATS_BATCHES and np.mean(batches) == 1.0
        batches.clear()
        assert len(batches) == 0
        assert server._queue.maxsize > 0  # the batching queue is bounded too
        for i in range(100):  # 100 different unknown paths: one "other" series, not 100
            one(server.port, f"GET /nope{i} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        text = _metrics_text(server.port)
        assert text.count('endpoint="other"') == 1 + 16 and "nope" not in text  # the counter + one histogram


# ---------------------------------------------------------------------- case 8: a client that hangs up
class Slow(Sequential):
    def forward(self, x, training=None):
        self.started = True
        time.sleep(0.3)
        self.done = getattr(self, "done", 0) + 1
        return super().forward(x, training)


def test_a_client_that_hangs_up_gets_one_log_line_and_no_traceback(caplog):
    nnlib.manual_seed(0)
    model = Slow([Dense(1, input_shape=(2,))])
    caplog.set_level(logging.INFO)
    with serve.start(model, port=0) as server:
        with connect(server.port) as s:
            s.sendall(post("/v1/predict", b'{"inputs": [[1, 2]]}'))
            deadline = time.monotonic() + 5
            while not getattr(model, "started", False):  # hang up while the model works on our request
                assert time.monotonic() < deadline
                time.sleep(0.01)
        deadline = time.monotonic() + 5
        while "nnlib_client_disconnects_total 1" not in _metrics_text(server.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert getattr(model, "done", 0) == 1
        assert one(server.port, b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")[0] == 200
    hung = [r for r in caplog.records if "hung up" in r.getMessage()]
    assert len(hung) == 1 and "before its answer to POST /v1/predict" in hung[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


# ---------------------------------------------------------------------- shutdown
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_accepting_finishes_in_flight_and_exits_0(sig):
    child = Child(data_path("checkpoints/gpt_char.nnlib"), "--max-tokens", "4000", "--quiet")
    answer = {}

    def client():
        with connect(child.port, timeout=60) as s:
            s.sendall(post("/v1/generate", b'{"prompt": "The ", "max_tokens": 600, "seed": 0}'))
            got = responses(read_all(s, limit=60))
            answer["at"], answer["reply"] = time.monotonic(), got
    thread = threading.Thread(target=client)
    try:
        thread.start()
        deadline = time.monotonic() + 10
        while "nnlib_in_flight_requests 2" not in _metrics_text(child.port):  # the generation and this request
            assert time.monotonic() < deadline and thread.is_alive(), "the generation never started"
            time.sleep(0.02)
        sent = time.monotonic()
        child.proc.send_signal(sig)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # stops accepting new connections at once
            try:
                connect(child.port, timeout=1).close()
            except OSError:
                break
            time.sleep(0.02)
        else:
            raise AssertionError("still accepting connections 5 s after the signal")
        refused_at = time.monotonic()
        thread.join(60)
        (status, _, body), = answer["reply"]
        assert status == 200 and json.loads(body)["tokens"] == 600
        assert answer["at"] > sent and answer["at"] > refused_at  # it was answered after the server stopped accepting
        assert child.proc.wait(TIMEOUT) == 0
    finally:
        child.stop(signal.SIGKILL)
    assert "Traceback" not in child.stderr(), child.stderr()


# ---------------------------------------------------------------------- what a reviewer tries next
def test_huge_and_many_headers_are_431s(mlp):
    response = one(mlp.port, b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    assert response[0] == 431 and response[1]["connection"] == "close"
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(100))
    response = one(mlp.port, b"GET /health HTTP/1.1\r\nHost: t\r\n" + many + b"\r\n")
    assert response[0] == 431 and "too many header fields: 101; at most 64" in error_of(response)
    with connect(mlp.port) as s:  # headers that never end: refused once they pass the parser's buffer
        s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n")
        for _ in range(10):
            try:
                s.sendall(b"X-More: " + b"b" * 4000 + b"\r\n")
            except OSError:
                break
        got = read_all(s)
    assert got.startswith(b"HTTP/1.1 431") or got.startswith(b"HTTP/1.1 400"), got[:100]


@pytest.mark.parametrize("target", [b"/%C0%AE%C0%AE/health", b"/health%00", b"/%E2%80%AEhtlaeh", b"/" + b"a" * 6000,
                                    b"//health", b"/health/", b"http://evil.example/x", b"/v1/predict/../models"],
                         ids=["overlong-dots", "nul", "bidi", "6000-chars", "double-slash", "trailing-slash",
                              "absolute-form", "dot-dot"])
def test_odd_paths_are_404s_with_a_bounded_message(mlp, target):
    response = one(mlp.port, b"GET " + target + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert response[0] == 404 and error_of(response).startswith("unknown path") and len(response[2]) < 400


@pytest.mark.parametrize("ctype", [b"text/plain", b"application/json; charset=utf-16", b"multipart/form-data",
                                   b"application/x-www-form-urlencoded", b"application/jsonx", b"*/*"])
def test_wrong_content_types_are_415s(mlp, ctype):
    response = one(mlp.port, post("/v1/predict", b'{"inputs": [[1, 2, 3, 4]]}', ctype=ctype))
    assert response[0] == 415 and ("must be application/json" in error_of(response)
                                   or "must be UTF-8 JSON" in error_of(response))


def test_content_type_parameters_that_are_fine(mlp):
    for ctype in (b"application/json; charset=utf-8", b"Application/JSON", b'application/json;charset="UTF-8"'):
        assert one(mlp.port, post("/v1/predict", b'{"inputs": [[1, 2, 3, 4]]}', ctype=ctype))[0] == 200


def test_pipelining_flood_is_answered_in_order_and_bounded(mlp):
    n = 300
    flood = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n" * (n - 1) + b"GET /v1/models HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    got = responses(raw(mlp.port, flood, limit=20))
    assert len(got) == n and all(r[0] == 200 for r in got) and b'"data"' in got[-1][2]
    t0 = time.monotonic()  # and the server still answers others at once
    assert one(mlp.port, GOOD)[0] == 200 and time.monotonic() - t0 < 2.0


def test_a_client_that_never_reads_its_answers_is_cut_off(mlp):
    """Pipelined requests whose answers are never read fill the send buffer; the send times out and closes."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(TIMEOUT)
        s.connect(("127.0.0.1", mlp.port))
        s.setblocking(False)
        request, sent = b"GET /openapi.json HTTP/1.1\r\nHost: t\r\n\r\n", 0
        for _ in range(2000):  # push requests until the server stops reading (it is blocked on our window)
            try:
                sent += s.send(request)
            except BlockingIOError:
                break
        time.sleep(3)  # --timeout 1: the server gives up on us
        got = read_all(s, limit=TIMEOUT)
    assert sent // len(request) > 50 and got.count(b"HTTP/1.1 200") < sent // len(request)  # cut off, not served
    assert one(mlp.port, GOOD)[0] == 200


def test_several_content_type_headers_are_refused(mlp):
    response = one(mlp.port, post("/v1/predict", b'{"inputs": [[1, 2, 3, 4]]}',
                                  extra=b"Content-Type: text/plain\r\n"))
    assert response[0] == 400 and "2 Content-Type headers" in error_of(response)


def test_oversized_body_with_expect_100_continue_is_refused_before_it_is_sent(mlp):
    with connect(mlp.port) as s:
        s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 10000000\r\nExpect: 100-continue\r\n\r\n")
        got = read_all(s, limit=5)
    assert got.startswith(b"HTTP/1.1 413") and b"100 Continue" not in got


@pytest.mark.parametrize("field, value", [("max_tokens", 0), ("max_tokens", -1), ("max_tokens", 65),
                                          ("max_tokens", 10 ** 12), ("max_tokens", True), ("max_tokens", 1.0),
                                          ("max_tokens", "5"), ("max_tokens", None), ("top_k", 97), ("top_k", 0),
                                          ("temperature", 11), ("temperature", "hot"), ("top_p", 1.5),
                                          ("seed", -1), ("seed", 2 ** 63)])
def test_generation_bounds(gpt, field, value):
    status, reply = post_json(gpt.port, "/v1/generate", {"prompt": "The ", field: value})
    assert status == 400 and reply["error"].startswith(f"'{field}' must be")


def test_prompt_length_bounds(gpt):
    status, reply = post_json(gpt.port, "/v1/generate", {"prompt": "x" * 513})
    assert status == 400 and "too many tokens: the prompt has 513; at most 512" in reply["error"]
    status, reply = post_json(gpt.port, "/v1/generate", {"prompt": "x" * 100000})
    assert status == 400 and "too many tokens: the prompt has 100000 characters" in reply["error"]
    status, reply = post_json(gpt.port, "/v1/generate", {"prompt": "x" * (1 << 20)})
    assert status == 413 and "at most 1048576 bytes" in reply["error"]
    for prompt in ("\x00", "😀", "\ud800"):
        status, reply = post_json(gpt.port, "/v1/generate", {"prompt": prompt})
        assert status == 400 and "cannot be encoded" in reply["error"], reply


def test_http_1_0_and_keep_alive_reuse(mlp):
    status, headers, body = one(mlp.port, b"GET /health HTTP/1.0\r\n\r\n")
    assert status == 200
    with connect(mlp.port) as s:  # three requests on one connection, answered in order
        for i in range(3):
            s.sendall(post("/v1/predict", b'{"inputs": [[%d, 0, 0, 0]]}' % i).replace(b"Connection: close\r\n", b""))
            assert read_response(s)[0] == 200


def test_a_bad_body_keeps_the_connection_but_an_unread_one_closes_it(mlp):
    with connect(mlp.port) as s:
        s.sendall(post("/v1/predict", b'{"inputs": [[1]]}').replace(b"Connection: close\r\n", b"") + GOOD)
        got = responses(read_all(s))
    assert [r[0] for r in got] == [400, 200]  # the 400's body was read: the connection was reused
    with connect(mlp.port) as s:  # a 415 is refused before the body is read: answer, then close
        s.sendall(post("/v1/predict", b'{"inputs": [[1, 2, 3, 4]]}', ctype=b"text/plain")
                  .replace(b"Connection: close\r\n", b"") + GOOD)
        got = responses(read_all(s))
    assert [r[0] for r in got] == [415] and got[0][1]["connection"] == "close"


def test_metrics_parse_with_prometheus_client(mlp):
    from prometheus_client.parser import text_string_to_metric_families

    for _ in range(3):
        one(mlp.port, GOOD)
    one(mlp.port, post("/v1/predict", b'{"inputs": [[1]]}'))
    families = {f.name: f for f in text_string_to_metric_families(_metrics_text(mlp.port))}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("nnlib_requests_total", (("endpoint", "/v1/predict"), ("status", "200")))] >= 3
    assert samples[("nnlib_errors_total", (("status", "400"),))] >= 1
    assert families["nnlib_request_duration_seconds"].type == "histogram"
    assert samples[("nnlib_batch_rows_count", ())] >= 3
    assert samples[("nnlib_request_duration_seconds_bucket", (("endpoint", "/v1/predict"), ("le", "+Inf")))] >= 4
