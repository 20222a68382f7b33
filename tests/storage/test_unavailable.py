"""What counts as "the database cannot take it now" (storage.database.UNAVAILABLE): the errors the web app
answers by spooling the message to disk (bot.spool) rather than refusing it."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from storage.database import UNAVAILABLE, Database


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens here once the probe is closed


def test_a_postgresql_server_that_is_down_is_unavailable() -> None:
    database = Database(f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/test?connect_timeout=2")
    try:
        with pytest.raises(UNAVAILABLE), database.read() as connection:
            connection.execute(text("SELECT 1"))
    finally:
        database.dispose()


def test_a_sqlite_database_locked_past_its_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    database = Database(f"sqlite:///{path}")

    @event.listens_for(database.engine, "connect")
    def short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=50")  # after trialbot's own 10 s, for a quick test

    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process writing, and not letting go
        with pytest.raises(UNAVAILABLE), database.write() as connection:
            connection.execute(text("SELECT 1"))
    finally:
        holder.close()
        database.dispose()


def test_bad_data_is_not_unavailability() -> None:
    """A message the database refuses for what it is must not wait in the spool for ever."""
    assert not issubclass(IntegrityError, UNAVAILABLE)
