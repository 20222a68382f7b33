"""The queries of an erasure on request (PRIV-12), on a connection inside a transaction the caller owns.

Like storage/travel.py: SQLAlchemy Core, next to nothing else that changes with them. Which rows are
changed and why is decided in bot/erasure.py; these only do it, and say how many rows they touched.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, String, cast, func, select, update

from storage.repositories import address_t, escalation_t, inbound_t, outbox_t, outcome_t, scheduled_t

ERASED = "[erased]"
"""What an erased text reads as: it says that something was there, and nothing about it."""


class Erasure:
    """Overwrites a participant's data that is outside the trial record."""

    def __init__(self, connection: Connection) -> None:
        """Work inside the caller's transaction."""
        self.c = connection

    def waiting_inbound(self, participant_id: int) -> int:
        """How many of a participant's messages have not been acted on yet."""
        return int(
            self.c.execute(
                select(func.count())
                .select_from(inbound_t)
                .where(inbound_t.c.participant_id == participant_id, inbound_t.c.status == "pending")
            ).scalar_one()
        )

    def inbound_texts(self, participant_id: int) -> tuple[int, int]:
        """Erase the texts of a participant's messages, except those an escalation was opened for.

        Return (erased, kept).
        """
        behind_escalations = select(escalation_t.c.inbound_id).where(
            escalation_t.c.participant_id == participant_id, escalation_t.c.inbound_id.is_not(None)
        )
        mine = inbound_t.c.participant_id == participant_id
        erased = self.c.execute(
            update(inbound_t)
            .where(mine, inbound_t.c.id.not_in(behind_escalations), inbound_t.c.text != ERASED)
            .values(text=ERASED)
        ).rowcount
        kept = self.c.execute(
            select(func.count()).select_from(inbound_t).where(mine, inbound_t.c.id.in_(behind_escalations))
        ).scalar_one()
        return int(erased), int(kept)

    def outbox(self, participant_id: int, now: datetime) -> tuple[int, int]:
        """Erase the bodies, buttons and address of every message sent to a participant; the ones not
        sent yet never will be. Return (erased, stopped)."""
        mine = outbox_t.c.participant_id == participant_id
        stopped = self.c.execute(
            update(outbox_t)
            .where(mine, outbox_t.c.status.in_(["pending", "sending"]))
            .values(status="suppressed", error="erased on request", claimed_until=None, updated_at=now)
        ).rowcount
        erased = self.c.execute(
            update(outbox_t)
            .where(mine)
            .values(body=ERASED, buttons=None, address=_placeholder(outbox_t.c.id), updated_at=now)
        ).rowcount
        return int(erased), int(stopped)

    def addresses(self, participant_id: int, now: datetime) -> int:
        """Replace a participant's phone numbers and chat ids with `erased:<row id>`: unique, and
        unusable, so nobody can be messaged or recognised by them."""
        unreachable = func.coalesce(address_t.c.unreachable_at, now)
        return int(
            self.c.execute(
                update(address_t)
                .where(address_t.c.participant_id == participant_id)
                .values(address=_placeholder(address_t.c.id), unreachable_at=unreachable)
            ).rowcount
        )

    def scheduled(self, participant_id: int, now: datetime) -> tuple[int, int]:
        """Cancel a participant's planned messages, and erase the bodies, buttons and address of all of
        them. Return (cancelled, erased)."""
        mine = scheduled_t.c.participant_id == participant_id
        cancelled = self.c.execute(
            update(scheduled_t)
            .where(mine, scheduled_t.c.status == "pending")
            .values(status="cancelled", updated_at=now)
        ).rowcount
        erased = self.c.execute(
            update(scheduled_t)
            .where(mine)
            .values(body=ERASED, buttons=None, address=_placeholder(scheduled_t.c.id), awaiting_reply=False,
                    updated_at=now)
        ).rowcount  # fmt: skip
        return int(cancelled), int(erased)

    def prescreen_answers(self, participant_id: int) -> int:
        """Clear the answers of a participant's prescreens; outcomes and reason codes stay (PRIV-09)."""
        return int(
            self.c.execute(update(outcome_t).where(outcome_t.c.participant_id == participant_id).values(answers={}))
            .rowcount
        )  # fmt: skip


def _placeholder(row_id: object) -> object:
    """`erased:<row id>` as SQL, so each row gets its own (the addresses are unique per channel)."""
    return "erased:" + cast(row_id, String)
