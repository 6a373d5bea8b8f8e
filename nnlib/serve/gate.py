"""Chapter 14: the HTTP edge of the server -- what happens before a request reaches the endpoints.

Two pieces, both small:

* :func:`protocol_class` -- uvicorn's ``h11`` protocol (the strict HTTP/1.1 parser:
  it refuses ``Content-Length: +46`` and ``4_6``, two different Content-Lengths,
  malformed request and header lines, unknown transfer codings) with what uvicorn
  leaves out: a **header timeout** (a connection must finish its request headers
  within ``header_timeout`` seconds of connecting or of its previous answer, however
  slowly it trickles bytes), a **connection cap** (beyond ``max_connections`` a new
  connection gets a JSON 503 and is closed) and JSON bodies for the parser's own
  refusals.
* :class:`Gate` -- an ASGI wrapper around the FastAPI app. It answers unknown paths
  (404), wrong methods (405 with ``Allow``), ``OPTIONS`` (204 with ``Allow``), ``HEAD``
  (as GET, without a body), refuses what could smuggle a request behind a proxy (a
  GET with a body, Transfer-Encoding together with Content-Length), bounds headers
  (size and count), and reads every POST body itself: JSON content type, a
  Content-Length within ``max_body_bytes``, all of it within ``body_timeout``
  seconds, then :func:`~nnlib.serve.validation.parse_json`. The endpoint receives the
  parsed value in ``scope["nnlib.body"]``. It also counts every answer for
  ``/metrics``, cuts off a client that does not read its answers (a send that takes
  longer than ``body_timeout``) and logs one line (no traceback) for a client that hung up.

Which parser: measured with uvicorn 0.55 (h11 0.16 against httptools 0.7, raw sockets).
Both refuse ``Content-Length: +4`` and ``0_4``, two different Content-Lengths, unknown
transfer codings, a space before the colon and a non-ASCII request target; neither
reads a GET body as a second request. h11 lets through Transfer-Encoding together with
Content-Length (and then answers the smuggled request: the Gate refuses the pair),
bare-LF line ends and obs-fold (RFC 9112 allows a recipient both) and junk in chunk
extensions; httptools refuses those but accepts a request without ``Host``. h11 is
used because it is pure Python (nothing to compile on a learner's machine) and, with
the Gate's refusal of TE + CL, leaves none of the smuggling cases of issue 17 open.
"""
from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .validation import ApiError, parse_json

__all__ = ["protocol_class", "Gate", "BODY_KEY", "error_bytes"]

log = logging.getLogger("nnlib.serve")
BODY_KEY = "nnlib.body"
_PHRASES = {400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large", 431: "Request Header Fields Too Large",
            501: "Not Implemented", 503: "Service Unavailable"}


