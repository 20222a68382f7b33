"""A CSV import books its rows in batches, each row behind a savepoint: the good rows around a bad one are
booked, and a row refused halfway leaves nothing behind (no visit, no audit entry, no planned message)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from bot import staff_actions
from bot.bootstrap import App, build_app
from bot.clock import SettableClock
from bot.domain import Participant
from bot.ids import SequentialIds
from bot.planning import Booked, PlanningError
from storage.repositories import Repositories, audit_t, scheduled_t, visit_t

ANCHOR = date(2026, 11, 24)
WEEK_4 = "2026-12-22"  # day 29 of the demo schedule


@pytest.fixture
def demo(database_url: str, clock: SettableClock) -> Iterator[App]:
    app = build_app(database_url, clock=clock, ids=SequentialIds())
    yield app
    app.database.dispose()


def _enrol(app: App, count: int) -> list[str]:
    codes = []
    for n in range(count):
        participant, _ = staff_actions.enrol(app, f"sms:+1555040{n:04d}", ANCHOR, "staff:test")
        codes.append(participant.code)
    return codes


def _row(code: str, visit: str = "week_4", day: str = WEEK_4) -> dict[str, str]:
    return {"participant": code, "visit": visit, "date": day, "time": "09:30"}


def _counts(app: App) -> dict[str, Any]:
    with app.database.read() as connection:
        visits = connection.execute(select(func.count()).select_from(visit_t)).scalar_one()
        booked = connection.execute(
            select(func.count()).where(audit_t.c.action.in_(["visit_booked", "visit_moved"]))
        ).scalar_one()
        planned = connection.execute(
            select(func.count()).where(scheduled_t.c.visit_id.is_not(None), scheduled_t.c.status == "pending")
        ).scalar_one()
    return {"visits": visits, "audited": booked, "planned": planned}


def test_rows_across_batches_with_bad_rows_in_each(demo: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staff_actions, "IMPORT_BATCH", 3)
    codes = _enrol(demo, 6)
    rows = [
        (2, _row(codes[0])),
        (3, _row("P-NOBODY")),  # batch 1: unknown participant
        (4, _row(codes[1])),
        (5, _row(codes[2], visit="week_5")),  # batch 2: unknown visit
        (6, _row(codes[3])),
        (7, _row(codes[4], day="2026-02-30")),  # batch 2: bad date
        (8, _row(codes[5])),
    ]
    progressed: list[int] = []
    report = staff_actions.import_csv(demo, rows, "staff:test", progress=progressed.append)

    assert report.booked == 4
    assert [line for line, _ in report.errors] == [3, 5, 7]
    assert sum(progressed) == len(rows)
    per_visit = 4  # the booking note and three reminders
    assert _counts(demo) == {"visits": 4, "audited": 4, "planned": 4 * per_visit}


def test_a_row_refused_after_its_writes_leaves_nothing_and_its_neighbours_are_booked(
    demo: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = _enrol(demo, 3)
    real_book = demo.planner.book

    def refuse_the_middle_one(
        repos: Repositories, participant: Participant, visit_key: str, local: datetime, *args: Any
    ) -> Booked:
        booked = real_book(repos, participant, visit_key, local, *args)  # the visit, its audit, its reminders
        if participant.code == codes[1]:
            raise PlanningError("refused after writing")
        return booked

    monkeypatch.setattr(demo.planner, "book", refuse_the_middle_one)
    rows = [(n + 2, _row(code)) for n, code in enumerate(codes)]
    report = staff_actions.import_csv(demo, rows, "staff:test")

    assert report.booked == 2
    assert report.errors == [(3, "refused after writing")]
    assert _counts(demo) == {"visits": 2, "audited": 2, "planned": 8}
    with demo.database.read() as connection:
        middle = Repositories(connection).participants.by_code(codes[1])
        assert middle is not None
        assert Repositories(connection).visits.get(middle.id, "week_4") is None
