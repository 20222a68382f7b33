"""Travel requests after the patient confirms them: the row, its escalation, and staff decisions (TRV-01/02).

The bot only collects a request; staff approve, book or deny it. The patient is told the new status
in a neutral sentence: never an itinerary, a place or an amount (TRV-02, CON-11, PRIV-02/03). The
details reach staff through `trialbot travel show`, not through any message.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.domain import MessageCreated, Part, TravelRequested
from storage.database import Database
from storage.repositories import Repositories
from storage.travel import TravelRequests

if TYPE_CHECKING:
    from bot.bootstrap import App

CATEGORY = "travel"
STATUSES = ("submitted", "approved", "booked", "denied")
NEXT_STATUSES: dict[str, frozenset[str]] = {
    "submitted": frozenset({"approved", "booked", "denied"}),
    "approved": frozenset({"booked", "denied"}),
    "booked": frozenset(),
    "denied": frozenset(),
}
"""Which status may follow which; booked and denied are final."""
PURPOSE = "travel"
MAX_NOTE = 1000


class TravelError(Exception):
    """A staff action on a travel request that cannot be done as asked; the message says why."""


def status_message(status: str) -> str:
    """The id of the neutral message that tells the patient a request's new status."""
    return f"travel.status.{status}"


def record_travel_request(
    repos: Repositories, participant_id: int, event: TravelRequested, inbound_id: int | None, now: datetime
) -> int:
    """Store a confirmed request, open a travel escalation for it, and audit it; return the request's id."""
    travel = TravelRequests(repos.connection)
    details = dict(event.details)
    request_id = travel.add(participant_id=participant_id, visit_id=event.visit_id, details=details, now=now)
    escalation_id = repos.escalations.open(
        participant_id=participant_id, category=CATEGORY, severity="normal", at=now, inbound_id=inbound_id,
        details={"travel_request_id": request_id},
    )  # fmt: skip
    travel.update(request_id, now, escalation_id=escalation_id)
    repos.audit.append(
        at=now, actor="participant", action="travel_request_submitted", participant_id=participant_id,
        inbound_id=inbound_id, new=details,
    )  # fmt: skip
    return request_id


def update_travel_request(app: App, request_id: int, status: str, note: str | None, actor: str) -> dict[str, Any]:
    """Move a request to a new status, audit it and tell the patient neutrally; return the request as staff see it."""
    if status not in STATUSES or status == "submitted":
        raise TravelError(f"status {status!r} is not one of approved, booked, denied")
    if note is not None:
        note = " ".join(note.split())[:MAX_NOTE] or None
    now = app.clock.now()
    with app.database.write() as connection:
        repos = Repositories(connection)
        travel = TravelRequests(connection)
        row = travel.get(request_id)
        if row is None:
            raise TravelError(f"no travel request {request_id}")
        if status not in NEXT_STATUSES[row.status]:
            final = " (it is final)" if not NEXT_STATUSES[row.status] else ""
            raise TravelError(f"travel request {request_id} is {row.status}{final}; it cannot become {status}")
        values: dict[str, Any] = {"status": status}
        if note is not None:
            values["note"] = note
        travel.update(request_id, now, **values)
        new: dict[str, Any] = {"travel_request_id": request_id, "status": status}
        if note is not None:
            new["note"] = note
        repos.audit.append(
            at=now, actor=actor, action="travel_request_updated", participant_id=row.participant_id,
            old={"status": row.status}, new=new,
        )  # fmt: skip
        messaged = _tell_participant(app, repos, row.participant_id, request_id, status, now)
        updated = travel.get(request_id)
    assert updated is not None
    view = request_view(updated)
    view["messaged"] = messaged
    return view


def _tell_participant(
    app: App, repos: Repositories, participant_id: int, request_id: int, status: str, now: datetime
) -> bool:
    """Queue the status message on the address the participant last wrote from; False if it cannot go."""
    participant = repos.participants.get(participant_id)
    if participant.opted_out:
        return False  # STOP means no more texts; staff call instead
    addresses = [a for a in repos.participants.addresses(participant_id) if a.unreachable_at is None]
    if not addresses:
        return False
    channel = repos.inbound.latest_channel(participant_id) or addresses[-1].channel
    address = next((a for a in reversed(addresses) if a.channel == channel), addresses[-1])
    version = repos.conversations.load(participant_id).version
    message = MessageCreated((Part(status_message(status)),), purpose=PURPOSE)
    queued = app.service.queue_messages(
        repos, participant, address.channel, address.address, [message], f"travel:{request_id}:{status}", now,
        version,
    )  # fmt: skip
    return bool(queued)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def request_view(row: Any) -> dict[str, Any]:
    """A request as staff see it, with every detail the patient gave (for staff only)."""
    visit = None
    if row.visit_id is not None:
        visit = {
            "id": row.visit_id,
            "visit": row.visit_key,
            "status": row.visit_status,
            "site": row.site_id,
            "scheduled_local": (
                row.scheduled_at.astimezone(ZoneInfo(row.timezone)).isoformat() if row.scheduled_at else None
            ),
        }
    return {
        "id": row.id,
        "participant": row.code,
        "status": row.status,
        "visit": visit,
        "details": dict(row.details or {}),
        "note": row.note,
        "escalation_id": row.escalation_id,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
    }


def list_requests(database: Database, status: str | None = None) -> list[dict[str, Any]]:
    """Every request (or those with one status), newest first, as staff see them."""
    with database.read() as connection:
        return [request_view(r) for r in TravelRequests(connection).listing(status)]


def get_request(database: Database, request_id: int) -> dict[str, Any]:
    """One request as staff see it; TravelError if there is none."""
    with database.read() as connection:
        row = TravelRequests(connection).get(request_id)
    if row is None:
        raise TravelError(f"no travel request {request_id}")
    return request_view(row)
