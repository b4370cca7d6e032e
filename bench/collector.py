"""Collector throughput: real Treblle payloads posted over loopback HTTP by concurrent senders.

`python -m bench.collector [--senders 1,8,64] [--payloads N] [--database-url URL]` starts the collector in a
subprocess on a fresh temporary SQLite database (or a throw-away schema of the given PostgreSQL), and prints
payloads/s, latency, the collector's CPU per payload and lost rows.
"""
from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

from core.storage import models, store
from core.storage.models import Request

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "treblle-payloads"


@dataclass
class Result:
    senders: int
    sent: int = 0
    acknowledged: list[int] = field(default_factory=list)
    failures: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    lost: int = 0
    collector_cpu_s: float | None = None

    @property
    def cpu_us_per_payload(self) -> float | None:
        if self.collector_cpu_s is None or not self.acknowledged:
            return None
        return self.collector_cpu_s / len(self.acknowledged) * 1e6

    @property
    def rate(self) -> float:
        return len(self.acknowledged) / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_bodies(api_key: str, sdk_token: str, count: int, seed: int = 11) -> list[tuple[bytes, dict]]:
    """`count` distinct (body, headers) pairs from the captured payloads, with varied customers.

    Customers follow a skewed distribution, as real traffic does; a third of the bodies are gzipped
    like the Django SDK sends them.
    """
    rng = random.Random(seed)
    templates = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json")) if not p.name.startswith("_")]
    if not templates:
        raise SystemExit(f"No payload fixtures found in {FIXTURES}.")
    bodies = []
    for i in range(count):
        payload = json.loads(json.dumps(rng.choice(templates)))
        payload["project_id"], payload["api_key"] = api_key, sdk_token
        customer = f"cust_{int(rng.paretovariate(1.2)) % 500}"
        headers = payload["data"]["request"]["headers"]
        headers.pop("treblle-metadata", None)
        headers["treblle-user-id"] = customer
        if i % 4 == 0:
            headers["treblle-metadata"] = json.dumps({"user-id": customer, "Plan": rng.choice(["Free", "Pro", "Enterprise"])})
        payload["data"]["request"]["timestamp"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - rng.randint(0, 86_400)))
        payload["data"]["response"]["load_time"] = round(rng.uniform(0.1, 400.0), 2)
        raw = json.dumps(payload).encode()
        http_headers = {"Content-Type": "application/json", "x-api-key": sdk_token}
        if i % 3 == 0:
            raw = gzip.compress(raw, compresslevel=5)
            http_headers["Content-Encoding"] = "gzip"
        bodies.append((raw, http_headers))
    return bodies


class _Sender:
    """Shared bookkeeping of one concurrency level: which payload is next, and what came back."""

    def __init__(self, bodies: list[tuple[bytes, dict]], senders: int, payloads: int, time_limit_s: float):
        self.bodies = bodies
        self.payloads = payloads
        self.result = Result(senders)
        self.next_index = 0
        self.deadline = time.perf_counter() + time_limit_s

    def take(self) -> int | None:
        if self.next_index >= self.payloads or time.perf_counter() >= self.deadline:
            return None
        index, self.next_index = self.next_index, self.next_index + 1
        self.result.sent += 1
        return index % len(self.bodies)

    def record(self, started: float, status: int, body: bytes) -> None:
        self.result.latencies_ms.append((time.perf_counter() - started) * 1000)
        if 200 <= status < 300:
            self.result.acknowledged.append(json.loads(body)["id"])
        else:
            self.result.failures[status] = self.result.failures.get(status, 0) + 1

    def failed(self) -> None:
        self.result.failures[0] = self.result.failures.get(0, 0) + 1


async def _httpx_sender(state: _Sender, url: str) -> None:
    # One client (one keep-alive connection) per sender, as each SDK process has: httpcore's shared
    # pool costs O(connections) per request and would measure the client instead of the collector.
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=1), timeout=30.0) as client:
        while (index := state.take()) is not None:
            body, headers = state.bodies[index]
            started = time.perf_counter()
            try:
                response = await client.post(url, content=body, headers=headers)
            except httpx.HTTPError:
                state.failed()
                continue
            state.record(started, response.status_code, response.content)