def error_bytes(status: int, message: str) -> bytes:
    """A complete ``Connection: close`` HTTP/1.1 response with ``{"error": message}`` (written without h11)."""
    body = json.dumps({"error": message}).encode("utf-8")
    head = (f"HTTP/1.1 {status} {_PHRASES.get(status, 'Error')}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("ascii") + body


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol plus a header timeout, a connection cap and JSON refusals (see the module docstring)."""

    header_timeout = 10.0
    max_connections = 256
    metrics = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._header_timer = None
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # headers and body leave as separate writes: without TCP_NODELAY, Nagle's algorithm holds the
            # second until the client's delayed ACK (~40 ms on Linux). asyncio sets it only where the
            # listening socket was made with proto=IPPROTO_TCP, which socket.create_server does not do.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if len(self.connections) > self.max_connections:
            self._refuse("connection_cap", 503, f"too many connections (at most {self.max_connections}); "
                                                "try again shortly")
            return
        self._arm_header_timer()

    def connection_lost(self, exc) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            self._cancel_header_timer()
        elif self.conn.their_state is h11.IDLE:  # still waiting for (the rest of) a request's headers
            self._arm_header_timer()
        else:
            self._cancel_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # arms uvicorn's keep-alive timer for the idle connection
        if not self.transport.is_closing() and self.conn.their_state is not h11.IDLE:
            self._cancel_header_timer()  # a pipelined request is already being handled

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._on_header_timeout)

    def _cancel_header_timer(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # an answer is still on its way; the keep-alive timer takes over after it
        if self.conn.trailing_data[0]:  # part of a request arrived: say why we close
            self._refuse("header_timeout", 408, f"the request headers did not arrive within "
                                                f"{self.header_timeout:g} s")
        else:                           # a silent connection: just close it
            if self.metrics is not None:
                self.metrics.refuse("idle")
            self.transport.close()

    def _refuse(self, reason: str, status: int, message: str) -> None:
        if self.metrics is not None:
            self.metrics.refuse(reason)
        self._cancel_header_timer()
        if not self.transport.is_closing():
            self.transport.write(error_bytes(status, message))
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        # called by uvicorn inside ``except h11.RemoteProtocolError``: the exception says what was wrong
        exc = sys.exc_info()[1]
        status = getattr(exc, "error_status_hint", 400) if isinstance(exc, h11.RemoteProtocolError) else 400
        detail = str(exc) if exc is not None else msg
        self._refuse("bad_http", status if status in _PHRASES else 400, f"invalid HTTP request: {detail[:200]}")


def protocol_class(header_timeout: float, max_connections: int, metrics) -> type:
    """Chapter 14: a uvicorn HTTP protocol class with these limits (one class per server)."""
    return type("NnlibH11Protocol", (_Protocol,), {"header_timeout": float(header_timeout),
                                                   "max_connections": int(max_connections), "metrics": metrics})


# ---------------------------------------------------------------------- the ASGI gate
class _Gone(Exception):
    """The client closed the connection."""


def _header(headers, name: bytes):
    values = [v for k, v in headers if k == name]
    return values


class Gate:
    """Chapter 14: the ASGI wrapper that checks every request before the FastAPI app sees it (module docstring).

    ``routes``: path -> method ("GET" or "POST"); ``api_paths``: the ones the 404 message lists.
    """

    def __init__(self, app, routes: dict, api_paths, metrics, max_body_bytes: int, body_timeout: float,
                 max_header_bytes: int = 8192, max_headers: int = 64):
        self.app = app
        self.routes = dict(routes)
        self.api_paths = sorted(api_paths)
        self.others = sorted(set(self.routes) - set(self.api_paths))
        self.metrics = metrics
        self.max_body_bytes = int(max_body_bytes)
        self.body_timeout = float(body_timeout)
        self.max_header_bytes = int(max_header_bytes)
        self.max_headers = int(max_headers)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":  # lifespan (websockets are not served)
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        state = {"status": None, "gone": False}
        self.metrics.in_flight += 1

        async def send_checked(message):
            if state["gone"]:
                return
            if message["type"] == "http.response.start":
                if await _client_gone(receive, bool(scope.get("nnlib.read")) or scope["method"] != "POST"):
                    state["gone"] = True  # nothing is sent to a closed connection; one log line below
                    return
                state["status"] = message["status"]
            try:  # a client that does not read its answers cannot hold the connection forever
                await _within(send(message), self.body_timeout)
            except (TimeoutError, asyncio.TimeoutError):
                state["gone"] = state["slow_reader"] = True
                _abort(receive)

        try:
            await self._handle(scope, receive, send_checked)
        except _Gone:
            state["gone"] = True
        except Exception as exc:  # noqa: BLE001 -- a bug answers 500 and one log line, never a traceback
            log.error("nnlib.serve: internal error on %s %s: %s: %s", scope["method"], scope["path"][:100],
                      type(exc).__name__, exc)
            if state["status"] is None and not state["gone"]:
                try:
                    await _respond(send_checked, 500, {"error": f"internal error: {type(exc).__name__}: {exc}"},
                                   {"connection": "close"})
                except _Gone:
                    state["gone"] = True
        finally:
            self.metrics.in_flight -= 1
            if state["gone"]:
                client = scope.get("client") or ("?", 0)
                why = ("did not read its answer within %g s" % self.body_timeout if state.get("slow_reader")
                       else "hung up before its answer")
                log.info("nnlib.serve: client %s:%s %s to %s %s", client[0], client[1], why,
                         scope["method"], scope["path"][:100])
                self.metrics.disconnected()
            else:
                self.metrics.observe_request(scope["path"], state["status"] or 500, time.perf_counter() - start)

    # ------------------------------------------------------------------ the checks
    async def _handle(self, scope, receive, send):
        method, path, headers = scope["method"], scope["path"], scope["headers"]
        has_te = bool(_header(headers, b"transfer-encoding"))
        lengths = _header(headers, b"content-length")
        has_body = has_te or any(v.strip() not in (b"0", b"") for v in lengths)
        try:
            if len(headers) > self.max_headers:
                raise ApiError(431, f"too many header fields: {len(headers)}; at most {self.max_headers}")
            size = sum(len(k) + len(v) + 4 for k, v in headers)
            if size > self.max_header_bytes:
                raise ApiError(431, f"the request headers are {size} bytes; at most {self.max_header_bytes}")
            if has_te and lengths:
                raise ApiError(400, "a request may not have both Transfer-Encoding and Content-Length "
                                    "(request smuggling risk)")
            if path == "*" and method == "OPTIONS":
                raise ApiError(204, "", {"allow": "GET, HEAD, POST, OPTIONS"})
            if path not in self.routes:
                also = f"; also {', '.join(self.others)}" if self.others else ""
                raise ApiError(404, f"unknown path {path[:80]!r}; the endpoints are {self.api_paths}{also}")
            allowed = self.routes[path]
            allow = "GET, HEAD, OPTIONS" if allowed == "GET" else f"{allowed}, OPTIONS"
            if method == "OPTIONS":
                raise ApiError(204, "", {"allow": allow})
            if method not in (allowed, "HEAD") or (method == "HEAD" and allowed != "GET"):
                raise ApiError(405, f"{method} is not allowed on {path}; use {allowed}", {"allow": allow})
            if allowed == "GET":
                if has_body:
                    raise ApiError(400, f"a {method} request must not have a body")
                # HEAD runs the GET endpoint; uvicorn (which keeps its own scope, method HEAD) drops the body
                await self.app(scope if method == "GET" else dict(scope, method="GET"), receive, send)
                return
            scope[BODY_KEY] = await self._read_json(scope, headers, receive)
        except ApiError as err:
            if err.status == 204:
                await send({"type": "http.response.start", "status": 204,
                            "headers": [(k.encode(), v.encode()) for k, v in err.headers.items()]})
                await send({"type": "http.response.body", "body": b""})
                return
            # the connection stays open only where the request was read to its end and nothing is suspect
            unread = has_body and BODY_KEY not in scope and not scope.get("nnlib.read")
            extra = dict(err.headers)
            if unread or err.status in (408, 411, 431) or (has_te and lengths):
                extra["connection"] = "close"
            drain = receive if unread and err.status != 408 else None
            await _respond(send, err.status, {"error": err.message}, extra, drain=drain)
            return
        raw = scope.pop("nnlib.raw")
        replayed = False

        async def receive_body():  # the app may read the body again: give it the bytes already read
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()
        await self.app(scope, receive_body, send)

    async def _read_json(self, scope, headers, receive):
        ctypes = _header(headers, b"content-type")
        if len(ctypes) > 1:
            raise ApiError(400, f"{len(ctypes)} Content-Type headers; send exactly one")
        ctype = b"".join(ctypes).decode("latin-1")
        media, _, params = ctype.partition(";")
        if media.strip().lower() != "application/json":
            raise ApiError(415, f"Content-Type must be application/json, got {ctype[:60] or 'nothing'!r}")
        charset = [p.split("=", 1)[1].strip().strip('"').lower() for p in params.split(";") if "=" in p
                   and p.split("=", 1)[0].strip().lower() == "charset"]
        if charset and charset[0] not in ("utf-8", "utf8"):
            raise ApiError(415, f"the body must be UTF-8 JSON, got charset {charset[0][:20]!r}")
        lengths = _header(headers, b"content-length")
        if not lengths:
            raise ApiError(411, "a Content-Length header is required")
        n = int(lengths[0].split(b",")[0])  # h11 has checked it: digits only, all copies equal
        if n > self.max_body_bytes:
            raise ApiError(413, f"the body is {n} bytes; at most {self.max_body_bytes} bytes are accepted")
        raw = await _read_body(receive, n, self.body_timeout)
        scope["nnlib.read"], scope["nnlib.raw"] = True, raw
        if len(raw) > 1 << 16:  # a big body is parsed in a worker thread, so the loop keeps serving
            return await asyncio.get_running_loop().run_in_executor(None, parse_json, raw)
        return parse_json(raw)


# ---------------------------------------------------------------------- helpers
async def _respond(send, status: int, payload: dict, headers: dict | None = None, drain=None) -> None:
    """Send ``payload`` as JSON. With ``drain`` (the ASGI receive), read and drop what the client still sends
    (at most 1 s, 64 MiB) before the connection closes, so it can read the answer instead of a reset."""
    data = json.dumps(payload, allow_nan=False).encode("utf-8")
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    hdrs += [(k.encode("latin-1"), str(v).encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    if drain is None:
        await send({"type": "http.response.body", "body": data})
        return
    await send({"type": "http.response.body", "body": data, "more_body": True})
    loop = asyncio.get_running_loop()
    deadline, left = loop.time() + 1.0, 64 << 20
    try:
        while left > 0:
            message = await _receive_by(drain, deadline)
            if message["type"] != "http.request":
                break
            left -= len(message.get("body", b""))
            if not message.get("more_body", False):
                break
    except (TimeoutError, asyncio.TimeoutError):
        pass
    await send({"type": "http.response.body", "body": b""})


async def _within(awaitable, seconds: float):
    loop = asyncio.get_running_loop()
    if hasattr(asyncio, "timeout_at"):
        async with asyncio.timeout_at(loop.time() + seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, seconds)


def _abort(receive) -> None:
    """Close the connection at once (uvicorn's request cycle holds the transport)."""
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()


async def _receive_by(receive, deadline: float):
    loop = asyncio.get_running_loop()
    if hasattr(asyncio, "timeout_at"):  # Python 3.11+: no extra task per call
        async with asyncio.timeout_at(deadline):
            return await receive()
    return await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))


