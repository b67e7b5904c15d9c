"""Case store: references unique under concurrency, schema checks, the db command."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from intake.cases.db import SchemaBehind, Store, ensure_schema, head_revision, upgrade
from intake.cases.references import allocate_reference, find_references
from intake.cli import cli


def test_references_are_unique_under_concurrent_writers(store: Store) -> None:
    refs: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def take(n: int) -> None:
        try:
            for _ in range(n):
                with store.session() as s:
                    ref = allocate_reference(s, 2026)
                with lock:
                    refs.append(ref)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=take, args=(15,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(refs) == 90 and len(set(refs)) == 90
    assert all(re.fullmatch(r"CMP-2026-\d{5}", r) for r in refs)


def test_a_rolled_back_reference_leaves_a_gap_not_a_repeat(store: Store) -> None:
    with store.session() as s:
        first = allocate_reference(s, 2027)
    with pytest.raises(RuntimeError), store.session() as s:
        allocate_reference(s, 2027)
        raise RuntimeError("abandon")
    with store.session() as s:
        third = allocate_reference(s, 2027)
    assert first == "CMP-2027-00001"
    assert int(third[-5:]) > int(first[-5:])  # never reused, whatever the backend


def test_find_references_in_a_subject() -> None:
    assert find_references("Re: Your complaint CMP-2026-00042 (and CMP-2026-00042)") == [
        "CMP-2026-00042"]
    assert find_references("no reference here") == []


def test_empty_sqlite_is_created_at_head(tmp_path: Path) -> None:
    s = Store(f"sqlite:///{tmp_path / 'sub' / 'new.db'}")
    ensure_schema(s.engine)
    with s.engine.connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalar() == \
            head_revision()
        assert conn.execute(text("pragma journal_mode")).scalar() == "wal"
    s.dispose()


def test_database_behind_the_latest_schema_is_refused(db_url: str) -> None:
    upgrade(db_url)
    s = Store(db_url)
    with s.engine.begin() as conn:
        conn.execute(text("update alembic_version set version_num = 'old'"))
    with pytest.raises(SchemaBehind, match="intake-bot db upgrade"):
        ensure_schema(s.engine)
    s.dispose()


def test_commands_refuse_an_old_database_and_db_upgrade_fixes_it(
        settings: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    monkeypatch.setenv("INTAKE_DATABASE_URL", url)
    from intake import settings as settings_mod

    settings_mod.set_settings(None)
    s = Store(url)
    with s.engine.begin() as conn:
        conn.execute(text("create table alembic_version (version_num varchar(32))"))
        conn.execute(text("insert into alembic_version values ('0000')"))
    s.dispose()
    runner = CliRunner()
    result = runner.invoke(cli, ["cases", "list"])
    assert result.exit_code == 1
    assert "intake-bot db upgrade" in result.output
    # An alembic_version naming an unknown revision cannot be upgraded; start clean instead.
    Path(tmp_path / "old.db").unlink()
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(cli, ["cases", "list"]).exit_code == 0
    settings_mod.set_settings(None)
