"""Scheduler figures: planning visit reminders the way the product does it, and one sweep of 100,000.

Planning goes through `trialbot visit import` (bot.staff_actions.import_csv: 100 rows per transaction,
a savepoint each, each booking a visit and planning its booking note and reminders through bot.planning). The sweep is
`build_scheduler(app).sweep(at)` over 100,000 reminders due at once, set up in bulk.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from benchmarks.common import fresh_database
from benchmarks.seed import CHUNK, _chunks, _fix_sequences, make_template, seed_participants
from storage.database import Database
from storage.repositories import address_t, outbox_t, participant_t, scheduled_t

VISIT = "week_4"  # day 29 of the schedule: a visit four weeks out, so every reminder is still ahead


def plan_reminders(kind: str, total: int, measured: int) -> dict[str, Any]:
    """Book `measured` visits through import_csv on `measured` enrolled participants; extrapolate to `total`."""
    from bot.bootstrap import build_app
    from bot.staff_actions import import_csv

    url = fresh_database(kind)
    template = make_template(url)
    database = Database(url)
    anchor = date.today()
    try:
        pids = seed_participants(
            database, template, measured, in_progress=0, with_history=False, anchor=anchor, address_base=1_700_000_000
        )
        with database.read() as connection:
            codes = dict(connection.execute(select(participant_t.c.id, participant_t.c.code)).all())
    finally:
        database.dispose()
    day = anchor + timedelta(days=28)
    rows = [
        (n + 2, {"participant": codes[pid], "visit": VISIT, "date": day.isoformat(), "time": "09:30"})
        for n, pid in enumerate(pids)
    ]
    app = build_app(url)
    try:
        started = time.perf_counter()
        report = import_csv(app, rows, "bench")
        seconds = time.perf_counter() - started
        with app.database.read() as connection:
            planned = int(connection.execute(select(func.count()).select_from(scheduled_t)).scalar_one())
    finally:
        app.database.dispose()
    if report.errors:
        raise RuntimeError(f"import refused rows: {report.errors[:3]}")
    per_visit = seconds / measured
    return {
        "backend": kind,
        "how": "trialbot visit import (staff_actions.import_csv: 100 visits per transaction)",
        "visits_measured": measured,
        "scheduled_rows": planned,
        "seconds_measured": round(seconds, 2),
        "ms_per_visit": round(per_visit * 1000, 2),
        "visits_target": total,
        "seconds_for_target": round(per_visit * total, 1),
        "extrapolated": measured < total,
    }


def seed_due(database: Database, count: int, due: datetime) -> None:
    """`count` opted-in SMS participants, each with one reminder due at `due` (as test_sweep_workers.seed)."""
    with database.read() as connection:
        first = int(connection.execute(select(func.coalesce(func.max(participant_t.c.id), 0))).scalar_one()) + 1
    pids = range(first, first + count)
    people = (
        {
            "id": pid,
            "code": f"D{pid}",
            "study_id": "sunrise-demo",
            "locale": "en",
            "timezone": "America/New_York",
            "purpose_opt_outs": {},
            "preferences": {},
            "created_at": due,
            "updated_at": due,
            "opted_in_at": due,
        }
        for pid in pids
    )
    phones = (
        {"participant_id": pid, "channel": "sms", "address": f"+1558{pid:07d}", "created_at": due} for pid in pids
    )
    reminders = (
        {
            "key": f"bench:{pid}",
            "participant_id": pid,
            "kind": "reminder",
            "purpose": "reminder",
            "capped": True,
            "flow": "visit_reminder",
            "data": {},
            "channel": "sms",
            "address": f"+1558{pid:07d}",
            "body": f"Reminder: your study visit at Riverside Clinic is Tuesday, December 1 at 9:30 AM. ({pid})",
            "due_at": due + timedelta(seconds=pid % 60),
            "send_until": due + timedelta(hours=10),
            "day_number": due.date().toordinal(),
            "status": "pending",
            "awaiting_reply": False,
            "reply_until": due + timedelta(days=1),
            "created_at": due,
            "updated_at": due,
        }
        for pid in pids
    )
    with database.write() as connection:
        for table, rows in ((participant_t, people), (address_t, phones), (scheduled_t, reminders)):
            for batch in _chunks(iter(rows), CHUNK):
                connection.execute(insert(table), batch)
    _fix_sequences(database, [participant_t, address_t, scheduled_t])


def sweep(kind: str, count: int) -> dict[str, Any]:
    """Time one sweep that turns `count` due reminders into outbox rows."""
    from bot.bootstrap import build_app, build_scheduler
    from bot.clock import SettableClock

    due = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 10:00 in New York: inside the allowed hours
    at = due + timedelta(minutes=1)
    url = fresh_database(kind)
    database = Database(url)
    try:
        started = time.perf_counter()
        seed_due(database, count, due)
        seeded = time.perf_counter() - started
    finally:
        database.dispose()
    app = build_app(url, clock=SettableClock(at))
    try:
        scheduler = build_scheduler(app)
        started = time.perf_counter()
        report = scheduler.sweep(at)
        seconds = time.perf_counter() - started
        with app.database.read() as connection:
            outbox = int(connection.execute(select(func.count()).select_from(outbox_t)).scalar_one())
    finally:
        app.database.dispose()
    return {
        "backend": kind,
        "due": count,
        "sent": report.sent,
        "outbox_rows": outbox,
        "sweep_s": round(seconds, 2),
        "setup_s": round(seeded, 1),
        "errors": report.errors[:5],
    }