async def _read_body(receive, n: int, timeout: float) -> bytes:
    """The request body (``n`` bytes, per Content-Length), or 408 if it does not arrive within ``timeout`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    chunks, got = [], 0
    while True:
        try:
            message = await _receive_by(receive, deadline)
        except (TimeoutError, asyncio.TimeoutError):
            raise ApiError(408, f"the body did not arrive within {timeout:g} s ({got} of {n} bytes)") from None
        if message["type"] == "http.disconnect":
            raise _Gone
        chunk = message.get("body", b"")
        chunks.append(chunk)
        got += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _client_gone(receive, body_read: bool) -> bool:
    """True if the client has closed the connection (asks the server once, without waiting).

    uvicorn's ``receive`` belongs to its request cycle, which knows; other servers are asked
    with one ``receive()`` call, but only once the body is read (never for an unread body:
    that would send ``100 Continue`` to a client we are about to refuse).
    """
    cycle = getattr(receive, "__self__", None)
    if isinstance(getattr(cycle, "disconnected", None), bool):
        return cycle.disconnected
    if not body_read:
        return False
    task = asyncio.ensure_future(receive())
    await asyncio.sleep(0)
    if task.done():
        return not task.cancelled() and task.exception() is None and task.result()["type"] == "http.disconnect"
    task.cancel()
    return False
