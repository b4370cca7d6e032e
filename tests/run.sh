#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (idempotently), then pytest.
# Extra arguments go to pytest (e.g. `bash tests/run.sh -m "not slow and not browser"`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

export PIP_DISABLE_PIP_VERSION_CHECK=1
"$PY" -m pip install -q -r requirements-dev.txt

# Browser tests drive Debian's Chromium (Playwright's own browser download is not used).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: no chromium on PATH and not root: browser tests will be skipped (apt-get install chromium)" >&2
  fi
fi

# Storage tests run on SQLite always, and on PostgreSQL when one answers on 127.0.0.1:5432.
if command -v pg_isready >/dev/null 2>&1; then
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
  if [ -z "${TEST_DATABASE_URL:-}" ] && pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    export TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/test"
  fi
fi
[ -n "${TEST_DATABASE_URL:-}" ] && echo "PostgreSQL tests: on ($TEST_DATABASE_URL)" || echo "PostgreSQL tests: off (no server on 127.0.0.1:5432)"

exec "$PY" -m pytest "$@"
