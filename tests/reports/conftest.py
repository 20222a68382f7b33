"""A small study with something in every report, set 40 days back so the CLI (on the real clock) sees it
as past: visits due, deadlines passed. The figures themselves are checked in test_cohort.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bot.bootstrap import App, Core, build_app, build_desk, build_scheduler
from bot.cli import main
from bot.clock import SettableClock
from bot.ids import SequentialIds
from bot.staff_actions import book, enrol, parse_local, set_status
from storage.repositories import Repositories
from tests.conftest import PG_URL, _empty_postgres
from tests.helpers import Patient

CLEAN_ENV: dict[str, str | None] = {
    "TRIALBOT_DATABASE_URL": None, "TRIALBOT_STUDY": None, "TRIALBOT_LOG_LEVEL": None,
}  # fmt: skip
CONSENT = ["yes", "no", "no", "yes", "yes", "12 weeks", "no", "no", "study team"]
SCRIPTS = [
    ["Hi", "yes", "yes", "52", "yes", "no", "march 2019", "1", "morning", "yes", *CONSENT],
    ["Hi", "yes", "yes", "16", "no"],
    ["Hi", "yes", "yes", "40", "yes", "yes", "yes"],
    ["Hi", "yes", "yes", "45", "not sure", "no", "2021", "1", "morning", "no"],
    ["Hi", "yes", "STOP"],
    ["Hi", "no"],
    ["Hi", "yes", "I have chest pain"],
    ["Hi", "yes", "I went to the hospital yesterday"],
]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An empty SQLite database of the test's own, whichever database the suite runs on."""
    return f"sqlite:///{tmp_path / 'empty.db'}"


def cli(database_url: str, *args: str) -> Result:
    """`trialbot ARGS --db URL` in-process."""
    result = CliRunner().invoke(main, [*args, "--db", database_url], env=CLEAN_ENV)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


@pytest.fixture(scope="module")
def small_study(core: Core, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Eight people, one enrolled with two visits and check-ins, escalations acknowledged; the database URL.

    Built once per module, read by its tests (they change nothing); the other tests in these modules
    use a SQLite file of their own, so on PostgreSQL nothing empties the shared database meanwhile.
    """
    if PG_URL:
        _empty_postgres(PG_URL)
    url = PG_URL or f"sqlite:///{tmp_path_factory.mktemp('small') / 'trialbot.db'}"
    start = datetime.now(UTC).replace(hour=15, minute=0, second=0, microsecond=0) - timedelta(days=40)
    clock = SettableClock(start)
    app = build_app(url, core=core, clock=clock, ids=SequentialIds())
    try:
        _play(app, clock, start)
        yield url
    finally:
        app.database.dispose()


def _play(app: App, clock: SettableClock, start: datetime) -> None:
    patients = [Patient(app, address=f"+1555040{i:04d}") for i in range(len(SCRIPTS))]
    for patient, script in zip(patients, SCRIPTS, strict=True):
        for text in script:
            patient.send(text)
            clock.advance(timedelta(minutes=3))
    sweep = build_scheduler(app).sweep
    anchor = start.date() + timedelta(days=7)
    enrol(app, "sms:+15550400000", anchor, "staff:test")
    book(app, "sms:+15550400000", "baseline", parse_local(anchor.isoformat(), "09:30"), "staff:test")
    book(app, "sms:+15550400000", "week_2_call", parse_local((anchor + timedelta(days=14)).isoformat(), "10:00"),
         "staff:test")  # fmt: skip
    clock.advance(timedelta(minutes=30))
    sweep()
    clock.advance(timedelta(minutes=20))
    patients[0].send("C")
    _acknowledge_all(app, clock, after=timedelta(minutes=25))
    for day in range(1, 24):
        clock.set(start + timedelta(days=day, hours=1, minutes=30))  # 11:30 in New York
        sweep()
        replies = patients[0].send("2").replies if day in (8, 9, 10) else []
        if any("new health problems" in r for r in replies):
            for text in ("no", "yes", "no"):
                patients[0].send(text)
        if day == 7:
            clock.advance(timedelta(hours=3))
            set_status(app, "sms:+15550400000", "baseline", "attended", "staff:test")
    _acknowledge_all(app, clock, after=timedelta(hours=5))


def _acknowledge_all(app: App, clock: SettableClock, after: timedelta) -> None:
    """Staff acknowledge every open escalation but the last, some time later."""
    clock.advance(after)
    desk = build_desk(app)
    with app.database.write() as connection:
        repos = Repositories(connection)
        waiting: list[Any] = [e for e in repos.escalations.listing() if e.status == "open"]
        for row in waiting[1:]:
            desk.alerts.acknowledge(repos, row.id, "staff:test", clock.now(), "test")
