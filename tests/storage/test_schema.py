"""The schema: migrations match the models, the audit log cannot be changed, SQLite is set up safely."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, StatementError
from sqlmodel import SQLModel

from bot.cli import main
from storage.database import Database, DatabaseError, normalise_url
from storage.migrate import current_revision, ensure_current, head_revision, shipped_head
from storage.repositories import Repositories

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


@pytest.fixture
def database(database_url: str) -> Database:
    db = Database(database_url)
    ensure_current(db)
    yield db
    db.dispose()


def test_migrations_create_exactly_the_models(database: Database) -> None:
    with database.read() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_database_is_at_the_head_revision(database: Database) -> None:
    with database.read() as connection:
        assert current_revision(connection) == head_revision()


def _participant(repos: Repositories, address: str = "+15550100001") -> int:
    created = repos.participants.create(
        code="P-TEST01", study_id="demo", locale="en", timezone="America/New_York", channel="sms",
        address=address, now=NOW,
    )  # fmt: skip
    assert created is not None
    return created


def test_audit_log_refuses_update_and_delete(database: Database) -> None:
    with database.write() as connection:
        repos = Repositories(connection)
        participant_id = _participant(repos)
        repos.audit.append(at=NOW, actor="system", action="test", participant_id=participant_id, new={"a": 1})
    for statement in ("UPDATE audit_log SET action = 'changed'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), database.write() as connection:
            connection.execute(text(statement))
    with database.read() as connection:
        rows = Repositories(connection).audit.for_participant(participant_id)
    assert [(r.action, r.new) for r in rows] == [("test", {"a": 1})]


def test_inbound_is_unique_per_channel_and_provider_id(database: Database) -> None:
    with database.write() as connection:
        repos = Repositories(connection)
        participant_id = _participant(repos)
        first = repos.inbound.add(
            channel="sms", provider_message_id="SM1", participant_id=participant_id, text="hi", media_count=0,
            received_at=NOW,
        )  # fmt: skip
        again = repos.inbound.add(
            channel="sms", provider_message_id="SM1", participant_id=participant_id, text="hi", media_count=0,
            received_at=NOW,
        )  # fmt: skip
        other_channel = repos.inbound.add(
            channel="telegram", provider_message_id="SM1", participant_id=participant_id, text="hi",
            media_count=0, received_at=NOW,
        )  # fmt: skip
    assert first is not None
    assert again is None
    assert other_channel is not None


def test_a_channel_address_belongs_to_one_participant(database: Database) -> None:
    with database.write() as connection:
        repos = Repositories(connection)
        _participant(repos)
        second = repos.participants.create(
            code="P-TEST02", study_id="demo", locale="en", timezone="America/New_York", channel="sms",
            address="+15550100001", now=NOW,
        )  # fmt: skip
    assert second is None
    with database.read() as connection:
        count = connection.execute(text("SELECT count(*) FROM participant")).scalar_one()
    assert count == 1, "the savepoint must undo the half-created participant"


def test_naive_datetimes_are_refused(database: Database) -> None:
    with pytest.raises(StatementError, match="timezone"), database.write() as connection:
        Repositories(connection).audit.append(at=datetime(2026, 1, 1), actor="system", action="test")


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: object) -> None:
    database = Database(f"sqlite:///{tmp_path}/pragmas.db")
    with database.read() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    database.dispose()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("trialbot.db", "sqlite:///trialbot.db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
    ],
)
def test_database_urls_are_normalised(given: str, expected: str) -> None:
    assert normalise_url(given) == expected


@pytest.mark.parametrize("bad", ["", "   ", "mysql://u@h/db", "postgresql://u@h:notaport/db"])
def test_bad_database_urls_give_a_clear_error(bad: str) -> None:
    with pytest.raises(DatabaseError):
        Database(bad)


def test_db_upgrade_command(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    runner = CliRunner()
    first = runner.invoke(main, ["db", "upgrade", "--db", url])
    assert first.exit_code == 0, first.output
    assert f"schema empty -> {head_revision()}" in first.output
    again = runner.invoke(main, ["db", "upgrade", "--db", url])
    assert f"schema {head_revision()} -> {head_revision()}" in again.output


def test_an_unreachable_database_is_one_clear_line() -> None:
    result = CliRunner().invoke(main, ["report", "funnel", "--db", "postgresql://nobody@127.0.0.1:1/none"])
    assert result.exit_code == 2
    assert "cannot reach the database" in result.output
    assert "Traceback" not in result.output


def test_the_head_read_from_the_files_is_alembics_head() -> None:
    """`ensure_current` reads the head from the migration files (no alembic import at start): it must agree."""
    assert shipped_head() == head_revision()
