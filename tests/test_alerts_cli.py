"""`python -m core alerts …` and `python -m core worker`, run as the operator runs them, delivering to a
real local HTTP receiver."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.storage import store
from tests.factories import make_request
from tests.receivers import Receiver

pytestmark = pytest.mark.slow  # every test starts the command line in a subprocess

ROOT = Path(__file__).resolve().parent.parent
T = dt.datetime(2026, 11, 25, 12, 10, tzinfo=dt.timezone.utc)


def cli(db_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": db_url, "CLIENTELE_BASE_URL": "https://clientele.example.com"}
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)


@pytest.fixture
def shop(engine, db_url) -> int:
    api = store.create_api(engine, "Shop")["api_id"]
    store.write_requests(engine, [(api, make_request(customer_id="cust_a", timestamp=T - dt.timedelta(minutes=m),
                                                      status=500 if m < 3 else 200)) for m in (1, 2, 4, 5)])
    return api


def add(db_url: str, *extra: str) -> subprocess.CompletedProcess:
    return cli(db_url, "alerts", "add", "--name", "Errors", "--api", "Shop", "--metric", "error_rate", "--window", "15m",
               *extra)


def test_alerts_add_run_list_and_remove(db_url, shop):
    with Receiver() as hook:
        done = add(db_url, "--customer", "cust_a", "--above", "25", "--notify", hook.url, "--json")
        assert done.returncode == 0, done.stderr
        rule = json.loads(done.stdout)
        assert (rule["api_id"], rule["customer_id"], rule["threshold"], rule["notify"]) == (shop, "cust_a", 25.0, [hook.url])
        for minute in (10, 11, 12):
            ran = cli(db_url, "alerts", "run", "--now", f"2026-11-25T12:{minute}:00Z", "--json")
            assert ran.returncode == 0, ran.stderr
    assert [b["state"] for b in hook.bodies] == ["firing"]
    assert hook.bodies[0]["value"] == 50.0
    assert hook.bodies[0]["link"] == f"https://clientele.example.com/customer?customer=cust_a&api={shop}"
    [listed] = json.loads(cli(db_url, "alerts", "list", "--json").stdout)
    assert (listed["id"], listed["state"], listed["last_value"]) == (rule["id"], "firing", 50.0)
    assert cli(db_url, "alerts", "remove", str(rule["id"])).returncode == 0
    assert json.loads(cli(db_url, "alerts", "list", "--json").stdout) == []
    gone = cli(db_url, "alerts", "remove", str(rule["id"]))
    assert gone.returncode == 2 and f"No alert rule {rule['id']}" in gone.stderr


@pytest.mark.parametrize("args, message", [
    (("--api", "Nope", "--above", "1", "--notify", "a@example.com"), "No API 'Nope'"),
    (("--above", "1", "--notify", "not an address"), "neither a webhook URL"),
    (("--above", "1", "--notify", "a@example.com", "--customer", "ghost"), "No customer 'ghost'"),
    (("--above", "1", "--below", "2", "--notify", "a@example.com"), "not allowed with argument --above"),
    (("--above", "1", "--notify", "a@example.com", "--window", "2h"), "invalid choice: '2h'"),
])
def test_alerts_add_refuses_bad_input_with_a_clear_error(db_url, shop, args, message):
    done = add(db_url, *args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert json.loads(cli(db_url, "alerts", "list", "--json").stdout) == []


def test_alerts_run_refuses_a_time_that_is_not_iso(db_url, shop):
    done = cli(db_url, "alerts", "run", "--now", "yesterday")
    assert done.returncode == 2 and "not an ISO time" in done.stderr


def test_the_worker_runs_a_round_and_stops_cleanly_on_sigterm(db_url, shop):
    env = {**os.environ, "DATABASE_URL": db_url, "CLIENTELE_NOW": "2026-11-25T12:10:00Z"}
    with Receiver() as hook:
        assert add(db_url, "--customer", "cust_a", "--above", "25", "--notify", hook.url).returncode == 0
        worker = subprocess.Popen([sys.executable, "-m", "core", "worker", "--interval", "3600"], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not hook.posts and time.monotonic() < deadline and worker.poll() is None:
                time.sleep(0.1)  # waits for the round's delivery, not for a fixed time
            worker.send_signal(signal.SIGTERM)
            _out, err = worker.communicate(timeout=30)
        finally:
            if worker.poll() is None:
                worker.kill()
    assert worker.returncode == 0, err
    assert [b["state"] for b in hook.bodies] == ["firing"]
    assert "alerts worker stopped" in err


def test_worker_once_runs_one_round_and_exits(db_url, shop):
    done = cli(db_url, "worker", "--once")
    assert done.returncode == 0, done.stderr
    assert '"evaluated": 0' in done.stderr and "alerts worker stopped" in done.stderr
