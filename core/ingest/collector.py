"""The HTTP collector Treblle SDKs post to: authenticate, validate, and store payloads in batched
commits, answering 2xx only once the row is committed (`python -m core collector`).

Hostile senders are bounded: each request must be read within a deadline (slow clients), connections
are capped, bodies over OFFLOAD_BYTES are decoded, normalised and enriched in a worker process (so
the event loop, and /health, never wait on one: core.ingest.bodies), and rejections are rate-limited
per source IP. The read deadline and the raw ASGI endpoint are in core.ingest.server."""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from dataclasses import dataclass

import orjson
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from core.domain import config
from core.domain.record import NormalizedRequest
from core.ingest.bodies import Body, process_body
from core.ingest.errors import DatabaseUnavailable, Rejected
from core.ingest.server import IngestEndpoint, server_options
from core.ingest.transport import inflated_over
from core.storage import models, store

log = logging.getLogger("clientele.collector")

RETRY_AFTER_SECONDS = 5
BATCH_MAX = 1000
# How long a small batch waits for company: a few ms of latency buys far fewer commits under load.
BATCH_LINGER_S = 0.002
# Beyond this many payloads waiting for a commit, answer 503 instead of queueing more memory.
PENDING_MAX = 20_000
REJECT_FLUSH_S = 0.05
REJECT_BATCH_MAX = 2000
# A flood of bad payloads is kept up to this many unsaved rejections; beyond it they are counted, not kept.
REJECT_BUFFER_MAX = 20_000
# Bodies larger than this (decompressed) are decoded, normalised and enriched in a worker process:
# below it the work is a few ms at most and a hop would cost more than it saves.
OFFLOAD_BYTES = 32 * 1024
# Large bodies waiting for the worker process; beyond this they are answered 503.
OFFLOAD_PENDING_MAX = 16
# Source IPs whose rejection rate is tracked at once; rejections from further ones are counted, not kept.
REJECT_TRACKED_IPS_MAX = 50_000
CREDENTIALS_MIN_REFRESH_S = 1.0
# Revoked tokens stop working within this many seconds even if no unknown token triggers a refresh.
CREDENTIALS_MAX_AGE_S = 10.0

# Errors meaning "the database is not reachable or not writable now", as opposed to a bad row.
_UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError, OSError)


@dataclass
class _Pending:
    api_id: int
    request: NormalizedRequest
    future: asyncio.Future


