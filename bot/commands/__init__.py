"""Staff command groups that live in their own modules, and the small helpers they share.

Each module defines a click group that bot/cli.py adds to `trialbot`. The helpers mirror bot/cli.py's
own (the same --db and --study options, the same audit actor), so every command behaves alike.
"""

from __future__ import annotations

import contextlib
import getpass
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from bot.config import load_settings
from storage.database import Database

F = TypeVar("F", bound=Callable[..., Any])


def db_option(fn: F) -> F:
    """The --db option every command that reads or writes the database takes."""
    return click.option(
        "--db",
        "database_url",
        default=None,
        help="Database URL (default: $TRIALBOT_DATABASE_URL, else sqlite:///trialbot.db).",
    )(fn)


def study_option(fn: F) -> F:
    """The --study option of commands that render messages in the study's words."""
    return click.option(
        "--study",
        "study_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Study file (default: $TRIALBOT_STUDY, else the bundled demo study).",
    )(fn)


def by_option(fn: F) -> F:
    """The --by option: who is acting, for the audit trail."""
    return click.option("--by", default=None, help="Who is doing this, for the audit trail (default: your login).")(fn)


def actor(by: str | None) -> str:
    """The audit trail's name for a staff member: staff:<name>, by default the login."""
    return f"staff:{by or getpass.getuser()}"


def resolve(study_path: Path | None, database_url: str | None) -> tuple[Path | None, str]:
    """The study file and database URL: as given, else from the environment, else the defaults."""
    settings = load_settings()
    study = study_path or (Path(settings.study) if settings.study else None)
    return study, database_url or settings.database_url


@contextlib.contextmanager
def database(database_url: str | None) -> Iterator[Database]:
    """The database for one command, brought up to date; its connections are closed when the command ends."""
    from storage.migrate import ensure_current

    _, url = resolve(None, database_url)
    opened = Database(url)
    try:
        ensure_current(opened)
        yield opened
    finally:
        opened.dispose()


def fail(message: str) -> NoReturn:
    """End the command with one line on stderr and exit status 1."""
    click.echo(f"trialbot: {message}", err=True)
    sys.exit(1)
