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

# The real npm Treblle SDKs (tests/node, pinned by its package-lock.json) run under Node; reinstalled only
# when the lock file changed since the last install.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  if ! cmp -s tests/node/package-lock.json tests/node/node_modules/.installed-package-lock.json; then
    if npm ci --prefix tests/node --no-audit --no-fund --loglevel=error; then
      cp tests/node/package-lock.json tests/node/node_modules/.installed-package-lock.json
    else
      rm -rf tests/node/node_modules  # a half install would run the npm SDK tests against missing modules
      echo "note: npm ci --prefix tests/node failed: the npm Treblle SDK tests will be skipped" >&2
    fi
  fi
else
  echo "note: no node/npm on PATH: the npm Treblle SDK tests will be skipped (apt-get install nodejs npm)" >&2
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

# Lint and type-check first (configured in pyproject.toml): they fail in seconds, before the long tests.
"$PY" -m ruff check .
"$PY" -m mypy core/domain core/analytics

exec "$PY" -m pytest "$@"