async def _raw_sender(state: _Sender, host: str, port: int, requests: list[bytes]) -> None:
    """HTTP/1.1 keep-alive over a plain asyncio stream: about 30 µs of client CPU per request where
    httpx spends about 1 ms, which on two cores would leave the collector too little CPU to measure."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (index := state.take()) is not None:
            started = time.perf_counter()
            try:
                writer.write(requests[index])
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                state.failed()
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            state.record(started, status, body)
    finally:
        writer.close()


def _wire_requests(bodies: list[tuple[bytes, dict]], host: str, port: int) -> list[bytes]:
    out = []
    for body, headers in bodies:
        lines = [b"POST / HTTP/1.1", f"Host: {host}:{port}".encode()]
        lines += [f"{k}: {v}".encode() for k, v in headers.items()]
        lines.append(f"Content-Length: {len(body)}".encode())
        out.append(b"\r\n".join(lines) + b"\r\n\r\n" + body)
    return out


async def _send(base_url: str, bodies: list[tuple[bytes, dict]], senders: int, payloads: int, time_limit_s: float, client: str) -> Result:
    state = _Sender(bodies, senders, payloads, time_limit_s)
    started = time.perf_counter()
    if client == "httpx":
        await asyncio.gather(*(_httpx_sender(state, base_url) for _ in range(senders)))
    else:
        parts = httpx.URL(base_url)
        requests = _wire_requests(bodies, parts.host, parts.port)
        await asyncio.gather(*(_raw_sender(state, parts.host, parts.port, requests) for _ in range(senders)))
    state.result.elapsed_s = time.perf_counter() - started
    return state.result


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) of a process and its direct children (uvicorn workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total, found = 0.0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / tick
            found = True
    return total if found else None


def _stored_ids(engine: sa.Engine, api_id: int) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(Request.id).where(Request.api_id == api_id)).scalars())


def _wait_healthy(url: str, process: subprocess.Popen, log_path: Path, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"The collector exited with code {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(url + "health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"The collector did not become healthy within {timeout_s:.0f} s:\n{log_path.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def _scratch_database(database_url: str | None, workdir: Path):
    """A URL of an empty database: a temporary SQLite file, or a throw-away schema in the given PostgreSQL."""
    if database_url is None:
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    parsed = sa.engine.make_url(database_url)
    if not parsed.drivername.startswith("postgresql"):
        yield database_url
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(parsed)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def run(senders: list[int], payloads: int, database_url: str | None, workers: int, time_limit_s: float, client: str = "raw") -> list[Result]:
    workdir = Path(tempfile.mkdtemp(prefix="clientele-bench-"))
    try:
        with _scratch_database(database_url, workdir) as url:
            return _run(url, workdir, senders, payloads, workers, time_limit_s, client)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(url: str, workdir: Path, senders: list[int], payloads: int, workers: int, time_limit_s: float, client: str) -> list[Result]:
    engine = models.make_engine(url)
    models.init_db(engine)
    api = store.create_api(engine, f"bench-{uuid.uuid4().hex[:8]}")
    bodies = build_bodies(api["api_key"], api["sdk_token"], 2000)
    port = _free_port()
    log_path = workdir / "collector.log"
    env = {**os.environ, "DATABASE_URL": url}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "core", "collector", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    results = []
    try:
        base = f"http://127.0.0.1:{port}/"
        _wait_healthy(base, process, log_path)
        for count in senders:
            cpu_before = _cpu_seconds(process.pid)
            result = asyncio.run(_send(base, bodies, count, payloads, time_limit_s, client))
            cpu_after = _cpu_seconds(process.pid)
            if cpu_before is not None and cpu_after is not None:
                result.collector_cpu_s = cpu_after - cpu_before
            result.lost = len(set(result.acknowledged) - _stored_ids(engine, api["api_id"]))
            results.append(result)
            _print_row(result)
    finally:
        _stop(process)
        engine.dispose()
    return results


def _print_header(payloads: int, url: str) -> None:
    print(f"collector benchmark: {payloads} payloads per level, database {url}")
    print(f"{'senders':>8}  {'throughput':>22}  {'p50 ms':>8}  {'p99 ms':>8}  {'CPU µs/payload':>14}  {'errors':>8}  lost")


def _print_row(r: Result) -> None:
    errors = sum(r.failures.values())
    detail = ""
    if errors:
        detail = "  (" + ", ".join(f"{k or 'connection'}: {v}" for k, v in sorted(r.failures.items())) + ")"
    cpu = f"{r.cpu_us_per_payload:.0f}" if r.cpu_us_per_payload is not None else "n/a"
    print(
        f"{r.senders:>8}  {r.rate:>10.0f} payloads/s  {r.percentile(0.5):>8.2f}  {r.percentile(0.99):>8.2f}  "
        f"{cpu:>14}  {errors:>8}  lost: {r.lost}{detail}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.collector", description=__doc__.splitlines()[0])
    parser.add_argument("--senders", default="1,8,64", help="comma-separated concurrency levels")
    parser.add_argument("--payloads", type=int, default=10_000, help="payloads sent at each level")
    parser.add_argument("--database-url", default=None, help="default: a fresh temporary SQLite file")
    parser.add_argument("--workers", type=int, default=1, help="collector worker processes")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds at most per level")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw", help="raw asyncio HTTP/1.1 (cheap) or httpx")
    args = parser.parse_args(argv)
    try:
        senders = [int(s) for s in args.senders.split(",") if s.strip()]
    except ValueError:
        parser.error("--senders takes whole numbers separated by commas, e.g. 1,8,64")
    if not senders or min(senders) < 1 or args.payloads < 1:
        parser.error("--senders and --payloads must be at least 1")
    shown = sa.engine.make_url(args.database_url).render_as_string(hide_password=True) if args.database_url else "temporary SQLite"
    _print_header(args.payloads, shown)
    results = run(senders, args.payloads, args.database_url, args.workers, args.time_limit, args.client)
    return 1 if any(r.lost for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
