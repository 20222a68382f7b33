"""Shared fixtures: a real database (SQLite file, or PostgreSQL when TRIALBOT_TEST_DATABASE_URL is set),
a settable clock, predictable participant codes, and a wired trialbot on them."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.bootstrap import App, Core, build_app, build_core
from bot.clock import SettableClock
from bot.ids import SequentialIds
from storage.database import Database
from storage.migrate import ensure_current
from storage.tables import ALL_TABLES

PG_URL = os.environ.get("TRIALBOT_TEST_DATABASE_URL", "").strip()
START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York


def pytest_report_header() -> str:
    """Say which database the suite runs on."""
    return f"trialbot database: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite (a file per test)'}"


@pytest.fixture(scope="session")
def core() -> Core:
    """The demo study and the shipped flows, loaded once."""
    return build_core()


_schema_rebuilt: set[str] = set()


def _empty_postgres(url: str) -> None:
    database = Database(url)
    try:
        if url not in _schema_rebuilt:
            # Once per run: the test database is disposable, so start from nothing and migrate up.
            with database.write() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
            _schema_rebuilt.add(url)
        ensure_current(database)
        names = ", ".join(t.__tablename__ for t in ALL_TABLES)  # type: ignore[attr-defined]
        with database.write() as connection:
            # TRUNCATE does not fire the audit log's row triggers, so tests can start clean.
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        database.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A database for one test: a new SQLite file, or the test PostgreSQL database emptied."""
    if PG_URL:
        _empty_postgres(PG_URL)
        return PG_URL
    return f"sqlite:///{tmp_path / 'trialbot.db'}"


@pytest.fixture
def clock() -> SettableClock:
    """A clock that moves only when a test moves it."""
    return SettableClock(START)


@pytest.fixture
def app(database_url: str, core: Core, clock: SettableClock) -> Iterator[App]:
    """trialbot wired on the test database with a settable clock and codes P-000001, P-000002, ..."""
    wired = build_app(database_url, core=core, clock=clock, ids=SequentialIds())
    yield wired
    wired.database.dispose()


def pytest_addoption(parser: pytest.Parser) -> None:
    """--update-golden rewrites the expected side of golden transcripts from what the code does now."""
    parser.addoption("--update-golden", action="store_true", help="rewrite golden transcripts")


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """In-process CLI commands point logging at their own captured stderr; put it back after each test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
