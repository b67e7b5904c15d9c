"""Shared fixtures: settings overrides and a fresh case store on SQLite and PostgreSQL.

PostgreSQL tests create a database of their own on the machine's server (so parallel runs
never share tables) and drop it afterwards. Outside CI they are skipped, with the reason,
when no server answers; with CI=true they must run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from intake import settings as settings_mod
from intake.cases.db import Store, upgrade

PG_ADMIN_URL = os.environ.get(
    "INTAKE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _pg_reachable() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def pg_database() -> Iterator[str]:
    """Create a throwaway PostgreSQL database; yield its URL; drop it."""
    problem = _pg_reachable()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL must be reachable in CI ({PG_ADMIN_URL}): {problem}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {problem}")
    name = "intake_t_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
            ), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of an empty PostgreSQL database (no schema)."""
    yield from pg_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'intake.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'intake.db'}"
    else:
        yield from pg_database()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A case store at the latest schema, on SQLite and on PostgreSQL."""
    upgrade(db_url)
    s = Store(db_url)
    yield s
    s.dispose()


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    """A case store on SQLite only, for tests where the backend does not matter."""
    upgrade(sqlite_url)
    s = Store(sqlite_url)
    yield s
    s.dispose()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[settings_mod.Settings]:
    """Default settings rooted in a temporary folder, isolated from the environment."""
    for key in list(os.environ):
        if key.startswith(("INTAKE_", "SLACK_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    with settings_mod.override_settings(database_url=f"sqlite:///{tmp_path / 'intake.db'}") as s:
        yield s


@pytest.fixture
def cli_db(settings: settings_mod.Settings, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A SQLite case store (``cli.db`` in the returned folder) for commands run as
    ``intake-bot`` runs them: settings are read again from the environment."""
    monkeypatch.setenv("INTAKE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    settings_mod.set_settings(None)
    yield tmp_path
    settings_mod.set_settings(None)
