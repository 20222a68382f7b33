"""RELIABILITY T6: 10,000 reminders due in the same minute, swept by 2 worker processes on PostgreSQL,
one killed mid-sweep: exactly 10,000 outbox rows, 0 duplicates.

Two real `trialbot worker --once` processes share the work through `FOR UPDATE SKIP LOCKED`; the
first is SIGKILLed while the outbox is partly filled, the second finishes, and a restarted worker
picks up whatever the killed one had locked. On SQLite (one process by design) a smaller
single-process variant checks the same counts. Run with `pytest -s` to see the timings.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text

from bot.bootstrap import App, build_scheduler
from storage.database import Database
from storage.repositories import address_t, conversation_t, outbox_t, participant_t, scheduled_t

TRIALBOT = str(Path(sys.executable).with_name("trialbot"))
PG_URL = os.environ.get("TRIALBOT_TEST_DATABASE_URL", "").strip()
pytestmark = pytest.mark.slow

T = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # every reminder falls due in this minute (10:00 in New York)
SWEEP_AT = T + timedelta(minutes=1)
BATCH = 200  # rows per sweep transaction, small enough for the kill to land between and inside batches


def seed(database: Database, count: int) -> None:
    """`count` participants who agreed to texts, each with an SMS address, a conversation and one reminder due
    at T, in bulk."""
    people = [
        {"code": f"P-{i:06d}", "study_id": "sunrise-demo", "locale": "en", "timezone": "America/New_York",
         "purpose_opt_outs": {}, "preferences": {}, "created_at": T, "updated_at": T, "opted_in_at": T}
        for i in range(1, count + 1)
    ]  # fmt: skip
    with database.write() as connection:
        ids = list(
            connection.execute(
                insert(participant_t).returning(participant_t.c.id, sort_by_parameter_order=True), people
            ).scalars()
        )
        phones = {pid: f"+1555{i:07d}" for i, pid in enumerate(ids, start=1)}
        connection.execute(
            insert(address_t),
            [
                {"participant_id": pid, "channel": "sms", "address": phone, "created_at": T}
                for pid, phone in phones.items()
            ],
        )
        connection.execute(
            insert(conversation_t),
            [{"participant_id": pid, "snapshot": {}, "version": 0, "updated_at": T} for pid in ids],
        )
        connection.execute(
            insert(scheduled_t),
            [
                {"key": f"test:{i}", "participant_id": pid, "kind": "reminder", "purpose": "reminder", "capped": True,
                 "flow": "visit_reminder", "data": {}, "channel": "sms", "address": phones[pid],
                 "body": f"Reminder: your study visit at Riverside Clinic is Tuesday, December 1 at 9:30 AM. ({i})",
                 "due_at": T + timedelta(seconds=i % 60), "send_until": T + timedelta(hours=10),
                 "day_number": T.date().toordinal(), "status": "pending", "awaiting_reply": False,
                 "reply_until": T + timedelta(days=1), "created_at": T, "updated_at": T}
                for i, pid in enumerate(ids, start=1)
            ],
        )  # fmt: skip


def scalar(database: Database, statement: Any) -> Any:
    with database.read() as connection:
        return connection.execute(statement).scalar_one()


def check_every_reminder_sent_once(database: Database, count: int) -> None:
    """Exactly `count` outbox rows under `sched:<id>`, every scheduled row sent, nobody messaged twice."""
    with database.read() as connection:
        outbox = connection.execute(select(outbox_t.c.idempotency_key, outbox_t.c.participant_id)).all()
        scheduled = connection.execute(select(scheduled_t.c.id, scheduled_t.c.status)).all()
        twice = connection.execute(
            select(outbox_t.c.participant_id).group_by(outbox_t.c.participant_id).having(func.count() > 1)
        ).all()
    assert len(outbox) == count
    assert all(key.startswith("sched:") for key, _ in outbox)
    assert {key for key, _ in outbox} == {f"sched:{row.id}" for row in scheduled}  # no duplicates, none missing
    assert len({pid for _, pid in outbox}) == count
    assert twice == []
    assert {row.status for row in scheduled} == {"sent"}


def test_one_sweep_sends_2000_reminders_due_in_the_same_minute(app: App) -> None:
    """The single-process variant (SQLite runs one worker): one sweep, every reminder once."""
    seed(app.database, 2000)
    started = time.monotonic()
    report = build_scheduler(app).sweep(SWEEP_AT)
    print(f"\none sweep of 2,000 reminders on {app.database.engine.dialect.name}: {time.monotonic() - started:.2f} s")
    assert report.sent == 2000
    assert report.errors == []
    check_every_reminder_sent_once(app.database, 2000)
    again = build_scheduler(app).sweep(SWEEP_AT)
    assert again.sent == 0
    check_every_reminder_sent_once(app.database, 2000)


def _worker(url: str, name: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALBOT_")}
    env.update(TRIALBOT_DATABASE_URL=url, TRIALBOT_SWEEP_BATCH=str(BATCH), PGAPPNAME=name)  # libpq names the session
    return subprocess.Popen(
        [TRIALBOT, "worker", "--once", "--at", SWEEP_AT.isoformat()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def _session(database: Database, name: str) -> tuple[str | None, str | None]:
    """A worker's current transaction id (while it has one) and what its session is doing."""
    with database.read() as connection:
        query = text("SELECT backend_xid::text, state FROM pg_stat_activity WHERE application_name = :n")
        row = connection.execute(query.bindparams(n=name)).first()
    return (row[0], row[1]) if row is not None else (None, None)


