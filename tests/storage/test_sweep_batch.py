"""One sweep batch in SQL: what it chooses, what it queues, and that a row already queued is not queued twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, text

from storage.database import Database
from storage.migrate import ensure_current
from storage.repositories import Caps, Repositories, address_t, outbox_t, participant_t, scheduled_t

DUE = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
CAPS = Caps(per_day=3, per_week=10)


def _seed(database: Database, people: int, each: int) -> list[int]:
    """`people` opted-in SMS participants with `each` reminders due; returns the reminder ids."""
    with database.write() as connection:
        for pid in range(1, people + 1):
            connection.execute(
                insert(participant_t).values(id=pid, code=f"S{pid}", study_id="sunrise-demo", locale="en",
                                             timezone="America/New_York", purpose_opt_outs={}, preferences={},
                                             created_at=DUE, updated_at=DUE, opted_in_at=DUE)
            )  # fmt: skip
            address = f"+1555010{pid:04d}"
            connection.execute(
                insert(address_t).values(participant_id=pid, channel="sms", address=address, created_at=DUE)
            )
            for n in range(each):
                connection.execute(
                    insert(scheduled_t).values(key=f"t:{pid}:{n}", participant_id=pid, kind="reminder",
                                               purpose="reminder", capped=True, data={}, channel="sms",
                                               address=address, body=f"Reminder {n}", status="pending",
                                               due_at=DUE + timedelta(minutes=n), send_until=DUE + timedelta(hours=8),
                                               day_number=DUE.date().toordinal(), awaiting_reply=False,
                                               created_at=DUE, updated_at=DUE)
                )  # fmt: skip
        return list(connection.execute(select(scheduled_t.c.id).order_by(scheduled_t.c.id)).scalars())


def _outbox_keys(database: Database) -> list[str]:
    with database.read() as connection:
        return sorted(connection.execute(select(outbox_t.c.idempotency_key)).scalars())


def test_one_batch_sends_the_earliest_per_participant_and_counts_only_new_outbox_rows(database_url: str) -> None:
    database = Database(database_url)
    try:
        ensure_current(database)
        ids = _seed(database, people=3, each=2)  # per participant: ids[2k] due first, ids[2k+1] a minute later
        with database.write() as connection:  # the first participant's first reminder is in the outbox already
            connection.execute(
                insert(outbox_t).values(idempotency_key=f"sched:{ids[0]}", participant_id=1, channel="sms",
                                        address="+15550100001", body="Reminder 0", purpose="reminder",
                                        status="sent", attempts=1, next_attempt_at=DUE, created_at=DUE,
                                        updated_at=DUE)
            )  # fmt: skip
        at = DUE + timedelta(minutes=5)
        with database.write() as connection:
            chosen, queued = Repositories(connection).schedule.send_due(at, CAPS, limit=100)
        assert (chosen, queued) == (3, 2)
        assert _outbox_keys(database) == sorted(f"sched:{i}" for i in (ids[0], ids[2], ids[4]))

        with database.write() as connection:  # the next batch takes each participant's second reminder
            chosen, queued = Repositories(connection).schedule.send_due(at, CAPS, limit=100)
        assert (chosen, queued) == (3, 3)
        with database.write() as connection:
            assert Repositories(connection).schedule.send_due(at, CAPS, limit=100) == (0, 0)
        with database.read() as connection:
            statuses = connection.execute(select(scheduled_t.c.status, func.count()).group_by(scheduled_t.c.status))
            assert {row.status: row[1] for row in statuses} == {"sent": 6}
    finally:
        database.dispose()


def test_cap_counts_use_the_participant_index_whatever_the_statistics(database_url: str) -> None:
    """Statistics taken when nothing had been sent made PostgreSQL count sent rows through an index on
    (status, due_at), reading every sent row for each candidate: a 100,000-row sweep took minutes. The plan
    must not depend on the statistics of the moment."""
    database = Database(database_url)
    try:
        if database.is_sqlite:
            pytest.skip("PostgreSQL's planner; SQLite keeps no statistics here")
        ensure_current(database)
        _seed(database, people=2000, each=1)
        with database.write() as connection:
            connection.execute(text("ANALYZE scheduled_message"))  # every row pending: "sent" looks rare
            query = Repositories(connection).schedule._eligible(DUE + timedelta(minutes=5), CAPS).limit(100)
            compiled = query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
            plan = "\n".join(connection.execute(text(f"EXPLAIN {compiled}")).scalars())
        sent_lookups = [line for line in plan.splitlines() if "scheduled_message sent" in line]
        assert len(sent_lookups) == 2, plan
        assert all("ix_scheduled_participant" in line for line in sent_lookups), plan
    finally:
        database.dispose()


def test_postgresql_connections_do_not_compile_statements_even_after_a_rollback(database_url: str) -> None:
    """JIT compiling took 0.3 s of each 0.5 s sweep batch; every pooled connection has it off, and the
    pool's rollback when a connection is returned does not turn it back on."""
    database = Database(database_url)
    try:
        if database.is_sqlite:
            pytest.skip("a PostgreSQL setting")
        for _ in range(3):
            with database.read() as connection:
                assert connection.execute(text("SHOW jit")).scalar_one() == "off"
        with database.write() as connection, connection.begin_nested() as savepoint:
            connection.execute(text("SELECT 1"))
            savepoint.rollback()
        connection = database.engine.connect()
        connection.execute(text("SELECT 1"))
        connection.rollback()
        connection.close()
        with database.write() as connection:
            assert connection.execute(text("SHOW jit")).scalar_one() == "off"
    finally:
        database.dispose()


def test_skipping_for_stop_takes_only_due_pending_rows_of_people_who_said_stop(database_url: str) -> None:
    database = Database(database_url)
    try:
        ensure_current(database)
        _seed(database, people=5, each=2)  # per person: one due at DUE, one a minute later
        with database.write() as connection:
            connection.execute(participant_t.update().where(participant_t.c.id.in_([1, 3, 4])).values(opted_out_at=DUE))
        at = DUE + timedelta(seconds=30)  # each person's first reminder is due, the second is not
        with database.write() as connection:
            skipped = Repositories(connection).schedule.skip_opted_out(at, chunk=2)  # 3 people: two chunks
        assert skipped == 3
        with database.read() as connection:
            rows = connection.execute(
                select(scheduled_t.c.participant_id, scheduled_t.c.status).order_by(scheduled_t.c.id)
            ).all()
        assert [(p, s) for p, s in rows if s == "skipped"] == [(1, "skipped"), (3, "skipped"), (4, "skipped")]
        assert sum(1 for _, s in rows if s == "pending") == 7  # the later ones, and everyone else's
        with database.write() as connection:  # nobody else to skip: a second pass does nothing
            assert Repositories(connection).schedule.skip_opted_out(at) == 0
    finally:
        database.dispose()
