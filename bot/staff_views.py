"""What staff see: one participant in full, and the prescreen funnel, read from the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from bot.domain import Participant
from storage.repositories import Repositories, inbound_t, participant_t


class ParticipantNotFoundError(Exception):
    """No participant matches the reference."""


def find_participant(repos: Repositories, reference: str) -> Participant:
    """A participant by code (P-7K3QX9) or by channel address (sms:+15550100, console:alice)."""
    text = reference.strip()
    if ":" in text:
        channel, address = text.split(":", 1)
        found = repos.participants.by_address(channel, address)
    else:
        found = repos.participants.by_code(text)
    if found is None:
        raise ParticipantNotFoundError(f"no participant {reference!r} (give a code like P-7K3QX9 or channel:address)")
    return found


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def participant_view(connection: Connection, reference: str) -> dict[str, Any]:
    """Everything staff need about one participant, as JSON-ready data."""
    repos = Repositories(connection)
    participant = find_participant(repos, reference)
    conversation = repos.conversations.load(participant.id)
    outcome = repos.outcomes.latest_prescreen(participant.id)
    recontact = repos.outcomes.latest_recontact(participant.id)
    row = connection.execute(select(participant_t).where(participant_t.c.id == participant.id)).one()
    return {
        "id": participant.code,
        "study": participant.study_id,
        "locale": participant.locale,
        "timezone": participant.timezone,
        "channels": [
            {"channel": a.channel, "address": a.address, "unreachable": a.unreachable_at is not None}
            for a in repos.participants.addresses(participant.id)
        ],
        "opted_out": participant.opted_out,
        "opted_out_at": _iso(participant.opted_out_at),
        "purpose_opt_outs": participant.purpose_opt_outs,
        "erased_at": _iso(participant.erased_at),
        "conversation": {
            "flow": conversation.flow,
            "state": conversation.state,
            "status": conversation.snapshot.get("status", "new"),
        },
        "prescreen": None
        if outcome is None
        else {
            "outcome": outcome.outcome,
            "reasons": list(outcome.reasons),
            "review": list(outcome.review),
            "answers": dict(outcome.answers),
            "completed_at": _iso(outcome.completed_at),
        },
        "recontact": None
        if recontact is None
        else {
            "granted": recontact.granted,
            "scope": recontact.scope,
            "recorded_at": _iso(recontact.recorded_at),
        },
        "preferences": participant.preferences,
        "staff_requests": [
            {
                "id": e.id,
                "category": e.category,
                "severity": e.severity,
                "status": e.status,
                "created_at": _iso(e.created_at),
            }
            for e in repos.escalations.for_participant(participant.id)
        ],
        "anchor_date": row.anchor_date.isoformat() if row.anchor_date else None,
        "visits": [_visit(v, participant.timezone) for v in repos.visits.for_participant(participant.id)],
        "upcoming": [
            {
                "kind": s.kind,
                "purpose": s.purpose,
                "channel": s.channel,
                "due_utc": _iso(s.due_at),
                "due_local": _local(s.due_at, participant.timezone),
                "visit_id": s.visit_id,
            }
            for s in repos.schedule.for_participant(participant.id)[:20]
        ],
        "created_at": _iso(row.created_at),
    }


def _local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).isoformat()


def _visit(visit: Any, zone: str) -> dict[str, Any]:
    return {
        "id": visit.id, "visit": visit.visit_key, "type": visit.type, "site": visit.site_id,
        "scheduled_utc": _iso(visit.scheduled_at), "scheduled_local": _local(visit.scheduled_at, zone),
        "window": [visit.window_start.isoformat(), visit.window_end.isoformat()],
        "out_of_window": visit.out_of_window, "status": visit.status, "confirmed_at": _iso(visit.confirmed_at),
    }  # fmt: skip


def escalation_view(connection: Connection, escalation_id: int) -> dict[str, Any] | None:
    """One escalation in full, for staff: the participant's own words included (never sent to a channel)."""
    repos = Repositories(connection)
    escalation = repos.escalations.get(escalation_id)
    if escalation is None:
        return None
    participant = repos.participants.get(escalation.participant_id)
    words = None
    if escalation.inbound_id is not None:
        row = connection.execute(select(inbound_t.c.text).where(inbound_t.c.id == escalation.inbound_id)).first()
        words = row.text if row else None
    entries = [
        a for a in repos.audit.for_participant(participant.id) if (a.new or {}).get("escalation_id") == escalation_id
    ]
    history = [{"at": _iso(a.at), "actor": a.actor, "action": a.action} for a in entries]
    # The same worry written again before anyone acknowledged it joined this escalation (bot/service.py).
    joined = [a.inbound_id for a in entries if (a.new or {}).get("joined") and a.inbound_id is not None]
    rows = select(inbound_t.c.received_at, inbound_t.c.text).where(inbound_t.c.id.in_(joined)).order_by(inbound_t.c.id)
    later = [{"received_at": _iso(r.received_at), "text": r.text} for r in connection.execute(rows)] if joined else []
    return {
        "id": escalation.id,
        "participant": participant.code,
        "category": escalation.category,
        "severity": escalation.severity,
        "status": escalation.status,
        "received_at": _iso(escalation.received_at or escalation.created_at),
        "ack_due_at": _iso(escalation.ack_due_at),
        "acknowledged": {"at": _iso(escalation.acknowledged_at), "by": escalation.acknowledged_by},
        "resolved": {
            "at": _iso(escalation.resolved_at),
            "by": escalation.resolved_by,
            "note": escalation.resolution_note,
        },
        "alerts": {
            "sent": escalation.alerts_sent,
            "level": escalation.alert_level,
            "next": _iso(escalation.next_alert_at),
        },
        "details": escalation.details or {},
        "message": words,
        "later_messages": later,
        "history": history,
    }
