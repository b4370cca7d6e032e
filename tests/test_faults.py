"""Faults: the collector killed with SIGKILL in the middle of a load run loses no acknowledged payload and
stores none twice after a restart; the app shows an error page, not a traceback, when the database is
unreachable. (Database down → 503 + Retry-After and recovery: tests/test_collector.py.)"""
from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from core.storage import store
from core.storage.models import Request
from tests.apptest_helpers import new_app, set_app_env
from tests.conftest import fixture_payload

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "test-sdk-token"
API_KEY = "test-api-key"
PAYLOADS = 400
SENDERS = 8
KILL_AFTER_ACKS = 150


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_collector(db_url: str, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": db_url}
    with open(log, "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "core", "collector", "--host", "127.0.0.1", "--port", str(port)],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-2000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError("the collector did not become healthy:\n" + log.read_text()[-2000:])


def _bodies() -> list[bytes]:
    """PAYLOADS distinct payloads; payload i belongs to customer fault_i, its unique marker."""
    template = fixture_payload("django-02-post-json-user-id-and-metadata.json")
    bodies = []
    for i in range(PAYLOADS):
        payload = copy.deepcopy(template)
        headers = payload["data"]["request"]["headers"]
        headers.pop("treblle-metadata")
        headers["treblle-user-id"] = f"fault_{i}"
        bodies.append(json.dumps(payload).encode())
    return bodies


class _LoadRun:
    """Senders share one queue of payloads; each payload is sent once (an SDK does not retry), and a
    sender that loses its connection waits until the collector is back before taking the next one."""

    def __init__(self, url: str):
        self.url = url
        self.bodies = _bodies()
        self.next = 0
        self.lock = threading.Lock()
        self.acked: dict[int, int] = {}  # payload index -> request id in the 2xx reply
        self.unanswered: list[int] = []
        self.up = threading.Event()
        self.up.set()
        self.acked_before_kill: int | None = None

    def take(self) -> int | None:
        with self.lock:
            if self.next >= len(self.bodies):
                return None
            self.next += 1
            return self.next - 1

    def sender(self) -> None:
        with httpx.Client(timeout=30) as client:
            while (i := self.take()) is not None:
                self.up.wait(120)
                try:
                    reply = client.post(self.url, content=self.bodies[i], headers={"Content-Type": "application/json", "x-api-key": TOKEN})
                except httpx.HTTPError:
                    with self.lock:
                        self.unanswered.append(i)
                    self.up.wait(120)
                    continue
                with self.lock:
                    if 200 <= reply.status_code < 300:
                        self.acked[i] = reply.json()["id"]
                    else:
                        self.unanswered.append(i)


@pytest.fixture
def killed_run(db_url, engine, tmp_path):
    """A load run whose collector is killed -9 after KILL_AFTER_ACKS acknowledgements, then restarted."""
    store.create_api(engine, "Shop", api_key=API_KEY, sdk_token=TOKEN)
    port, log = _free_port(), tmp_path / "collector.log"
    process = _start_collector(db_url, port, log)
    run = _LoadRun(f"http://127.0.0.1:{port}/")
    senders = [threading.Thread(target=run.sender) for _ in range(SENDERS)]
    try:
        for t in senders:
            t.start()
        deadline = time.monotonic() + 120
        while len(run.acked) < KILL_AFTER_ACKS and time.monotonic() < deadline:
            time.sleep(0.001)
        run.up.clear()
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
        run.acked_before_kill = len(run.acked)
        process = _start_collector(db_url, port, log)
        run.up.set()
        for t in senders:
            t.join(180)
    finally:
        run.up.set()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    return run


def _stored(engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(Request.id, Request.customer_id).order_by(Request.id))]


def test_the_load_run_really_was_cut_in_the_middle(killed_run):
    # Acknowledgements both before the kill and from the restarted collector.
    assert KILL_AFTER_ACKS <= killed_run.acked_before_kill < len(killed_run.acked)


def test_every_acknowledged_payload_survives_a_kill_9(killed_run, engine):
    stored = dict((customer, rid) for rid, customer in _stored(engine))
    missing = {i: rid for i, rid in killed_run.acked.items() if stored.get(f"fault_{i}") != rid}
    assert missing == {}


def test_no_payload_is_stored_twice_after_a_kill_9(killed_run, engine):
    customers = [customer for _rid, customer in _stored(engine)]
    assert len(customers) == len(set(customers))


def test_only_payloads_that_were_sent_are_stored(killed_run, engine):
    # At most the payloads in flight at the kill are stored without an acknowledgement.
    sent = {f"fault_{i}" for i in [*killed_run.acked, *killed_run.unanswered]}
    stored = {customer for _rid, customer in _stored(engine)}
    assert stored <= sent and len(stored - {f"fault_{i}" for i in killed_run.acked}) <= SENDERS


# ---------------------------------------------------------------- the app without its database


def test_the_app_shows_an_error_page_when_the_database_is_unreachable(monkeypatch):
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    set_app_env(monkeypatch, "postgresql+psycopg://clientele@127.0.0.1:1/clientele?connect_timeout=2")
    at = new_app().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("database is unreachable" in e.value for e in at.error), [e.value for e in at.error]


def test_the_error_page_does_not_reveal_the_database_password(monkeypatch):
    set_app_env(monkeypatch, "postgresql+psycopg://clientele:s3cret-pw@127.0.0.1:1/clientele?connect_timeout=2")
    at = new_app().run()
    shown = " ".join(e.value for e in at.error) + " ".join(str(m.value) for m in at.markdown)
    assert "s3cret-pw" not in shown and "database is unreachable" in shown
