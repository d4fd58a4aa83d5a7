"""HTTP/1.1 for the gateway: an asyncio protocol on httptools that writes each response in one call.

Why not uvicorn's ASGI cycle on the request path: on this 2-core machine uvicorn spent ~70 µs of
CPU per small request (scope and message dicts, a receive/send pair, two socket writes per
response) while the prediction itself, batched 32 rows at a time, costs ~40 µs per row; a bare
httptools protocol answers in ~7 µs. This protocol hands the gateway ``(method, path, query,
headers, body)`` and writes ``status line + headers + body`` with a single ``transport.write``.

What it does that a client may rely on: keep-alive (HTTP/1.1 default, ``Connection: close``
honoured, HTTP/1.0 closes unless asked to keep alive); pipelined requests answered in order
(reading pauses when ``MAX_PIPELINE`` wait on one connection or the peer stops reading);
``Expect: 100-continue``; chunked request bodies; the body-size limit enforced while reading
(a declared ``Content-Length`` over the limit is answered 413 before the body is read, and the
connection is closed); malformed HTTP answered 400 JSON and closed; ``TCP_NODELAY`` on every
connection (without it small responses wait ~40 ms for the peer's delayed ACK); idle keep-alive
connections closed by the server's sweep (``idle_for``). The request head is bounded: a target
over ``MAX_URL`` bytes is answered 414, more than ``MAX_HEADERS`` header lines or a head over
``MAX_HEAD`` bytes 431 (JSON, then the connection closes), so a client cannot make the parser
(which buffers a header value until its end) hold unbounded memory.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote_to_bytes

import httptools
import orjson

log = logging.getLogger("shipyard.serving")

# handle(method, path, query, headers, body-or-error) -> (status, headers, body)
Handler = Callable[[str, str, bytes, dict[bytes, bytes], "bytes | Exception"],
                   Awaitable[tuple[int, list[tuple[bytes, bytes]], bytes]]]
TooLarge = Callable[[int | None], Exception]

STATUS_LINES = {s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in HTTPStatus}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
CLOSE = b"connection: close\r\n"
MAX_PIPELINE = 16
MAX_URL = 8 * 1024  # bytes of the request target
MAX_HEAD = 64 * 1024  # bytes of the request line and headers together
MAX_HEADERS = 100  # header lines
METHODS = {m: m.decode() for m in (b"GET", b"POST", b"PUT", b"PATCH", b"DELETE", b"HEAD", b"OPTIONS")}


def encode(status: int, headers: list[tuple[bytes, bytes]], body: bytes, keep_alive: bool) -> bytes:
    parts = [STATUS_LINES.get(status) or b"HTTP/1.1 %d Status\r\n" % status]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    if not keep_alive:
        parts.append(CLOSE)
    parts += (b"\r\n", body)
    return b"".join(parts)


def split_target(url: bytes) -> tuple[str, bytes]:
    """Request target -> (percent-decoded path, raw query)."""
    if not url.startswith(b"/"):  # absolute-form (a proxy-style request) or '*'
        parsed = httptools.parse_url(url)
        path, query = parsed.path or b"/", parsed.query or b""
    else:
        path, _, query = url.partition(b"?")
    if b"%" in path:
        path = unquote_to_bytes(path)
    return path.decode("utf-8", "replace"), query


class HttpProtocol(asyncio.Protocol):
    """One client connection. ``connections`` is the server's registry (for the idle sweep and shutdown)."""

    def __init__(self, handle: Handler, too_large: TooLarge, max_body: int, connections: set[HttpProtocol],
                 loop: asyncio.AbstractEventLoop) -> None:
        self.handle, self.too_large, self.max_body = handle, too_large, max_body
        self.connections, self.loop = connections, loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.pending: deque[tuple[str, bytes, dict[bytes, bytes], bytes | Exception, bool]] = deque()
        self.busy = self.closing = self.read_paused = self.write_paused = self.discard = False
        self.last_active = loop.time()
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._error: Exception | None = None
        self._resume_writing: asyncio.Future[None] | None = None
        self._final: bytes | None = None  # a 400 owed after the pipelined responses ahead of it
        self.reading_since: float | None = None  # when the request being read began
        self._in_head = False  # between a message's first byte and the end of its headers
        self._messages = 0  # messages begun on this connection
        self._head_size = 0  # bytes of whole chunks received while one head was incomplete (the parser buffers them)
        self._fields_size = 0  # bytes of the header fields parsed so far
        self._n_headers = 0

    # -- transport callbacks ---------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        self.transport = None
        self.pending.clear()
        if self._resume_writing is not None and not self._resume_writing.done():
            self._resume_writing.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self.discard:
            return
        self.last_active = self.loop.time()
        began, in_head = self._messages, self._in_head
        try:
            self.parser.feed_data(data)
            if in_head and self._in_head and began == self._messages:  # the whole chunk was one head's
                self._head_size += len(data)  # the parser buffers an unfinished header: bound it
                if self._head_size > MAX_HEAD:
                    self._head_too_large()
        except httptools.HttpParserUpgrade:  # WebSocket / h2c: not spoken here; the request is answered as HTTP/1.1
            pass
        except httptools.HttpParserError as exc:  # includes a callback's _TooLarge (already answered)
            self._fail(400, f"malformed HTTP request: {exc}")

    def pause_writing(self) -> None:
        self.write_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self._resume_writing is not None and not self._resume_writing.done():
            self._resume_writing.set_result(None)
        if len(self.pending) < MAX_PIPELINE:
            self._resume_reading()

    # -- httptools callbacks -----------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url, self._headers, self._body, self._size, self._error = b"", {}, [], 0, None
        self.reading_since = self.loop.time()
        self._in_head, self._head_size, self._fields_size, self._n_headers = True, 0, 0, 0
        self._messages += 1

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_URL:
            self._fail(414, f"request target longer than {MAX_URL} bytes; expected at most {MAX_URL} bytes")
            raise _TooLarge  # stops the parser (it raises HttpParserCallbackError, ignored once answered)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._n_headers += 1
        self._fields_size += len(name) + len(value) + 4
        if self._n_headers > MAX_HEADERS:
            self._fail(431, f"more than {MAX_HEADERS} header fields; expected at most {MAX_HEADERS}")
            raise _TooLarge
        if self._fields_size + len(self._url) > MAX_HEAD:
            self._head_too_large()
            raise _TooLarge
        name = name.lower()
        seen = self._headers.get(name)
        self._headers[name] = value if seen is None else seen + b", " + value

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self.discard:
            return
        declared = self._headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            # Answer now, never read the body: the connection closes after the 413.
            self._error = self.too_large(int(declared))
            self.discard = True
            self._enqueue(False)
            return
        if (self._headers.get(b"expect", b"").lower() == b"100-continue" and not self.busy
                and self.transport is not None):
            self.transport.write(CONTINUE)

    def on_body(self, chunk: bytes) -> None:
        if self._error is not None:
            return
        self._size += len(chunk)
        if self._size > self.max_body:  # chunked or lying Content-Length: stop keeping it, answer at the end
            self._error, self._body = self.too_large(None), []
            return
        self._body.append(chunk)

    def on_message_complete(self) -> None:
        self.reading_since = None
        if self.discard:  # already answered from on_headers_complete
            return
        self._enqueue(self._error is None and self.parser.should_keep_alive())

    # -- requests ------------------------------------------------------------------------------
    def _enqueue(self, keep_alive: bool) -> None:
        method = self.parser.get_method()
        body: bytes | Exception
        if self._error is not None:
            body = self._error
        else:
            body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self.pending.append((METHODS.get(method) or method.decode("latin-1"), self._url, self._headers, body,
                             keep_alive))
        if len(self.pending) >= MAX_PIPELINE:
            self._pause_reading()
        if not self.busy:
            self._next()

    def _next(self) -> None:
        if not self.pending or self.transport is None:
            self.busy = False
            if self._final is not None and self.transport is not None:
                self.transport.write(self._final)
                self.closing = True
            if self.closing and self.transport is not None:
                self.transport.close()
            return
        self.busy = True
        task = self.loop.create_task(self._respond(*self.pending.popleft()))
        task.add_done_callback(_report)
        if self.read_paused and not self.write_paused and len(self.pending) < MAX_PIPELINE:
            self._resume_reading()

    async def _respond(self, method: str, url: bytes, headers: dict[bytes, bytes], body: bytes | Exception,
                       keep_alive: bool) -> None:
        try:
            path, query = split_target(url)
            status, out_headers, payload = await self.handle(method, path, query, headers, body)
        except Exception as exc:  # the handler answers every error itself; this is a last resort
            log.exception("request %s %r failed outside the gateway's error handling", method, url)
            status, out_headers = 500, [(b"content-type", b"application/json")]
            payload = orjson.dumps({"error": f"internal error: {type(exc).__name__}"})
            out_headers.append((b"content-length", str(len(payload)).encode()))
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        keep_alive = keep_alive and not self.closing
        transport.write(encode(status, out_headers, payload, keep_alive))
        self.last_active = self.loop.time()
        if not keep_alive:
            self.closing = True
            self.pending.clear()
            transport.close()
            return
        if self.write_paused:  # the peer is not reading: wait before answering its next request
            self._resume_writing = self.loop.create_future()
            await self._resume_writing
            self._resume_writing = None
        self._next()

    def _fail(self, status: int, message: str) -> None:
        """A request we cannot parse (400) or that never arrives (408): answer JSON (after any responses
        still owed) and close."""
        if self.transport is None or self.discard:
            return  # already answered (a 413 or a head too large): the connection is closing
        self.discard = True
        self._in_head = False
        body = orjson.dumps({"error": message})
        data = encode(status, [(b"content-type", b"application/json"),
                               (b"content-length", str(len(body)).encode())], body, False)
        if self.busy:  # requests parsed before the bad one are answered first
            self._final = data
            return
        self.transport.write(data)
        self.transport.close()

    def _head_too_large(self) -> None:
        self._fail(431, f"request head larger than {MAX_HEAD} bytes; expected at most {MAX_HEAD} bytes of request "
                        "line and headers")

    def _pause_reading(self) -> None:
        if not self.read_paused and self.transport is not None:
            self.read_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.read_paused and self.transport is not None:
            self.read_paused = False
            self.transport.resume_reading()

    # -- server-side control --------------------------------------------------------------------
    def idle_for(self, now: float) -> float:
        return 0.0 if self.busy or self.pending or self.reading_since is not None else now - self.last_active

    def stalled_for(self, now: float) -> float:
        """How long the request being read has been incomplete (0 when none is)."""
        return 0.0 if self.reading_since is None or self.discard else now - self.reading_since

    def time_out(self, seconds: float) -> None:
        self.reading_since = None
        self._fail(408, f"request not received within {seconds:g} s; expected the whole request head and body")

    def shutdown(self) -> None:
        """Close now if idle, else after the response in progress."""
        self.closing = True
        if not self.busy and self.transport is not None:
            self.transport.close()


class _TooLarge(Exception):
    """Raised from a parser callback after the 414/431 answer: stops parsing the rest."""


def _report(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("response task failed", exc_info=task.exception())
