"""The queries on travel requests (TRV-02), on a connection inside a transaction the caller owns.

Like the repositories in storage/repositories.py: SQLAlchemy Core, one class per table. The travel
feature's queries sit here together, next to nothing else that changes with them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, insert, select, update

from bot.domain import JSONDict
from storage.repositories import participant_t, visit_t
from storage.tables import TravelRequest

travel_t = TravelRequest.__table__  # type: ignore[attr-defined]


class TravelRequests:
    """Requests for help with travel to a visit, and what staff decided about them."""

    def __init__(self, connection: Connection) -> None:
        """Work inside the caller's transaction."""
        self.c = connection

    def add(self, *, participant_id: int, visit_id: int | None, details: JSONDict, now: datetime) -> int:
        """Store a submitted request and return its id."""
        return int(
            self.c.execute(
                insert(travel_t)
                .values(participant_id=participant_id, visit_id=visit_id, details=details, status="submitted",
                        created_at=now, updated_at=now)
                .returning(travel_t.c.id)
            ).scalar_one()
        )  # fmt: skip

    def update(self, request_id: int, now: datetime, **values: Any) -> None:
        """Change a request (its status, note or escalation)."""
        self.c.execute(update(travel_t).where(travel_t.c.id == request_id).values(updated_at=now, **values))

    def get(self, request_id: int) -> Row[Any] | None:
        """One request, with its participant's code and its visit's key, time and site."""
        return self.c.execute(self._joined().where(travel_t.c.id == request_id)).first()

    def listing(self, status: str | None = None, limit: int = 500) -> list[Row[Any]]:
        """Requests, newest first, each with its participant's code and its visit."""
        query = self._joined().order_by(travel_t.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(travel_t.c.status == status)
        return list(self.c.execute(query))

    @staticmethod
    def _joined() -> Select[Any]:
        return select(
            travel_t,
            participant_t.c.code,
            participant_t.c.timezone,
            visit_t.c.visit_key,
            visit_t.c.scheduled_at,
            visit_t.c.site_id,
            visit_t.c.status.label("visit_status"),
        ).select_from(
            travel_t.join(participant_t, participant_t.c.id == travel_t.c.participant_id).outerjoin(
                visit_t, visit_t.c.id == travel_t.c.visit_id
            )
        )
