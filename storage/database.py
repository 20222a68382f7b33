"""Connect to the database, set it up safely, and bring its schema up to date.

SQLite (the default, one process) runs in WAL mode with foreign keys on, and every write transaction
starts with `BEGIN IMMEDIATE`: a deferred transaction that reads, then writes, fails at once with
"database is locked" when another writer got in between, whatever the busy timeout (LIBRARIES §4,
RELIABILITY §3.7). PostgreSQL (several processes) serialises work with row locks instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import NullPool, QueuePool

DEFAULT_URL = "sqlite:///trialbot.db"
UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeoutError)
"""What a database that is locked past its busy timeout, down, or out of connections raises (anything else
is a bug or bad data, not a reason to wait)."""
_READ_ONLY = "trialbot_read_only"


class DatabaseError(Exception):
    """The database URL is malformed or the database cannot be reached or migrated."""


def normalise_url(url: str) -> str:
    """Accept the usual spellings: a bare file path means SQLite; plain postgresql:// means psycopg 3."""
    text = url.strip()
    if not text:
        raise DatabaseError("the database URL is empty")
    if "://" not in text:
        return f"sqlite:///{text}"
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError) as exc:
        raise DatabaseError(f"cannot read the database URL ({exc})") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql")
    return parsed.render_as_string(hide_password=False)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA cache_size=-1024")
        # FULL: a message we answered 200 for survives a power cut, not only a process crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(_READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _postgresql_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # No JIT compilation: trialbot's statements are short, and the sweep's batches are costed high
        # enough to be compiled on every run: 0.3 s of each 0.5 s batch went to compiling (EXPLAIN
        # ANALYZE, 20,000 due rows), which doubled a sweep of 100,000. Committed, so the pool's
        # rollback on return does not undo it.
        cursor = dbapi_connection.cursor()
        cursor.execute("SET jit = off")
        cursor.close()
        dbapi_connection.commit()


def make_engine(url: str) -> Engine:
    """Create an engine for a database URL, with the settings trialbot relies on."""
    normalised = normalise_url(url)
    parsed = make_url(normalised)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # A small pool: opening a connection and setting its pragmas costs more than a whole turn. An
        # in-memory database is a new, empty one per connection, so it is never pooled.
        in_memory = database in ("", ":memory:")
        engine = create_engine(
            normalised,
            poolclass=NullPool if in_memory else QueuePool,
            connect_args={"check_same_thread": False},
            **({} if in_memory else {"pool_size": 8, "max_overflow": 24}),
        )
        _sqlite_setup(engine)
        return engine
    engine = create_engine(normalised, pool_pre_ping=True, pool_size=10, max_overflow=20)
    _postgresql_setup(engine)
    return engine


class Database:
    """An engine plus the two kinds of transaction trialbot uses: write (serialised) and read."""

    def __init__(self, url: str) -> None:
        """Connect lazily to the database at `url`."""
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        # SQLite has one writer at a time. Threads of this process queue here rather than in SQLite's
        # busy handler, which sleeps 1, 2, 5, 10 ... 100 ms between tries and so leaves the lock idle
        # most of the time under load. Other processes (a CLI command) still wait in the busy handler.
        self._writer = threading.RLock() if self.is_sqlite else None

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        with self._writer or nullcontext(), self.engine.begin() as connection:
            yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction that does not take SQLite's write lock."""
        with self.engine.connect() as connection:
            connection = connection.execution_options(**{_READ_ONLY: True})
            with connection.begin():
                yield connection

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()

    def describe(self) -> str:
        """The URL without its password, for messages to the operator."""
        return make_url(self.url).render_as_string(hide_password=True)
