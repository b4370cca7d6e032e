"""The collector's HTTP surface below the Collector: the raw ASGI endpoint for payload POSTs, and the
uvicorn settings that bound slow and numerous clients (a read deadline per request, a connection cap)."""
from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from core.domain import config

# One POST → (status, JSON body, extra headers) of the reply, or None when the client left: Collector.ingest.
Ingest = Callable[..., Awaitable[tuple[int, dict, dict | None] | None]]


class IngestEndpoint:
    """Raw ASGI endpoint for the payload POSTs: the hot path skips Starlette's Request and Response
    objects, about a sixth of the collector's own CPU per payload."""

    def __init__(self, ingest: Ingest):
        self.ingest = ingest

    async def __call__(self, scope, receive, send) -> None:
        if scope["method"] != "POST":
            reply = (405, {"error": "send Treblle payloads with POST"}, {"Allow": "POST"})
        else:
            reply = await self.ingest(scope, receive)
            if reply is None:
                return
        status, body, extra = reply
        data = orjson.dumps(body)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        if extra:
            headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})


@functools.cache
def _read_timeout_s() -> float:
    """CLIENTELE_COLLECTOR_READ_TIMEOUT_S, read once per process (a connection must not re-read settings)."""
    return config.settings().collector_read_timeout_s


_REQUEST_TIMEOUT_REPLY = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class ReadDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol with a deadline on reading each request: its headers and body must arrive
    within the read timeout of its first byte (or of the connection, when nothing comes), else 408 and
    the connection is closed. uvicorn has no such timeout: a client that sends half a request and waits
    holds its connection, and a slot of limit_concurrency, forever (slowloris)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._read_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
        self._read_deadline = self.loop.call_later(_read_timeout_s(), self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_message_complete(self) -> None:
        self._disarm()  # the request is read: the app's own time is not limited here
        super().on_message_complete()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        # Not while an earlier (pipelined) request's response is being written: it would be cut in two.
        if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
            self.transport.write(_REQUEST_TIMEOUT_REPLY)
        self.transport.close()  # a request being read sees a disconnect


def server_options() -> dict:
    """uvicorn settings that bound slow and numerous clients (used by the collector's main and by the tests)."""
    return {"http": ReadDeadlineProtocol, "limit_concurrency": config.settings().collector_max_connections}