def _json(status: int, body: dict, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


class Collector:
    """State shared by the requests of one collector process: engine, credential cache, write queues."""

    def __init__(self, database_url: str | None = None):
        settings = config.settings()
        self.database_url = database_url or settings.database_url
        self.max_body_bytes = settings.max_body_bytes
        self.max_decompressed_bytes = settings.max_decompressed_bytes
        self.raw_limit = settings.rejected_raw_limit
        self.rejections_per_ip_per_minute = settings.rejected_per_ip_per_minute
        self.engine = models.make_engine(self.database_url)
        self._sqlite_path = self._sqlite_file(self.engine)
        self._sqlite_identity: tuple[int, int] | None = None
        self._schema_ready = False
        # One thread for request writes keeps SQLite to a single writer; rejections and reads get their own.
        self._write_pool = ThreadPoolExecutor(1, thread_name_prefix="collector-write")
        self._side_pool = ThreadPoolExecutor(2, thread_name_prefix="collector-side")
        # Large bodies: a process of their own, since CPU-bound Python (and orjson parsing a 2 MiB object
        # for 150 ms) holds the GIL and would stall the event loop even from a thread.
        self._body_pool: ProcessPoolExecutor | None = None
        self._bodies_offloaded = 0
        self._api_keys: dict[str, int] = {}
        self._tokens: dict[str, int] = {}
        self._credentials_loaded = float("-inf")
        self._credentials_attempted = float("-inf")
        self._credentials_lock: asyncio.Lock | None = None
        self._pending: list[_Pending] = []
        self._wake: asyncio.Event | None = None
        self._rejections: list[dict] = []
        self._rejections_dropped = 0
        # Per source IP: [tokens left, monotonic time of the last refill] (a token bucket per minute).
        self._reject_buckets: dict[str, list[float]] = {}
        self._rejections_limited = 0
        self._tasks: list[asyncio.Task] = []
        self._committing = False

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._credentials_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        try:
            await self._run(self._side_pool, self._ensure_schema)
            await self._refresh_credentials()
        except (DatabaseUnavailable, *_UNAVAILABLE, sa.exc.SQLAlchemyError) as exc:
            log.warning("database not available at start (%s); answering 503 until it is", _brief(exc))
        self._tasks = [asyncio.create_task(self._write_loop()), asyncio.create_task(self._reject_loop())]

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        # Let the writer finish what it holds, so every waiting request gets its answer.
        while (self._pending or self._committing) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pending:
            batch, self._pending = self._pending, []
            await self._commit(batch)
        if self._rejections:
            try:
                await self._run(self._side_pool, store.reject_many, self.engine, self._rejections)
            except Exception as exc:  # shutting down: report what is lost, do not hang
                log.warning("%d rejections not saved at shutdown (%s)", len(self._rejections), _brief(exc))
            self._rejections = []
        self._write_pool.shutdown(wait=True)
        self._side_pool.shutdown(wait=True)
        if self._body_pool is not None:
            self._body_pool.shutdown(wait=True, cancel_futures=True)
        self.engine.dispose()

    async def _run(self, pool: ThreadPoolExecutor, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    def _start_body_pool(self) -> ProcessPoolExecutor:
        """The worker process for large bodies, started with the first one (most deployments never see one)."""
        # spawn, not fork: forking a process that runs an event loop and threads copies their locks.
        self._body_pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        return self._body_pool

    # ------------------------------------------------------------ database reachability

    @staticmethod
    def _sqlite_file(engine: sa.Engine) -> str | None:
        if engine.dialect.name != "sqlite":
            return None
        path = engine.url.database
        return None if not path or path == ":memory:" else os.path.abspath(path)

    def _check_database_file(self) -> None:
        """SQLite: refuse to write when the database file is gone.

        Pooled connections keep a deleted or moved file open and would go on writing into it, so
        commits would succeed and the rows be lost; and a new connection would create an empty file.
        """
        if self._sqlite_path is None:
            return
        try:
            st = os.stat(self._sqlite_path)
        except OSError:
            raise DatabaseUnavailable(f"the SQLite database file {self._sqlite_path} is missing") from None
        identity = (st.st_dev, st.st_ino)
        if self._sqlite_identity is not None and identity != self._sqlite_identity:
            self.engine.dispose()  # connections to the old file must not be reused
        self._sqlite_identity = identity

    def _ensure_schema(self) -> None:
        """Create the tables on first contact (a fresh SQLite file included); later a missing file is an outage."""
        if self._schema_ready:
            return
        models.init_db(self.engine)
        self._check_database_file()
        self._schema_ready = True

    def _ping(self) -> None:
        self._ensure_schema()
        self._check_database_file()
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    async def health(self) -> Response:
        try:
            await self._run(self._side_pool, self._ping)
        except (DatabaseUnavailable, *_UNAVAILABLE, sa.exc.SQLAlchemyError) as exc:
            return _json(503, {"status": "unavailable", "error": f"database unavailable: {_brief(exc)}"}, {"Retry-After": str(RETRY_AFTER_SECONDS)})
        return _json(200, {"status": "ok"})

    # ------------------------------------------------------------ credentials

    def _load_credentials(self) -> tuple[dict[str, int], dict[str, int]]:
        self._ensure_schema()
        self._check_database_file()
        return store.api_keys(self.engine), store.valid_token_hashes(self.engine)

    async def _refresh_credentials(self) -> None:
        async with self._credentials_lock:
            now = time.monotonic()
            if now - self._credentials_attempted < CREDENTIALS_MIN_REFRESH_S:
                return  # another request refreshed a moment ago
            self._credentials_attempted = now
            try:
                self._api_keys, self._tokens = await self._run(self._side_pool, self._load_credentials)
            except (*_UNAVAILABLE, sa.exc.SQLAlchemyError) as exc:
                raise DatabaseUnavailable(f"database unavailable: {_brief(exc)}") from None
            self._credentials_loaded = now

    async def authenticate(self, api_key: str, token: str | None) -> int:
        """The API id the payload may write to, or Rejected(401)."""
        if time.monotonic() - self._credentials_loaded > CREDENTIALS_MAX_AGE_S:
            try:
                await self._refresh_credentials()
            except DatabaseUnavailable:
                if not self._api_keys:
                    raise
                # Keep serving with the last known credentials; the write will say if the DB is down.
        token_hash = store.token_hash(token) if token else None
        api_id = self._api_keys.get(api_key)
        token_api = self._tokens.get(token_hash) if token_hash else None
        if api_id is None or (token_hash and token_api != api_id):
            # Possibly an API or token created a moment ago: look again, at most once a second.
            await self._refresh_credentials()
            if self._credentials_loaded == float("-inf"):
                raise DatabaseUnavailable("database unavailable: API keys and SDK tokens could not be loaded yet")
            api_id = self._api_keys.get(api_key)
            token_api = self._tokens.get(token_hash) if token_hash else None
        if api_id is None:
            raise Rejected(401, "api_key: no API with this key; create it with `python -m core apis add NAME` and use its api_key", "api_key")
        if token_hash is None:
            raise Rejected(401, "x-api-key: missing SDK token; send the API's sdk_token in the x-api-key header", "x-api-key", api_id)
        if token_api is None:
            raise Rejected(401, "x-api-key: SDK token is not valid (unknown or revoked)", "x-api-key", api_id)
        if token_api != api_id:
            raise Rejected(401, "x-api-key: this SDK token belongs to another API", "x-api-key", api_id)
        return api_id

    # ------------------------------------------------------------ writes

    async def store_request(self, api_id: int, request: NormalizedRequest) -> int:
        """Queue one request for the next batched commit; returns its id once committed."""
        if len(self._pending) >= PENDING_MAX:
            raise DatabaseUnavailable("collector is overloaded: too many payloads waiting for the database")
        future = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(api_id, request, future))
        self._wake.set()
        return await future

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            if len(self._pending) < BATCH_MAX:
                await asyncio.sleep(BATCH_LINGER_S)
            batch, self._pending = self._pending[:BATCH_MAX], self._pending[BATCH_MAX:]
            if not self._pending:
                self._wake.clear()
            if batch:
                self._committing = True
                try:
                    await self._commit(batch)
                finally:
                    self._committing = False

    def _write(self, batch: list[_Pending]) -> list[int]:
        self._ensure_schema()
        self._check_database_file()
        return store.write_requests(self.engine, [(p.api_id, p.request) for p in batch])

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            ids = await self._run(self._write_pool, self._write, batch)
        except (DatabaseUnavailable, *_UNAVAILABLE) as exc:
            log.warning("database unavailable, %d payloads answered 503: %s", len(batch), _brief(exc))
            error = DatabaseUnavailable(f"database unavailable: {_brief(exc)}")
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(error)
            return
        except Exception as exc:  # one row the database refuses must not fail its whole batch
            if len(batch) > 1:
                for p in batch:
                    await self._commit([p])
                return
            log.warning("payload refused by the database: %s", _brief(exc))
            p = batch[0]
            if not p.future.done():
                p.future.set_exception(Rejected(422, f"data: the database refused this request ({_brief(exc)})", "data", p.api_id))
            return
        for p, rid in zip(batch, ids):
            if not p.future.done():
                p.future.set_result(rid)

    # ------------------------------------------------------------ rejections

    def reject(self, source: str, source_ip: str, exc: Rejected, raw: bytes, size: int) -> None:
        """Keep a rejection for the Data page, within a per-IP rate; beyond it the rejection is only counted.

        A 401 keeps no body: anyone can post to the collector, and an unauthenticated sender's data is
        neither ours to keep nor a way to fill the disk.
        """
        log.info("rejected %s: status %d, field %s, %d bytes", source, exc.status, exc.field or "-", size)
        if len(self._rejections) >= REJECT_BUFFER_MAX:
            self._rejections_dropped += 1
            return
        if not self._rejection_allowed(source_ip):
            self._rejections_limited += 1
            return
        self._rejections.append({
            "source": source, "source_ip": source_ip, "reason": exc.reason, "api_id": exc.api_id, "raw_size": size,
            "raw": None if exc.status == 401 else raw[: self.raw_limit],
        })

    def _rejection_allowed(self, source_ip: str) -> bool:
        """Token bucket: rejections_per_ip_per_minute kept per source IP per minute, refilled continuously."""
        capacity = float(self.rejections_per_ip_per_minute)
        now = time.monotonic()
        bucket = self._reject_buckets.get(source_ip)
        if bucket is None:
            if len(self._reject_buckets) >= REJECT_TRACKED_IPS_MAX:
                self._forget_full_buckets(now)
                if len(self._reject_buckets) >= REJECT_TRACKED_IPS_MAX:
                    return False
            bucket = self._reject_buckets[source_ip] = [capacity, now]
        tokens = min(capacity, bucket[0] + (now - bucket[1]) * capacity / 60.0)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True

    def _forget_full_buckets(self, now: float) -> None:
        """Drop the buckets that have refilled (idle for a minute): they hold no information."""
        self._reject_buckets = {ip: b for ip, b in self._reject_buckets.items() if now - b[1] < 60.0}

    async def _reject_loop(self) -> None:
        while True:
            await asyncio.sleep(REJECT_FLUSH_S)
            if self._rejections_dropped:
                log.warning("%d rejections not kept: more than %d waiting to be saved", self._rejections_dropped, REJECT_BUFFER_MAX)
                self._rejections_dropped = 0
            if self._rejections_limited:
                log.warning("%d rejections not kept: over %d per source IP per minute", self._rejections_limited, self.rejections_per_ip_per_minute)
                self._rejections_limited = 0
            if len(self._reject_buckets) > 1000:
                self._forget_full_buckets(time.monotonic())
            if not self._rejections:
                continue
            batch = self._rejections[:REJECT_BATCH_MAX]
            del self._rejections[:REJECT_BATCH_MAX]
            try:
                await self._run(self._side_pool, self._write_rejections, batch)
            except Exception as exc:  # keep them for the next attempt, within the buffer bound
                log.warning("could not save %d rejections, retrying: %s", len(batch), _brief(exc))
                self._rejections[:0] = batch[: max(REJECT_BUFFER_MAX - len(self._rejections), 0)]
                await asyncio.sleep(1.0)

    def _write_rejections(self, batch: list[dict]) -> None:
        self._ensure_schema()
        self._check_database_file()
        store.reject_many(self.engine, batch)

    # ------------------------------------------------------------ one payload

    async def _read_body(self, headers: dict[bytes, bytes], receive) -> bytes:
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise Rejected(413, f"body: {int(declared)} bytes is over the limit of {self.max_body_bytes} bytes", "body", raw=b"", size=int(declared))
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                # Content-Length was absent or lied: stop reading, keep the beginning for the record.
                raise Rejected(413, f"body: over the limit of {self.max_body_bytes} bytes", "body", raw=b"".join(chunks)[: self.raw_limit], size=size)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _process(self, raw: bytes, encoding: str | None, received_at) -> Body:
        if not inflated_over(raw, encoding, OFFLOAD_BYTES):
            return process_body(raw, encoding, self.max_decompressed_bytes, received_at)
        if self._bodies_offloaded >= OFFLOAD_PENDING_MAX:
            raise DatabaseUnavailable("collector is overloaded: too many large payloads waiting to be processed")
        self._bodies_offloaded += 1
        try:
            pool = self._body_pool or self._start_body_pool()
            return await asyncio.wrap_future(pool.submit(process_body, raw, encoding, self.max_decompressed_bytes, received_at))
        except BrokenProcessPool:
            log.warning("the worker process for large payloads died; starting a new one")
            self._body_pool = None
            raise DatabaseUnavailable("collector is overloaded: the worker for large payloads restarted") from None
        finally:
            self._bodies_offloaded -= 1

    async def ingest(self, scope, receive) -> tuple[int, dict, dict | None] | None:
        """One POSTed payload → (status, JSON body, extra headers) of the reply; None if the client left."""
        headers = dict(scope["headers"])  # ASGI gives header names in lower case
        client = scope["client"][0] if scope.get("client") else "unknown"
        source = f"collector {client} {scope['path'][:100]}"
        try:
            raw = await self._read_body(headers, receive)
            received_at = models.utcnow()  # the truth about when the request happened (normalize's clock rule)
        except ClientDisconnect:
            return None
        except Rejected as exc:
            self.reject(source, client, exc, exc.raw or b"", exc.size or 0)
            return exc.status, {"error": exc.reason}, None
        body = None
        try:
            encoding = headers.get(b"content-encoding")
            body = await self._process(raw, encoding.decode("latin-1") if encoding else None, received_at)
            if body.error is not None and body.api_key is None:
                raise Rejected(*body.error)
            header_token = headers.get(b"x-api-key")
            api_id = await self.authenticate(body.api_key, header_token.decode("latin-1") if header_token else body.token)
            if body.error is not None:
                raise Rejected(*body.error, api_id)
            request_id = await self.store_request(api_id, body.request)
        except Rejected as exc:
            readable = body.readable if body is not None and body.readable is not None else raw
            self.reject(source, client, exc, readable, len(raw))
            return exc.status, {"error": exc.reason}, None
        except DatabaseUnavailable as exc:
            return 503, {"error": str(exc)}, {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return 200, {"status": "stored", "id": request_id}, None


def _brief(exc: BaseException) -> str:
    """One line about an error for logs and replies: no SQL, no parameters (they hold payload data)."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None:
        text = str(exc.orig)
    else:
        text = str(exc) or type(exc).__name__
    return text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__


def create_app(database_url: str | None = None) -> Starlette:
    """The collector as an ASGI app; DATABASE_URL (or settings) when no URL is given."""
    collector = Collector(database_url)

    async def health(request: Request) -> Response:
        return await collector.health()

    @asynccontextmanager
    async def lifespan(app):
        await collector.start()
        try:
            yield
        finally:
            await collector.stop()

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET", "HEAD"]),
            Route("/{path:path}", IngestEndpoint(collector.ingest)),  # every method: non-POST gets a JSON 405
        ],
        lifespan=lifespan,
    )
    app.state.collector = collector
    return app


def main(args) -> int:
    """`python -m core collector [--host H] [--port P] [--workers N]`."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    workers = max(int(getattr(args, "workers", 1) or 1), 1)
    try:
        options = dict(host=args.host, port=args.port, access_log=False, log_level="info", timeout_graceful_shutdown=10, **server_options())
        if workers > 1:
            # Each worker process builds its own app (and writer) from DATABASE_URL.
            uvicorn.run("core.ingest.collector:create_app", factory=True, workers=workers, **options)
        else:
            uvicorn.run(create_app(), **options)
    except config.ConfigError as exc:
        print(f"error: {exc}")
        return 2
    return 0
