"""Bring a database's schema up to date with the Alembic migrations shipped in storage/migrations."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Connection, inspect, text

from storage.database import Database, DatabaseError

MIGRATIONS = Path(__file__).with_name("migrations")
VERSIONS = MIGRATIONS / "versions"


def alembic_config(connection: Connection) -> object:
    """Alembic configuration that runs the shipped migrations on this connection."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


_REVISION_LINE = re.compile(r"^(down_revision|revision)\b[^=]*=\s*(None|\"([^\"]*)\"|'([^']*)')", re.MULTILINE)


def shipped_head() -> str:
    """The newest shipped revision, read from the migration files without importing alembic (which
    costs a quarter of a second at every start). A branched history is an error, as in alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(VERSIONS.glob("*.py")):
        found = {m.group(1): m.group(3) or m.group(4) for m in _REVISION_LINE.finditer(path.read_text("utf-8"))}
        if "revision" not in found:
            continue
        revisions.add(found["revision"])
        if found.get("down_revision"):
            parents.add(found["down_revision"])
    heads = revisions - parents
    if len(heads) != 1:
        raise DatabaseError(f"the shipped migrations have {len(heads)} heads, not one")
    return heads.pop()


def head_revision() -> str:
    """The newest revision shipped with this version of trialbot, as alembic sees it."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    if head is None:
        raise DatabaseError("no migrations are shipped")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None for an empty database."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(database: Database, revision: str = "head") -> tuple[str | None, str]:
    """Apply the migrations the database lacks; return (revision before, revision after)."""
    from alembic import command

    with database.write() as connection:
        before = current_revision(connection)
        command.upgrade(alembic_config(connection), revision)  # type: ignore[arg-type]
        after = current_revision(connection)
    if after is None:
        raise DatabaseError("the migrations did not record a revision")
    return before, after


def ensure_current(database: Database) -> None:
    """Upgrade the database if it is behind; cheap when it is already current."""
    try:
        with database.read() as connection:
            current = current_revision(connection)
    except Exception as exc:
        raise DatabaseError(f"cannot reach the database at {database.describe()} ({_short(exc)})") from None
    if current != shipped_head():
        upgrade(database)


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
