"""Every report's figures equal those worked out from what a 500-person synthetic cohort was made to do.

The cohort goes through the real pipeline (tests/reports/cohort.py); the expected figures come from the
simulation's own record (tests/reports/expected.py), never from the database the reports read.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.pool import QueuePool

from bot.bootstrap import App, Core, build_app, core_for
from bot.clock import SettableClock
from bot.ids import SequentialIds
from bot.reports.build import build_report
from bot.reports.metrics import Report
from bot.study import Caps, LoadedStudy
from storage.database import _sqlite_setup
from tests.reports import expected
from tests.reports.cohort import END, NY, START, Cohort

pytestmark = pytest.mark.slow


@pytest.fixture
def app(database_url: str, core: Core, clock: SettableClock) -> Iterator[App]:
    """The demo study with its reminder caps raised from 1 a day and 3 a week to 3 and 21.

    With the demo's caps, reminders and check-ins crowd each other out and a check-in can be deferred
    past its own reply window (CHECKIN_REPLY_WINDOW, counted from when it was planned): a reply to it
    is then taken as the answer to an older message still waiting. That is the scheduler's business,
    not the reports'; here every message goes out on its day, so the cohort knows what each reply answers.
    """
    reminders = core.loaded.study.reminders.model_copy(update={"caps": Caps(per_day=3, per_week=21)})
    study = core.loaded.study.model_copy(update={"reminders": reminders})
    wired = build_app(database_url, core=core_for(LoadedStudy(study=study, path=core.loaded.path)), clock=clock,
                      ids=SequentialIds())  # fmt: skip
    if wired.database.is_sqlite:
        _faster_sqlite(wired)
    yield wired
    wired.database.dispose()


@pytest.fixture
def cohort(app: App, clock: SettableClock) -> Cohort:
    """The cohort, played once on the test database."""
    played = Cohort(app, clock)
    began = time.perf_counter()
    played.run()
    print(
        f"\ncohort of {len(played.people)} played in {time.perf_counter() - began:.1f} s: "
        f"{played.messages_in} messages in, {played.messages_out} out, {len(played.escalations)} escalations"
    )
    return played


def _faster_sqlite(app: App) -> None:
    """Keep one SQLite connection open instead of one per transaction, and skip the fsync per commit.

    The app's engine opens a connection per transaction (NullPool) with PRAGMA synchronous=FULL, right
    for a bot that must survive a power cut and about half the cost of each message here. Neither is
    what these tests are about; the same settings otherwise (WAL, foreign keys, BEGIN IMMEDIATE).
    """
    engine = create_engine(app.database.url, poolclass=QueuePool, pool_size=1,
                           connect_args={"check_same_thread": False})  # fmt: skip
    _sqlite_setup(engine)
    event.listen(engine, "connect", _no_fsync)  # after the app's own PRAGMAs, so it wins
    app.database.engine.dispose()
    app.database.engine = engine


def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


def _figures(report: Report) -> dict[str, tuple[Any, Any, Any]]:
    return {m.name: (m.numerator, m.denominator, m.value) for m in report.metrics}


def _report(app: App, name: str, **kwargs: Any) -> Report:
    with app.database.read() as connection:
        return build_report(name, connection, app.study.study, END, **kwargs)


@pytest.mark.timeout(300)  # about 30 s on SQLite, 70 s on PostgreSQL: room for a busy machine
def test_every_report_matches_what_the_cohort_did_and_since_keeps_later_arrivals(app: App, cohort: Cohort) -> None:
    paths = {p.path for p in cohort.people}
    assert len(cohort.people) == 500
    assert len(paths) == 11, paths
    assert sum(p.enrolled_at is not None for p in cohort.people) >= 15
    assert {e.severity for e in cohort.escalations} == {"urgent", "high", "normal"}

    assert _figures(_report(app, "funnel")) == expected.funnel(cohort)
    retention = _report(app, "retention")
    figures, weekly = expected.retention(cohort, cohort.sweep_times)
    assert _figures(retention) == figures
    assert retention.series["weekly_adherence"] == weekly
    assert _figures(_report(app, "engagement")) == expected.engagement(cohort)
    assert _figures(_report(app, "escalations")) == expected.escalations(cohort)

    # --since: only the participants first seen from that New York day on (one test: the cohort is costly).
    since = START.astimezone(NY).date() + timedelta(days=3)
    funnel = _report(app, "funnel", since=since)
    assert 0 < funnel.metric("first_contacts").value < 500  # type: ignore[operator]
    assert _figures(funnel) == expected.funnel(cohort, since)
    assert _figures(_report(app, "escalations", since=since)) == expected.escalations(cohort, since)
