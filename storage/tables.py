"""The database tables, as sqlmodel classes; Alembic migrations in storage/migrations create them.

Times are aware UTC datetimes (sqlmodel stores them as TIMESTAMPTZ on PostgreSQL and refuses naive
ones). JSON columns are JSONB on PostgreSQL. The audit log is append-only: triggers created by the
migrations refuse UPDATE and DELETE on it (CON-08).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

JSONType = JSON().with_variant(JSONB(), "postgresql")


def _json(nullable: bool = False) -> Any:
    return Field(default=None if nullable else {}, sa_column=Column(JSONType, nullable=nullable))


class Participant(SQLModel, table=True):
    """A person the assistant talks to, known to staff only by a pseudonymous code."""

    __tablename__ = "participant"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True, description="pseudonymous id shown to staff, e.g. P-7K3QX9")
    study_id: str = Field(max_length=40, index=True)
    locale: str = Field(max_length=8)
    timezone: str = Field(max_length=64)
    opted_out_at: datetime | None = Field(default=None, description="STOP: no messages but safety replies")
    purpose_opt_outs: dict[str, Any] = _json()  # purpose → ISO time it was turned off (SMS-05)
    preferences: dict[str, Any] = _json()
    anchor_date: date | None = Field(default=None, description="day 1 of the visit schedule (VIS-01)")
    enrolled_at: datetime | None = None
    opted_in_at: datetime | None = Field(default=None, description="agreed to get texts (SMS-09)")
    erased_at: datetime | None = Field(default=None, description="data outside the trial record erased (PRIV-12)")
    created_at: datetime
    updated_at: datetime


class ChannelAddress(SQLModel, table=True):
    """How to reach a participant on one channel: a phone number, a Telegram chat id, a console name."""

    __tablename__ = "channel_address"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_channel_address"),)

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = Field(foreign_key="participant.id", index=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=64)
    unreachable_at: datetime | None = Field(default=None, description="the provider refuses it (21610, 403)")
    created_at: datetime


class Conversation(SQLModel, table=True):
    """Where a participant is in the flows: a JSON snapshot, and the flow and state on top of it."""

    __tablename__ = "conversation"

    participant_id: int = Field(foreign_key="participant.id", primary_key=True)
    flow: str | None = Field(default=None, max_length=40)
    state: str | None = Field(default=None, max_length=64)
    snapshot: dict[str, Any] = _json()
    version: int = 0
    nudged_version: int | None = Field(default=None, description="the version whose question was nudged once")
    # How fast the person has been writing (bot/flood.py): the current one-minute window, and a pause.
    burst_started_at: datetime | None = Field(default=None, description="start of the current counting window")
    burst_count: int = Field(default=0, description="messages received in that window")
    paused_until: datetime | None = Field(default=None, description="replies paused until then (a flood)")
    # The replies sent lately, by digest: {digest: [first sent (ISO), times]} (bot/flood.py hold_repeats).
    recent_replies: dict[str, Any] | None = _json(nullable=True)
    updated_at: datetime


class InboundMessage(SQLModel, table=True):
    """A message received from a participant, stored before it is acted on; unique per provider id."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        UniqueConstraint("channel", "provider_message_id", name="uq_inbound_provider_id"),
        Index("ix_inbound_pending", "participant_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    provider_message_id: str = Field(max_length=128)
    participant_id: int = Field(foreign_key="participant.id")
    text: str
    media_count: int = 0
    kind: str = Field(default="text", max_length=16)  # text, button, edit, forward, media, blocked
    received_at: datetime
    status: str = Field(default="pending", max_length=16)  # pending → processed | failed
    attempts: int = 0
    processed_at: datetime | None = None
    error: str | None = Field(default=None, max_length=200)


class OutboxMessage(SQLModel, table=True):
    """A message to send, written in the same transaction as the decision to send it."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=128, unique=True)
    participant_id: int | None = Field(default=None, foreign_key="participant.id", index=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=64)
    body: str
    buttons: list[Any] | None = _json(nullable=True)  # [{"label": ..., "token": ...}] where the channel has them
    purpose: str = Field(max_length=16)
    inbound_id: int | None = Field(default=None, foreign_key="inbound_message.id")
    status: str = Field(default="pending", max_length=16)  # pending → sending → sent → delivered | failed
    attempts: int = 0
    next_attempt_at: datetime
    claimed_until: datetime | None = None
    provider_message_id: str | None = Field(default=None, max_length=128, index=True)
    provider_status: str | None = Field(default=None, max_length=24)  # the provider's own word for it
    possible_duplicate: bool = False  # resent after an outcome we could not learn (RELIABILITY §2.4)
    error: str | None = Field(default=None, max_length=200)
    created_at: datetime
    sent_at: datetime | None = None
    updated_at: datetime


class Visit(SQLModel, table=True):
    """A booked appointment for one visit of the schedule: when, where, and what became of it."""

    __tablename__ = "visit"
    __table_args__ = (UniqueConstraint("participant_id", "visit_key", name="uq_visit_per_participant"),)

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = Field(foreign_key="participant.id", index=True)
    visit_key: str = Field(max_length=40)  # the schedule's visit id
    type: str = Field(max_length=16)  # on_site | telehealth | home | phone
    site_id: str | None = Field(default=None, max_length=40)
    scheduled_at: datetime
    window_start: date
    window_end: date
    out_of_window: bool = False
    status: str = Field(default="booked", max_length=16)  # booked → attended | missed | cancelled
    confirmed_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


WELCOME_KIND = "welcome"  # the scheduled kind of the first message to someone the team enrolled


class ScheduledMessage(SQLModel, table=True):
    """A message planned for later (reminder, check-in, follow-up), rendered when planned.

    The sweep turns due rows into outbox rows with set-based SQL. `send_until` is the end of the
    allowed window (quiet hours) the row is due in; a row still unsent then is planned again for the
    next window, never dropped. `day_number` is the participant's local day, for the caps (SMS-15).
    """

    __tablename__ = "scheduled_message"
    __table_args__ = (
        # Neither index holds `status`, so marking a row sent (100,000 at a time in a sweep) does not move
        # it inside two indexes: the pending index only loses it, the participant index is untouched.
        Index(
            "ix_scheduled_pending",
            "due_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_scheduled_participant", "participant_id", "day_number"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=128, unique=True)
    participant_id: int = Field(foreign_key="participant.id")
    kind: str = Field(max_length=16)  # booking | reminder | checkin | missed | welcome (WELCOME_KIND)
    visit_id: int | None = Field(default=None, foreign_key="visit.id", index=True)
    flow: str | None = Field(default=None, max_length=40)  # entered when the participant answers
    data: dict[str, Any] = _json()
    channel: str = Field(max_length=16)
    address: str = Field(max_length=64)
    body: str
    buttons: list[Any] | None = _json(nullable=True)
    purpose: str = Field(max_length=16)
    capped: bool = True
    due_at: datetime
    send_until: datetime
    day_number: int
    status: str = Field(default="pending", max_length=16)  # pending → sent | cancelled | skipped | expired
    awaiting_reply: bool = False
    reply_until: datetime | None = None
    sent_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class StaffToken(SQLModel, table=True):
    """The opaque callback data of a button in a staff alert: which escalation, which action."""

    __tablename__ = "staff_token"

    token: str = Field(primary_key=True, max_length=32)
    escalation_id: int = Field(foreign_key="escalation.id", index=True)
    action: str = Field(max_length=16)  # ack | resolve
    created_at: datetime


class TravelRequest(SQLModel, table=True):
    """A patient's request for help with travel to a visit (TRV-01/02); staff approve and book it."""

    __tablename__ = "travel_request"

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = Field(foreign_key="participant.id", index=True)
    visit_id: int | None = Field(default=None, foreign_key="visit.id")
    details: dict[str, Any] = _json()
    status: str = Field(default="submitted", max_length=16)  # submitted → approved | booked | denied
    escalation_id: int | None = Field(default=None, foreign_key="escalation.id")
    note: str | None = Field(default=None, max_length=1000)
    created_at: datetime
    updated_at: datetime


class ButtonToken(SQLModel, table=True):
    """An opaque token behind one button: valid only for its participant and the state it was sent in."""

    __tablename__ = "button_token"

    token: str = Field(primary_key=True, max_length=32)
    participant_id: int = Field(foreign_key="participant.id", index=True)
    outbox_id: int | None = Field(default=None, foreign_key="outbox_message.id")
    # A reply button is valid in the conversation state it was sent in; a scheduled message's
    # button is valid while that message still waits for its answer.
    conversation_version: int | None = None
    scheduled_id: int | None = Field(default=None, foreign_key="scheduled_message.id")
    choice_number: int  # 1-based, as the patient would type it
    created_at: datetime


class AuditEntry(SQLModel, table=True):
    """One thing that happened: who did what, the old and new values, when (UTC). Never changed."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_participant", "participant_id", "id"),
        Index("ix_audit_action", "action"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    actor: str = Field(max_length=64)  # "participant", "system", or "staff:<name>"
    action: str = Field(max_length=48)
    participant_id: int | None = Field(default=None, foreign_key="participant.id")
    inbound_id: int | None = Field(default=None, foreign_key="inbound_message.id")
    old: dict[str, Any] | None = _json(nullable=True)
    new: dict[str, Any] | None = _json(nullable=True)
    reason: str | None = Field(default=None, max_length=200)


class PrescreenOutcome(SQLModel, table=True):
    """The result of a prescreen: eligible, ineligible with criterion codes, or needs review (PS-03)."""

    __tablename__ = "prescreen_outcome"

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = Field(foreign_key="participant.id", index=True)
    study_id: str = Field(max_length=40)
    outcome: str = Field(max_length=16)
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    review: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    answers: dict[str, Any] = _json()
    completed_at: datetime


class RecontactPermission(SQLModel, table=True):
    """A separate, scoped, dated answer to "may we contact you about future studies?" (PRIV-14)."""

    __tablename__ = "recontact_permission"

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = Field(foreign_key="participant.id", index=True)
    scope: str = Field(max_length=48)
    granted: bool
    recorded_at: datetime


class Escalation(SQLModel, table=True):
    """A request for a person on the study team to follow up with a participant."""

    __tablename__ = "escalation"
    __table_args__ = (Index("ix_escalation_status", "status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    participant_id: int = Field(foreign_key="participant.id", index=True)
    category: str = Field(max_length=32)
    severity: str = Field(max_length=8)  # urgent | high | normal
    status: str = Field(default="open", max_length=16)  # open → acknowledged → resolved
    inbound_id: int | None = Field(default=None, foreign_key="inbound_message.id")
    details: dict[str, Any] | None = _json(nullable=True)  # for staff only (preferred times, the visit)
    received_at: datetime | None = Field(default=None, description="when the message behind it arrived (SAF-01)")
    ack_due_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = Field(default=None, max_length=64)
    resolved_at: datetime | None = None
    resolved_by: str | None = Field(default=None, max_length=64)
    resolution_note: str | None = Field(default=None, max_length=1000)
    alert_level: int = 0  # how far up the chain alerts have gone (0: on call, 1: backup, 2: PI ...)
    alerts_sent: int = 0
    joined_messages: int = Field(default=0, description="later messages about the same worry, joined to it")
    next_alert_at: datetime | None = Field(default=None, index=True)
    created_at: datetime
    updated_at: datetime


ALL_TABLES = [
    Participant,
    ChannelAddress,
    Conversation,
    InboundMessage,
    OutboxMessage,
    Visit,
    ScheduledMessage,
    ButtonToken,
    AuditEntry,
    PrescreenOutcome,
    RecontactPermission,
    Escalation,
    StaffToken,
    TravelRequest,
]