def _outbox_rows(database: Database, xids: set[str]) -> tuple[int, int]:
    """Committed outbox rows: all of them, and those inserted by these transactions (one snapshot)."""
    query = text("SELECT count(*), count(*) FILTER (WHERE xmin::text = ANY(:xids)) FROM outbox_message").bindparams(
        xids=sorted(xids)
    )
    with database.read() as connection:
        everyone, own = connection.execute(query).one()
    return int(everyone), int(own)


def _sessions(database: Database, name: str) -> int:
    return int(
        scalar(database, text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n").bindparams(n=name))
    )


@pytest.mark.skipif(
    not PG_URL, reason="needs PostgreSQL (set TRIALBOT_TEST_DATABASE_URL): several workers share a sweep only there"
)
@pytest.mark.timeout(90)
def test_two_workers_one_killed_mid_sweep_send_10000_reminders_once(database_url: str) -> None:
    total = 10_000
    database = Database(database_url)
    workers: list[subprocess.Popen[str]] = []
    try:
        started = time.monotonic()
        seed(database, total)
        print(f"\nseeded {total:,} due reminders in {time.monotonic() - started:.2f} s")
        count_outbox = select(func.count()).select_from(outbox_t)

        started = time.monotonic()
        first, second = _worker(database_url, "t6-worker-1"), _worker(database_url, "t6-worker-2")
        workers += [first, second]
        # Worker 1's transactions (their ids, seen in pg_stat_activity) and the outbox rows they wrote
        # (xmin): it is killed once it and worker 2 have both committed batches, while the outbox is not full.
        at_kill, own_at_kill, state, first_xids = None, 0, None, set[str]()
        while time.monotonic() - started < 60 and first.poll() is None:
            xid, state = _session(database, "t6-worker-1")
            if xid is not None:
                first_xids.add(xid)
            sent, own = _outbox_rows(database, first_xids)
            if own >= BATCH and sent - own >= BATCH and sent < total:  # both have committed batches; not done
                first.send_signal(signal.SIGKILL)
                at_kill, own_at_kill = sent, own
                break
            time.sleep(0.002)
        killed_after = time.monotonic() - started
        _, first_err = first.communicate(timeout=30)
        assert first.returncode == -signal.SIGKILL, f"worker 1 ended on its own ({first.returncode}): {first_err}"
        assert at_kill is not None
        assert 0 < at_kill < total

        out, err = second.communicate(timeout=60)
        second_took = time.monotonic() - started
        assert second.returncode == 0, err
        second_report = json.loads(out)
        after_two = int(scalar(database, count_outbox))

        # The killed worker's session goes away with its open batch rolled back; then a restart.
        deadline = time.monotonic() + 10
        while _sessions(database, "t6-worker-1") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _sessions(database, "t6-worker-1") == 0
        restart_started = time.monotonic()
        restart = subprocess.run(
            [TRIALBOT, "worker", "--once", "--at", SWEEP_AT.isoformat()],
            capture_output=True, text=True, timeout=60, check=False,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("TRIALBOT_")},
                 "TRIALBOT_DATABASE_URL": database_url},
        )  # fmt: skip
        restart_took = time.monotonic() - restart_started
        assert restart.returncode == 0, restart.stderr
        restart_report = json.loads(restart.stdout)

        by_first = total - second_report["sent"] - restart_report["sent"]  # what worker 1 committed before it died
        print(
            f"worker 1 killed ({state}) after {killed_after:.2f} s with {at_kill:,} outbox rows ({by_first:,} its own); "
            f"worker 2 finished after {second_took:.2f} s (sent {second_report['sent']:,}, outbox then {after_two:,}); "
            f"restart took {restart_took:.2f} s (sent {restart_report['sent']:,})"
        )
        assert after_two + restart_report["sent"] == total
        assert own_at_kill <= by_first < total  # it had done part of the sweep, not all of it
        check_every_reminder_sent_once(database, total)
        assert int(scalar(database, select(func.count()).select_from(scheduled_t))) == total
    finally:
        for worker in workers:
            if worker.poll() is None:  # a failed assertion must not leave a worker behind
                worker.kill()
            worker.communicate()
        database.dispose()
