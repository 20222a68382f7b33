"""What reports read: the audit trail (the event log) and, where it has no event, the state tables.

Every read is limited to one cohort: everyone, or the participants first seen (created, by their
first message or by staff) on or after a day. Reads select ids, times, statuses and event payloads,
never an address or a message's words (MET-05), and reports publish aggregates only.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Select, func, select

from storage.repositories import audit_t, escalation_t, inbound_t, outbox_t, participant_t, scheduled_t, visit_t


def since_start(since: date | None, zone: ZoneInfo) -> datetime | None:
    """The first moment of a day in the study's time zone (None for no day)."""
    return None if since is None else datetime.combine(since, time(0), zone)


class EventLog:
    """Read-only queries for one cohort of participants, inside the caller's transaction."""

    def __init__(self, connection: Connection, since_at: datetime | None = None) -> None:
        """Read through `connection`, counting only participants first seen at or after `since_at`."""
        self.c = connection
        self.since_at = since_at

    def _within(self, query: Select[Any], column: Any) -> Select[Any]:
        """Limit a query to the cohort by its participant id column."""
        if self.since_at is None:
            return query
        cohort = select(participant_t.c.id).where(participant_t.c.created_at >= self.since_at)
        return query.where(column.in_(cohort))

    def participants(self) -> dict[int, datetime]:
        """Participant id → when they were first seen."""
        query = self._within(select(participant_t.c.id, participant_t.c.created_at), participant_t.c.id)
        return {row.id: row.created_at for row in self.c.execute(query)}

    def entries(self, *actions: str) -> list[Any]:
        """Audit entries with these actions, oldest first: (id, at, participant_id, action, new)."""
        query = select(audit_t.c.id, audit_t.c.at, audit_t.c.participant_id, audit_t.c.action, audit_t.c.new).where(
            audit_t.c.action.in_(actions), audit_t.c.participant_id.is_not(None)
        )
        return list(self.c.execute(self._within(query, audit_t.c.participant_id).order_by(audit_t.c.id)))

    def visits(self) -> list[Any]:
        """Every visit row of the cohort."""
        query = select(
            visit_t.c.id, visit_t.c.participant_id, visit_t.c.visit_key, visit_t.c.scheduled_at, visit_t.c.window_start,
            visit_t.c.window_end, visit_t.c.out_of_window, visit_t.c.status, visit_t.c.confirmed_at,
        )  # fmt: skip
        return list(self.c.execute(self._within(query, visit_t.c.participant_id).order_by(visit_t.c.id)))

    def scheduled_sent(self) -> list[Any]:
        """Scheduled messages that went out: (id, participant_id, kind, visit_id, sent_at)."""
        query = select(
            scheduled_t.c.id, scheduled_t.c.participant_id, scheduled_t.c.kind, scheduled_t.c.visit_id,
            scheduled_t.c.sent_at,
        ).where(scheduled_t.c.status == "sent")  # fmt: skip
        return list(self.c.execute(self._within(query, scheduled_t.c.participant_id).order_by(scheduled_t.c.id)))

    def escalations(self) -> list[Any]:
        """Every escalation of the cohort, with its times (never its details or the words behind it)."""
        query = select(
            escalation_t.c.id, escalation_t.c.participant_id, escalation_t.c.category, escalation_t.c.severity,
            escalation_t.c.status, escalation_t.c.received_at, escalation_t.c.created_at, escalation_t.c.ack_due_at,
            escalation_t.c.acknowledged_at, escalation_t.c.resolved_at,
        )  # fmt: skip
        return list(self.c.execute(self._within(query, escalation_t.c.participant_id).order_by(escalation_t.c.id)))

    def messages_in(self) -> int:
        """How many messages the cohort sent us."""
        query = self._within(select(func.count()).select_from(inbound_t), inbound_t.c.participant_id)
        return int(self.c.execute(query).scalar_one())

    def messages_out(self) -> int:
        """How many messages were queued for the cohort (staff alerts have no participant and are left out)."""
        query = self._within(
            select(func.count()).select_from(outbox_t).where(outbox_t.c.participant_id.is_not(None)),
            outbox_t.c.participant_id,
        )
        return int(self.c.execute(query).scalar_one())
