"""core.domain.config and the embedded database's files: created private to their owner."""
from __future__ import annotations

import stat

from core.domain import config
from core.storage import models


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_and_its_data_directory_are_private(tmp_path):
    data = tmp_path / "data"
    engine = models.make_engine(f"sqlite:///{data / 'clientele.db'}")
    try:
        models.init_db(engine)
        with engine.connect() as conn:  # WAL mode: the -wal and -shm files now exist too
            conn.exec_driver_sql("SELECT count(*) FROM users").scalar()
            files = sorted(p.name for p in data.iterdir())
            modes = {p.name: _mode(p) for p in data.iterdir()}
    finally:
        engine.dispose()
    assert files == ["clientele.db", "clientele.db-shm", "clientele.db-wal"]
    assert _mode(data) == 0o700
    assert modes == dict.fromkeys(files, 0o600)


def test_the_generated_cookie_key_lives_in_a_private_data_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("CLIENTELE_COOKIE_KEY", raising=False)
    monkeypatch.setattr(config, "ROOT", tmp_path)  # no .streamlit/secrets.toml here
    monkeypatch.setattr(config, "DATA_DIR", tmp_path / "data")
    assert len(config.cookie_key()) >= 32
    assert (_mode(tmp_path / "data"), _mode(tmp_path / "data" / "cookie_key")) == (0o700, 0o600)
