"""Bulk set-up data: participants with conversations in progress (copied from one real conversation
driven through the pipeline), and participants with booked visits.

Rows are inserted with explicit ids in large batches, as tests/e2e/test_sweep_workers.py does; on
PostgreSQL the id sequences are moved past them afterwards so the app's own inserts do not collide.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, insert, select, text

from bot.domain import InboundMessage
from storage.database import Database
from storage.repositories import (
    address_t,
    audit_t,
    conversation_t,
    inbound_t,
    outbox_t,
    participant_t,
)

CHUNK = 5000
HISTORY_TABLES = (inbound_t, outbox_t, audit_t)


@dataclass
class Template:
    """One real participant's rows, to copy: mid-prescreen, with their messages and audit trail."""

    participant: dict[str, Any]
    conversation: dict[str, Any]
    history: dict[str, list[dict[str, Any]]]
    finished: dict[str, Any]  # a conversation row of someone who ended the flows (snapshot without frames)


def make_template(url: str, steps: Sequence[str] = ("Hi", "yes", "yes", "52")) -> Template:
    """Talk one SMS patient through `steps` in this process (the real pipeline, no network), then read
    their rows; the conversation then waits for the next prescreen answer."""
    from bot.bootstrap import build_app

    app = build_app(url)
    try:
        now = datetime.now(UTC)
        for number, step in enumerate(steps):
            app.service.handle(InboundMessage("sms", "+15569999999", step, f"SMtemplate{number}", now))
        with app.database.read() as connection:
            pid = connection.execute(
                select(address_t.c.participant_id).where(address_t.c.address == "+15569999999")
            ).scalar_one()
            participant = dict(
                connection.execute(select(participant_t).where(participant_t.c.id == pid)).one()._mapping
            )
            conversation = dict(
                connection.execute(select(conversation_t).where(conversation_t.c.participant_id == pid)).one()._mapping
            )
            history = {
                table.name: [
                    dict(r._mapping)
                    for r in connection.execute(select(table).where(table.c.participant_id == pid).order_by(table.c.id))
                ]
                for table in HISTORY_TABLES
            }
    finally:
        app.database.dispose()
    finished = {**conversation, "flow": None, "state": None, "snapshot": {**conversation["snapshot"], "frames": []}}
    return Template(participant, conversation, history, finished)


def _chunks(rows: Iterator[dict[str, Any]], size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _next_id(database: Database, table: Any) -> int:
    with database.read() as connection:
        return int(connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1


def _fix_sequences(database: Database, tables: Sequence[Any]) -> None:
    """After a bulk load on PostgreSQL: sequences past the loaded ids, and fresh planner statistics (what
    autovacuum would gather within a minute or so of such a load in a real deployment)."""
    if database.is_sqlite:
        return
    with database.write() as connection:
        for table in tables:
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table.name}), false)"
                )
            )
        for table in tables:
            connection.execute(text(f"ANALYZE {table.name}"))


def seed_participants(
    database: Database,
    template: Template,
    count: int,
    *,
    in_progress: int,
    with_history: bool,
    address_base: int = 1_600_000_000,
    anchor: date | None = None,
) -> list[int]:
    """`count` SMS participants who agreed to texts; the first `in_progress` are mid-prescreen (with a
    copy of the template's messages and audit trail when `with_history`), the others have finished.
    Returns the new participant ids."""
    now = datetime.now(UTC)
    first_pid = _next_id(database, participant_t)
    pids = list(range(first_pid, first_pid + count))
    base_participant = {k: v for k, v in template.participant.items() if k != "id"}

    def people() -> Iterator[dict[str, Any]]:
        for pid in pids:
            yield {
                **base_participant,
                "id": pid,
                "code": f"BENCH{pid}",
                "opted_in_at": now,
                "created_at": now,
                "updated_at": now,
                "anchor_date": anchor,
                "enrolled_at": now if anchor else None,
            }

    def addresses() -> Iterator[dict[str, Any]]:
        for n, pid in enumerate(pids):
            yield {"participant_id": pid, "channel": "sms", "address": f"+1{address_base + n}", "created_at": now}

    def conversations() -> Iterator[dict[str, Any]]:
        for n, pid in enumerate(pids):
            source = template.conversation if n < in_progress else template.finished
            yield {**source, "participant_id": pid}

    with database.write() as connection:
        for batch in _chunks(people()):
            connection.execute(insert(participant_t), batch)
        for batch in _chunks(addresses()):
            connection.execute(insert(address_t), batch)
        for batch in _chunks(conversations()):
            connection.execute(insert(conversation_t), batch)
    if with_history and in_progress:
        _copy_history(database, template, pids[:in_progress], address_base)
    _fix_sequences(database, [participant_t, address_t])
    return pids


def _copy_history(database: Database, template: Template, pids: Sequence[int], address_base: int) -> None:
    """Each participant gets a copy of the template's inbound, outbox and audit rows (ids remapped)."""
    inbound_rows = template.history[inbound_t.name]
    outbox_rows = template.history[outbox_t.name]
    audit_rows = template.history[audit_t.name]
    next_inbound, next_outbox, next_audit = (_next_id(database, t) for t in HISTORY_TABLES)

    def rows_for(kind: str) -> Iterator[dict[str, Any]]:
        inbound_id, outbox_id, audit_id = next_inbound, next_outbox, next_audit
        for n, pid in enumerate(pids):
            address = f"+1{address_base + n}"
            mapping = {row["id"]: inbound_id + i for i, row in enumerate(inbound_rows)}
            if kind == "inbound":
                for i, row in enumerate(inbound_rows):
                    yield {
                        **row,
                        "id": inbound_id + i,
                        "participant_id": pid,
                        "status": "processed",
                        "provider_message_id": f"SMseed{pid}x{i}",
                    }
            elif kind == "outbox":
                for i, row in enumerate(outbox_rows):
                    # Sent long ago: the copies must not give the dispatcher work.
                    yield {
                        **row,
                        "id": outbox_id + i,
                        "participant_id": pid,
                        "address": address,
                        "idempotency_key": f"seed:{pid}:{i}",
                        "inbound_id": mapping.get(row["inbound_id"]),
                        "provider_message_id": f"SMseedout{pid}x{i}",
                        "buttons": None,
                        "status": "delivered",
                        "provider_status": "delivered",
                        "sent_at": row["created_at"],
                    }
            else:
                for i, row in enumerate(audit_rows):
                    yield {
                        **row,
                        "id": audit_id + i,
                        "participant_id": pid,
                        "inbound_id": mapping.get(row["inbound_id"]),
                        "new": copy.copy(row["new"]),
                    }
            inbound_id += len(inbound_rows)
            outbox_id += len(outbox_rows)
            audit_id += len(audit_rows)

    with database.write() as connection:
        for kind, table in (("inbound", inbound_t), ("outbox", outbox_t), ("audit", audit_t)):
            for batch in _chunks(rows_for(kind)):
                connection.execute(insert(table), batch)
    _fix_sequences(database, list(HISTORY_TABLES))
