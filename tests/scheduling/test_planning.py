"""Reminders and check-ins on a settable clock: cadence, moves, cancels, quiet hours, DST, caps, opt-outs, nudges."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot import staff_actions
from bot.bootstrap import App, build_app, build_core, build_scheduler, core_for
from bot.clock import SettableClock
from bot.ids import SequentialIds
from bot.study import LoadedStudy
from storage.repositories import Repositories, outbox_t, scheduled_t
from tests.helpers import Patient

NY = ZoneInfo("America/New_York")


def _app(database_url: str, clock: SettableClock, **changes: Any) -> App:
    """The demo study with some settings changed."""
    loaded = build_core().loaded
    study = loaded.study.model_copy(update=changes)
    return build_app(
        database_url, core=core_for(LoadedStudy(study=study, path=loaded.path)), clock=clock, ids=SequentialIds()
    )


@pytest.fixture
def demo(database_url: str, clock: SettableClock) -> Iterator[App]:
    app = _app(database_url, clock)
    yield app
    app.database.dispose()


def _enrol(app: App, address: str, anchor: str = "2026-11-24", timezone: str | None = None) -> str:
    """Enrol someone who has already agreed to texts (onboarding is tested on its own)."""
    reference = f"sms:{address}"
    participant, _ = staff_actions.enrol(app, reference, date.fromisoformat(anchor), "staff:test", timezone=timezone)
    with app.database.write() as connection:
        Repositories(connection).participants.update(participant.id, app.clock.now(), opted_in_at=app.clock.now())
    return reference


def _book(app: App, reference: str, visit: str, at: str) -> None:
    day, _, clock = at.partition(" ")
    staff_actions.book(app, reference, visit, staff_actions.parse_local(day, clock), "staff:test")


def _planned(app: App, kinds: tuple[str, ...] = ("booking", "reminder")) -> list[tuple[str, str, datetime]]:
    with app.database.read() as connection:
        rows = connection.execute(
            select(scheduled_t.c.kind, scheduled_t.c.status, scheduled_t.c.due_at)
            .where(scheduled_t.c.kind.in_(list(kinds)))
            .order_by(scheduled_t.c.due_at)
        ).all()
    return [(r.kind, r.status, r.due_at) for r in rows]


def _sent(app: App) -> list[Any]:
    with app.database.read() as connection:
        return list(connection.execute(select(outbox_t).order_by(outbox_t.c.id)))


def _local(moment: datetime, zone: ZoneInfo = NY) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def test_the_cadence_for_one_booked_visit(demo: App) -> None:
    reference = _enrol(demo, "+15550300001")
    _book(demo, reference, "week_4", "2026-12-22 09:30")
    planned = [(kind, status, _local(due)) for kind, status, due in _planned(demo)]
    assert planned == [
        ("booking", "pending", "2026-11-23 10:00"),  # at booking (now: Monday 10:00 in New York)
        ("reminder", "pending", "2026-12-15 10:00"),  # 7 days before, at 10:00 local
        ("reminder", "pending", "2026-12-20 10:00"),  # 2 days before
        ("reminder", "pending", "2026-12-21 10:00"),  # the day before
    ]


def test_moving_an_appointment_plans_again(demo: App, clock: SettableClock) -> None:
    reference = _enrol(demo, "+15550300002")
    _book(demo, reference, "week_4", "2026-12-22 09:30")
    clock.advance(timedelta(hours=1))
    _book(demo, reference, "week_4", "2026-12-24 16:00")
    pending = [(kind, _local(due)) for kind, status, due in _planned(demo) if status == "pending"]
    assert pending == [
        ("booking", "2026-11-23 11:00"),
        ("reminder", "2026-12-17 10:00"),
        ("reminder", "2026-12-22 10:00"),
        ("reminder", "2026-12-23 10:00"),
    ]
    cancelled = [kind for kind, status, _ in _planned(demo) if status == "cancelled"]
    assert cancelled == ["booking", "reminder", "reminder", "reminder"]


def test_cancelling_removes_what_was_planned(demo: App) -> None:
    reference = _enrol(demo, "+15550300003")
    _book(demo, reference, "week_4", "2026-12-22 09:30")
    staff_actions.set_status(demo, reference, "week_4", "cancelled", "staff:test")
    assert {status for _, status, _ in _planned(demo)} == {"cancelled"}
    assert build_scheduler(demo).sweep(datetime(2026, 12, 23, 15, 0, tzinfo=UTC)).sent == 1  # the weekly check-in only
    assert all(not row.body.startswith(("Reminder", "Your study visit")) for row in _sent(demo))


def test_a_visit_booked_late_gets_only_the_reminders_still_ahead(demo: App, clock: SettableClock) -> None:
    reference = _enrol(demo, "+15550300004", anchor="2026-10-30")
    clock.set(datetime(2026, 11, 26, 16, 0, tzinfo=UTC))  # Thursday 11:00 in New York
    _book(demo, reference, "week_4", "2026-11-28 09:00")
    assert [(k, _local(d)) for k, _, d in _planned(demo)] == [
        ("booking", "2026-11-26 11:00"),
        ("reminder", "2026-11-27 10:00"),
    ]


@pytest.mark.parametrize(
    ("zone", "evening_utc", "morning_utc"),
    [
        ("America/New_York", datetime(2026, 12, 2, 3, 30, tzinfo=UTC), datetime(2026, 12, 2, 14, 0, tzinfo=UTC)),
        ("Europe/Madrid", datetime(2026, 12, 1, 21, 30, tzinfo=UTC), datetime(2026, 12, 2, 8, 0, tzinfo=UTC)),
        ("Australia/Lord_Howe", datetime(2026, 12, 1, 11, 30, tzinfo=UTC), datetime(2026, 12, 1, 22, 0, tzinfo=UTC)),
    ],
)
def test_quiet_hours_defer_to_the_morning_in_the_participants_zone(
    database_url: str, clock: SettableClock, zone: str, evening_utc: datetime, morning_utc: datetime
) -> None:
    app = _app(database_url, clock)
    local = ZoneInfo(zone)
    assert evening_utc.astimezone(local).strftime("%H:%M") == "22:30"
    assert morning_utc.astimezone(local).strftime("%H:%M") == "09:00"
    clock.set(evening_utc)
    reference = _enrol(app, "+15550300010", anchor="2026-11-24", timezone=zone)
    _book(app, reference, "week_4", "2026-12-22 09:30")
    scheduler = build_scheduler(app)
    assert scheduler.sweep(evening_utc).sent == 0
    assert scheduler.sweep(morning_utc - timedelta(minutes=1)).sent == 0
    assert scheduler.sweep(morning_utc).sent == 1
    assert _sent(app)[0].body.startswith(
        "Your study visit at Riverside Clinic is booked for Tuesday, December 22 at 9:30 AM"
    )
    app.database.dispose()


@pytest.mark.parametrize(
    ("zone", "send_at", "visit_day", "expected_local"),
    [
        ("America/New_York", "02:30", "2027-03-15", "2027-03-14 03:30"),  # spring forward: 02:30 does not exist
        ("America/New_York", "01:30", "2027-11-08", "2027-11-07 01:30"),  # fall back: 01:30 happens twice
        ("Europe/Berlin", "02:30", "2027-03-29", "2027-03-28 03:30"),
        ("Australia/Lord_Howe", "02:15", "2027-10-04", "2027-10-03 02:45"),  # a 30-minute jump
        ("Australia/Lord_Howe", "01:45", "2027-04-05", "2027-04-04 01:45"),  # a 30-minute fold
    ],
)
def test_a_dst_change_day_sends_exactly_once(
    database_url: str, clock: SettableClock, zone: str, send_at: str, visit_day: str, expected_local: str
) -> None:
    from bot.study import QuietHours, Reminders

    app = _app(
        database_url, clock,
        quiet_hours=QuietHours(send_from=time(0, 0), send_until=time(23, 59)),
        reminders=Reminders(at_booking=False, days_before=(1,), send_at=send_at), checkins=(),
    )  # fmt: skip
    local = ZoneInfo(zone)
    anchor = date.fromisoformat(visit_day) - timedelta(days=28)
    reference = _enrol(app, "+15550300020", anchor=anchor.isoformat(), timezone=zone)
    _book(app, reference, "week_4", f"{visit_day} 12:00")
    scheduler = build_scheduler(app)
    day_before = date.fromisoformat(visit_day) - timedelta(days=1)
    moment = datetime.combine(day_before, time(0, 0), tzinfo=local).astimezone(UTC) - timedelta(hours=2)
    sent_at: list[str] = []
    while moment < datetime.combine(date.fromisoformat(visit_day), time(0, 0), tzinfo=local).astimezone(UTC):
        if scheduler.sweep(moment).sent:
            sent_at.append(moment.astimezone(local).strftime("%Y-%m-%d %H:%M"))
        moment += timedelta(minutes=15)
    assert len(_sent(app)) == 1, "neither doubled nor skipped"
    assert sent_at == [expected_local]
    app.database.dispose()


def test_caps_hold_per_day_and_per_week(demo: App, clock: SettableClock) -> None:
    reference = _enrol(demo, "+15550300030")
    participant = Patient(demo, address="+15550300030").participant()
    start = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York
    with demo.database.write() as connection:
        repos = Repositories(connection)
        for number in range(10):  # ten capped messages due the same morning
            repos.schedule.put(
                f"test:{number}", start, participant_id=participant.id, kind="checkin", flow=None, data={},
                channel="sms", address="+15550300030", body=f"message {number}", buttons=None, purpose="checkin",
                capped=True, due_at=start, send_until=start + timedelta(hours=10), day_number=start.astimezone(NY).toordinal(),
                reply_until=None,
            )  # fmt: skip
    del reference
    scheduler = build_scheduler(demo)
    moment = start
    days: Counter[date] = Counter()
    while moment < start + timedelta(days=14):
        sent = scheduler.sweep(moment).sent
        if sent:
            days[moment.astimezone(NY).date()] += sent
        moment += timedelta(hours=1)
    assert all(count <= 1 for count in days.values()), days
    ordered = sorted(days)
    for first in ordered:
        week = sum(days[d] for d in ordered if first <= d < first + timedelta(days=7))
        assert week <= 3, (first, week)
    assert sum(days.values()) >= 5, "deferred, not dropped"


def test_stop_skips_planned_messages_and_start_plans_them_again(demo: App, clock: SettableClock) -> None:
    reference = _enrol(demo, "+15550300040")
    _book(demo, reference, "week_4", "2026-12-22 09:30")
    patient = Patient(demo, address="+15550300040")
    patient.send("STOP")
    scheduler = build_scheduler(demo)
    assert scheduler.sweep(clock.now()).sent == 0
    assert next((k, s) for k, s, _ in _planned(demo)) == ("booking", "skipped")
    clock.advance(timedelta(days=1))
    patient.send("START")
    pending = [(k, _local(d)) for k, s, d in _planned(demo) if s == "pending"]
    assert pending[0] == ("booking", "2026-11-24 10:00")
    assert scheduler.sweep(clock.now()).sent == 1


def test_an_unanswered_question_gets_one_nudge(demo: App, clock: SettableClock) -> None:
    patient = Patient(demo, address="+15550300050")
    patient.join()
    scheduler = build_scheduler(demo)
    assert scheduler.sweep(clock.now() + timedelta(hours=23)).nudged == 0
    report = scheduler.sweep(clock.now() + timedelta(hours=25))
    assert report.nudged == 1
    assert (
        _sent(demo)[-1].body
        == "Just checking in. When you have a moment, please answer this: Would you like to start?\nReply 1 for Yes, 2 for No."
    )
    assert scheduler.sweep(clock.now() + timedelta(hours=60)).nudged == 0, "one nudge, then it waits"
    clock.advance(timedelta(hours=61))
    assert patient.send("yes").replies == ["How old are you?"]


def test_nudges_keep_quiet_hours(demo: App, clock: SettableClock) -> None:
    patient = Patient(demo, address="+15550300051")
    patient.join()
    night = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # 23:00 in New York, over a day later
    assert build_scheduler(demo).sweep(night).nudged == 0
    assert build_scheduler(demo).sweep(datetime(2026, 11, 25, 14, 0, tzinfo=UTC)).nudged == 1


def test_a_visit_with_no_attendance_by_the_end_of_its_window_is_missed(demo: App) -> None:
    reference = _enrol(demo, "+15550300060")
    _book(demo, reference, "week_4", "2026-12-22 09:30")
    scheduler = build_scheduler(demo)
    assert scheduler.sweep(datetime(2026, 12, 26, 4, 0, tzinfo=UTC)).missed_visits == 0  # still Dec 25 in New York
    report = scheduler.sweep(datetime(2026, 12, 26, 14, 0, tzinfo=UTC))
    assert report.missed_visits == 1
    assert _sent(demo)[-1].body.startswith("We missed you at your visit on Tuesday, December 22.")


def test_attended_visits_bring_the_after_visit_check_in(demo: App, clock: SettableClock) -> None:
    reference = _enrol(demo, "+15550300070")
    _book(demo, reference, "week_4", "2026-12-22 09:30")
    clock.set(datetime(2026, 12, 22, 17, 0, tzinfo=UTC))
    staff_actions.set_status(demo, reference, "week_4", "attended", "staff:test")
    with demo.database.read() as connection:
        rows = connection.execute(
            select(scheduled_t.c.key, scheduled_t.c.due_at).where(scheduled_t.c.key.like("%after_visit%"))
        ).all()
    assert [(key.split(":")[2], _local(due)) for key, due in rows] == [("after_visit", "2026-12-25 11:00")]
