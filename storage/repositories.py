"""The queries trialbot runs, grouped by table, on a connection inside a transaction the caller owns.

SQLAlchemy Core rather than the ORM: these run on every message, and plain statements are both
faster and easier to read next to the SQL they produce.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    MetaData,
    Row,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.domain import JSONDict, Participant
from storage.tables import (
    WELCOME_KIND,
    AuditEntry,
    ButtonToken,
    ChannelAddress,
    Conversation,
    Escalation,
    InboundMessage,
    OutboxMessage,
    PrescreenOutcome,
    RecontactPermission,
    ScheduledMessage,
    StaffToken,
    TravelRequest,
    Visit,
)
from storage.tables import Participant as ParticipantRow

participant_t = ParticipantRow.__table__  # type: ignore[attr-defined]
address_t = ChannelAddress.__table__  # type: ignore[attr-defined]
conversation_t = Conversation.__table__  # type: ignore[attr-defined]
inbound_t = InboundMessage.__table__  # type: ignore[attr-defined]
outbox_t = OutboxMessage.__table__  # type: ignore[attr-defined]
audit_t = AuditEntry.__table__  # type: ignore[attr-defined]
outcome_t = PrescreenOutcome.__table__  # type: ignore[attr-defined]
recontact_t = RecontactPermission.__table__  # type: ignore[attr-defined]
escalation_t = Escalation.__table__  # type: ignore[attr-defined]
button_t = ButtonToken.__table__  # type: ignore[attr-defined]
visit_t = Visit.__table__  # type: ignore[attr-defined]
scheduled_t = ScheduledMessage.__table__  # type: ignore[attr-defined]
staff_token_t = StaffToken.__table__  # type: ignore[attr-defined]
travel_t = TravelRequest.__table__  # type: ignore[attr-defined]


class ConcurrentUpdateError(Exception):
    """A conversation changed under us: another worker took the turn first."""


@cache
def _insert_ignoring_statement(dialect: str, table: Table) -> Any:
    dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return dialect_insert(table).on_conflict_do_nothing().returning(table.c.id)


def _insert_ignoring_duplicates(connection: Connection, table: Table, values: dict[str, Any]) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING; return the new id, or None if the row already existed."""
    # Built once per table and dialect: building a statement costs more than running it on the hot path.
    return connection.execute(_insert_ignoring_statement(connection.dialect.name, table), values).scalar()


# Statements of the per-message path, built once with bound parameters (SQLAlchemy then also skips
# working out their cache keys). The parameter names start with "p_" so they never clash with columns.
_PARTICIPANT_BY_ADDRESS = (
    select(participant_t)
    .join(address_t, address_t.c.participant_id == participant_t.c.id)
    .where(address_t.c.channel == bindparam("p_channel"), address_t.c.address == bindparam("p_address"))
)
_PARTICIPANT_BY_ID = select(participant_t).where(participant_t.c.id == bindparam("p_id"))
_PARTICIPANT_LOCK = select(participant_t.c.id).where(participant_t.c.id == bindparam("p_id")).with_for_update()
_ANCHOR = select(participant_t.c.anchor_date).where(participant_t.c.id == bindparam("p_id"))
_ADDRESSES = select(address_t).where(address_t.c.participant_id == bindparam("p_id")).order_by(address_t.c.id)
_CONVERSATION = select(conversation_t).where(conversation_t.c.participant_id == bindparam("p_id"))
_SAVE_CONVERSATION = (
    update(conversation_t)
    .where(conversation_t.c.participant_id == bindparam("p_id"), conversation_t.c.version == bindparam("p_version"))
    .values(snapshot=bindparam("p_snapshot", type_=conversation_t.c.snapshot.type), version=bindparam("p_version") + 1,
            flow=bindparam("p_flow"), state=bindparam("p_state"), updated_at=bindparam("p_now"),
            burst_started_at=bindparam("p_burst_started_at", type_=conversation_t.c.burst_started_at.type),
            burst_count=bindparam("p_burst_count"),
            paused_until=bindparam("p_paused_until", type_=conversation_t.c.paused_until.type),
            recent_replies=bindparam("p_recent_replies", type_=conversation_t.c.recent_replies.type))
)  # fmt: skip
_NEXT_PENDING = (
    select(inbound_t, address_t.c.address)
    .join(
        address_t,
        and_(address_t.c.participant_id == inbound_t.c.participant_id, address_t.c.channel == inbound_t.c.channel),
    )
    .where(inbound_t.c.participant_id == bindparam("p_id"), inbound_t.c.status == "pending")
    .order_by(inbound_t.c.id)
    .limit(2)  # the second says whether another waits after this one (no second query after the turn)
)
_FINISH_INBOUND = (
    update(inbound_t)
    .where(inbound_t.c.id == bindparam("p_id"))
    .values(status=bindparam("p_status"), processed_at=bindparam("p_now"), error=bindparam("p_error"))
)
_OUTBOX_SENT = (
    update(outbox_t)
    .where(outbox_t.c.id == bindparam("p_id"))
    .values(status="sent", provider_message_id=bindparam("p_provider_id"), sent_at=bindparam("p_now"),
            updated_at=bindparam("p_now"), attempts=outbox_t.c.attempts + 1, claimed_until=None, error=None)
)  # fmt: skip
_LATEST_PRESCREEN = (
    select(outcome_t).where(outcome_t.c.participant_id == bindparam("p_id")).order_by(outcome_t.c.id.desc()).limit(1)
)
_AWAITING = (
    select(scheduled_t)
    .where(
        scheduled_t.c.participant_id == bindparam("p_id"),
        scheduled_t.c.awaiting_reply,
        scheduled_t.c.reply_until > bindparam("p_now"),
    )
    .order_by(scheduled_t.c.sent_at.desc(), scheduled_t.c.id.desc())
    .limit(1)
)
_VISITS_OF = select(visit_t).where(visit_t.c.participant_id == bindparam("p_id")).order_by(visit_t.c.scheduled_at)
_ADD_AUDIT = insert(audit_t)
_SCHEDULED_BY_KEY = select(scheduled_t).where(scheduled_t.c.key == bindparam("p_key"))
_ADD_SCHEDULED = insert(scheduled_t).returning(scheduled_t.c.id)  # columns from the parameters given
_REPLAN_SCHEDULED = update(scheduled_t).where(scheduled_t.c.id == bindparam("p_id"))  # SET from the parameters
_ADD_VISIT = insert(visit_t).returning(visit_t.c.id)
_ADD_BUTTONS = insert(button_t)


def _participant(row: Row[Any]) -> Participant:
    return Participant(
        id=row.id,
        code=row.code,
        study_id=row.study_id,
        locale=row.locale,
        timezone=row.timezone,
        opted_out_at=row.opted_out_at,
        purpose_opt_outs=dict(row.purpose_opt_outs or {}),
        preferences=dict(row.preferences or {}),
        opted_in_at=row.opted_in_at,
        erased_at=row.erased_at,
        anchor_date=row.anchor_date,
    )


class Participants:
    """The participant table and the channel addresses that lead to it."""

    def __init__(self, connection: Connection) -> None:
        """Work inside the caller's transaction."""
        self.c = connection

    def by_address(self, channel: str, address: str) -> Participant | None:
        """The participant reached at this address, if any."""
        row = self.c.execute(_PARTICIPANT_BY_ADDRESS, {"p_channel": channel, "p_address": address}).first()
        return _participant(row) if row else None

    def get(self, participant_id: int) -> Participant:
        """A participant by row id."""
        row = self.c.execute(_PARTICIPANT_BY_ID, {"p_id": participant_id}).one()
        return _participant(row)

    def opted_out_among(self, participant_ids: Iterable[int]) -> set[int]:
        """Which of these participants have opted out (one query for a whole batch)."""
        wanted = sorted(set(participant_ids))
        if not wanted:
            return set()
        rows = self.c.execute(
            select(participant_t.c.id).where(participant_t.c.id.in_(wanted), participant_t.c.opted_out_at.is_not(None))
        )
        return {row.id for row in rows}

    def by_code(self, code: str) -> Participant | None:
        """A participant by pseudonymous code (case-insensitive)."""
        row = self.c.execute(select(participant_t).where(participant_t.c.code == code.strip().upper())).first()
        return _participant(row) if row else None

    def lock(self, participant_id: int) -> None:
        """Hold the participant's row until the transaction ends, so their turns run one at a time.

        On SQLite the whole database is already held by `BEGIN IMMEDIATE`.
        """
        if self.c.dialect.name == "postgresql":
            self.c.execute(_PARTICIPANT_LOCK, {"p_id": participant_id})

    def create(
        self,
        *,
        code: str,
        study_id: str,
        locale: str,
        timezone: str,
        channel: str,
        address: str,
        now: datetime,
    ) -> int | None:
        """Create a participant with one address; None if the code or the address is already taken."""
        with self.c.begin_nested() as savepoint:
            participant_id = _insert_ignoring_duplicates(
                self.c,
                participant_t,
                {"code": code, "study_id": study_id, "locale": locale, "timezone": timezone,
                 "purpose_opt_outs": {}, "preferences": {}, "created_at": now, "updated_at": now},
            )  # fmt: skip
            if participant_id is None:
                savepoint.rollback()
                return None
            address_id = _insert_ignoring_duplicates(
                self.c,
                address_t,
                {"participant_id": participant_id, "channel": channel, "address": address, "created_at": now},
            )
            if address_id is None:
                savepoint.rollback()
                return None
            self.c.execute(
                insert(conversation_t).values(
                    participant_id=participant_id, snapshot={}, version=0, burst_count=0, updated_at=now
                )
            )
        return participant_id

    def update(self, participant_id: int, now: datetime, **values: Any) -> None:
        """Change some of a participant's columns."""
        self.c.execute(
            update(participant_t).where(participant_t.c.id == participant_id).values(updated_at=now, **values)
        )

    def get_anchor(self, participant_id: int) -> date | None:
        """Day 1 of the participant's visit schedule, if set."""
        value = self.c.execute(_ANCHOR, {"p_id": participant_id}).scalar()
        return value if isinstance(value, date) else None

    def addresses(self, participant_id: int) -> list[Row[Any]]:
        """Every address of a participant, oldest first."""
        return list(self.c.execute(_ADDRESSES, {"p_id": participant_id}).all())

    def mark_unreachable(self, channel: str, address: str, now: datetime) -> int | None:
        """Note that the provider refuses an address; return its participant's id."""
        row = self.c.execute(
            update(address_t)
            .where(address_t.c.channel == channel, address_t.c.address == address)
            .values(unreachable_at=now)
            .returning(address_t.c.participant_id)
        ).first()
        return row.participant_id if row else None


@dataclass(frozen=True, slots=True)
class Pace:
    """How fast the person has been writing, as bot/flood.py counts it."""

    started_at: datetime | None = None
    count: int = 0
    paused_until: datetime | None = None
    # Replies sent lately, by digest: {digest: [first sent, ISO 8601; times sent since]} (bot/flood.py).
    recent_replies: JSONDict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConversationRow:
    """A conversation's snapshot and version."""

    snapshot: JSONDict
    version: int
    flow: str | None
    state: str | None
    updated_at: datetime | None = None
    nudged_version: int | None = None
    burst: Pace = field(default_factory=Pace)


class Conversations:
    """One conversation snapshot per participant, versioned."""

    def __init__(self, connection: Connection) -> None:
        """Work inside the caller's transaction."""
        self.c = connection

    def load(self, participant_id: int) -> ConversationRow:
        """The participant's conversation."""
        row = self.c.execute(_CONVERSATION, {"p_id": participant_id}).one()
        return ConversationRow(
            dict(row.snapshot or {}),
            row.version,
            row.flow,
            row.state,
            row.updated_at,
            row.nudged_version,
            Pace(
                row.burst_started_at,
                row.burst_count or 0,
                row.paused_until,
                dict(row.recent_replies or {}),
            ),
        )

    def save(
        self, participant_id: int, snapshot: JSONDict, expected_version: int, now: datetime,
        flow: str | None, state: str | None, burst: Pace,
    ) -> None:  # fmt: skip
        """Store a new snapshot if nobody else has since; raise ConcurrentUpdateError otherwise. `burst` is how
        fast the person has been writing (bot/flood.py): the loaded row's, unless a message was counted."""
        result = self.c.execute(
            _SAVE_CONVERSATION,
            {"p_id": participant_id, "p_version": expected_version, "p_snapshot": snapshot, "p_flow": flow,
             "p_state": state, "p_now": now, "p_burst_started_at": burst.started_at,
             "p_burst_count": burst.count, "p_paused_until": burst.paused_until,
             "p_recent_replies": burst.recent_replies or None},
        )  # fmt: skip
        if result.rowcount != 1:
            raise ConcurrentUpdateError(f"participant {participant_id}: conversation changed")

    def mark_nudged(self, participant_id: int, version: int) -> None:
        """Remember that the question waiting at this version had its one nudge."""
        self.c.execute(
            update(conversation_t)
            .where(conversation_t.c.participant_id == participant_id)
            .values(nudged_version=version)
        )

    def waiting_since(self, before: datetime, limit: int = 500) -> list[Row[Any]]:
        """Conversations waiting for an answer since before `before`, not yet nudged at this version."""
        return list(
            self.c.execute(
                select(conversation_t.c.participant_id, conversation_t.c.version)
                .join(participant_t, participant_t.c.id == conversation_t.c.participant_id)
                .where(
                    conversation_t.c.flow.is_not(None),
                    conversation_t.c.updated_at <= before,
                    or_(
                        conversation_t.c.nudged_version.is_(None),
                        conversation_t.c.nudged_version != conversation_t.c.version,
                    ),
                    participant_t.c.opted_out_at.is_(None),
                )
                .limit(limit)
            )
        )


@dataclass(frozen=True, slots=True)
class PendingInbound:
    """An inbound message waiting to be acted on."""

    id: int
    channel: str
    text: str
    media_count: int
    received_at: datetime
    attempts: int
    address: str
    kind: str


class Inbound:
    """Messages received, unique on (channel, provider message id)."""

    def __init__(self, connection: Connection) -> None:
        """Work inside the caller's transaction."""
        self.c = connection

    def add(
        self, *, channel: str, provider_message_id: str, participant_id: int, text: str, media_count: int,
        received_at: datetime, kind: str = "text",
    ) -> int | None:  # fmt: skip
        """Store a message; None when this provider id was stored before (a redelivery)."""
        return _insert_ignoring_duplicates(
            self.c,
            inbound_t,
            {"channel": channel, "provider_message_id": provider_message_id, "participant_id": participant_id,
             "text": text, "media_count": media_count, "kind": kind, "received_at": received_at,
             "status": "pending", "attempts": 0},
        )  # fmt: skip

    def next_pending(self, participant_id: int) -> PendingInbound | None:
        """The participant's oldest message not yet acted on."""
        return self.next_and_more(participant_id)[0]

    def next_and_more(self, participant_id: int) -> tuple[PendingInbound | None, bool]:
        """The participant's oldest message not yet acted on, and whether another waits behind it."""
        rows = self.c.execute(_NEXT_PENDING, {"p_id": participant_id}).all()
        if not rows:
            return None, False
        row = rows[0]
        pending = PendingInbound(
            row.id, row.channel, row.text, row.media_count, row.received_at, row.attempts, row.address, row.kind
        )
        return pending, len(rows) > 1

    def finish(self, inbound_id: int, now: datetime, status: str = "processed", error: str | None = None) -> None:
        """Mark a message as acted on (or failed for good)."""
        self.c.execute(_FINISH_INBOUND, {"p_id": inbound_id, "p_status": status, "p_now": now, "p_error": error})

    def count_attempt(self, inbound_id: int, error: str) -> int:
        """Note a failed attempt at acting on a message; return how many there have been."""
        return int(
            self.c.execute(
                update(inbound_t)
                .where(inbound_t.c.id == inbound_id)
                .values(attempts=inbound_t.c.attempts + 1, error=error[:200])
                .returning(inbound_t.c.attempts)
            ).scalar_one()
        )

    def latest_channel(self, participant_id: int) -> str | None:
        """The channel of the participant's latest message."""
        return self.c.execute(
            select(inbound_t.c.channel)
            .where(inbound_t.c.participant_id == participant_id)
            .order_by(inbound_t.c.id.desc())
            .limit(1)
        ).scalar()

    def participants_with_pending(self, limit: int = 1000) -> list[int]:
        """Participants who have messages waiting (after a crash, say)."""
        rows = self.c.execute(
            select(inbound_t.c.participant_id)
            .where(inbound_t.c.status == "pending")
            .group_by(inbound_t.c.participant_id)
            .order_by(func.min(inbound_t.c.id))
            .limit(limit)
        )
        return [r.participant_id for r in rows]

    def get(self, channel: str, provider_message_id: str) -> Row[Any] | None:
        """A stored message by its provider id."""
        return self.c.execute(
            select(inbound_t).where(
                inbound_t.c.channel == channel, inbound_t.c.provider_message_id == provider_message_id
            )
        ).first()


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An outbox message as the dispatcher needs it."""

    id: int
    participant_id: int | None
    channel: str
    address: str
    body: str
    buttons: list[Any] | None
    purpose: str
    attempts: int
    retaken: bool = False  # claimed before by a dispatcher that never said how the send went
    created_at: datetime | None = None


def _outbox(row: Row[Any], retaken: bool = False) -> OutboxRow:
    return OutboxRow(
        row.id, row.participant_id, row.channel, row.address, row.body, row.buttons, row.purpose, row.attempts,
        retaken, row.created_at,
    )  # fmt: skip


class Outbox:
    """Messages to send; written with the decision, sent after commit (transactional outbox)."""

    def __init__(self, connection: Connection) -> None:
        """Work inside the caller's transaction."""
        self.c = connection

    def add(
        self, *, key: str, participant_id: int | None, channel: str, address: str, body: str,
        buttons: list[Any] | None, purpose: str, now: datetime, inbound_id: int | None = None,
        not_before: datetime | None = None,
    ) -> int | None:  # fmt: skip
        """Queue a message; None if a message with this idempotency key was queued before."""
        return _insert_ignoring_duplicates(
            self.c,
            outbox_t,
            {"idempotency_key": key, "participant_id": participant_id, "channel": channel, "address": address,
             "body": body, "buttons": buttons, "purpose": purpose, "inbound_id": inbound_id, "status": "pending",
             "attempts": 0, "next_attempt_at": not_before or now, "created_at": now, "updated_at": now},
        )  # fmt: skip

    def claim(
        self, now: datetime, lease: timedelta, channels: Sequence[str], limit: int = 50,
        participant_id: int | None = None,
    ) -> list[OutboxRow]:  # fmt: skip
        """Take due messages for sending, so no other dispatcher sends them while the lease lasts."""
        due = and_(
            outbox_t.c.channel.in_(list(channels)),
            or_(
                and_(outbox_t.c.status == "pending", outbox_t.c.next_attempt_at <= now),
                # A dispatcher that died mid-send left its claim behind; take it over when it expires.
                and_(outbox_t.c.status == "sending", outbox_t.c.claimed_until < now),
            ),
        )
        if participant_id is not None:
            due = and_(due, outbox_t.c.participant_id == participant_id)
        chosen = select(outbox_t.c.id, outbox_t.c.status).where(due).order_by(outbox_t.c.id).limit(limit)
        if self.c.dialect.name == "postgresql":
            chosen = chosen.with_for_update(skip_locked=True)
        previous = {r.id: r.status for r in self.c.execute(chosen)}
        if not previous:
            return []
        rows = self.c.execute(
            update(outbox_t)
            .where(outbox_t.c.id.in_(list(previous)))
            .values(status="sending", claimed_until=now + lease, updated_at=now)
            .returning(outbox_t)
        )
        return sorted((_outbox(r, previous[r.id] == "sending") for r in rows), key=lambda r: r.id)

    def hold(self, outbox_id: int, now: datetime, until: datetime, error: str) -> None:
        """The outcome of a send is unknown: keep the claim until `until`, waiting for a status callback."""
        self.c.execute(
            update(outbox_t)
            .where(outbox_t.c.id == outbox_id, outbox_t.c.status == "sending")
            .values(claimed_until=until, attempts=outbox_t.c.attempts + 1, error=error[:200], updated_at=now)
        )

    def release(self, outbox_ids: Sequence[int], now: datetime, at: datetime) -> None:
        """Give claimed rows back without counting an attempt (to keep a chat's messages in order)."""
        if outbox_ids:
            self.c.execute(
                update(outbox_t)
                .where(outbox_t.c.id.in_(list(outbox_ids)), outbox_t.c.status == "sending")
                .values(status="pending", claimed_until=None, next_attempt_at=at, updated_at=now)
            )

    def mark_possible_duplicate(self, outbox_id: int) -> None:
        """Note that this row may reach the patient twice: an earlier send's outcome was never learnt."""
        self.c.execute(update(outbox_t).where(outbox_t.c.id == outbox_id).values(possible_duplicate=True))

    def get(self, outbox_id: int) -> Row[Any] | None:
        """One outbox row."""
        return self.c.execute(select(outbox_t).where(outbox_t.c.id == outbox_id)).first()

    def provider_update(
        self, outbox_id: int, now: datetime, *, status: str, provider_status: str, provider_message_id: str | None,
        error: str | None = None,
    ) -> None:  # fmt: skip
        """Record what a status callback said."""
        values: dict[str, Any] = {"status": status, "provider_status": provider_status, "updated_at": now,
                                  "claimed_until": None}  # fmt: skip
        if provider_message_id:
            values["provider_message_id"] = provider_message_id
        if error is not None:
            values["error"] = error[:200]
        if status in ("sent", "delivered"):
            values["sent_at"] = func.coalesce(outbox_t.c.sent_at, now)
        self.c.execute(update(outbox_t).where(outbox_t.c.id == outbox_id).values(**values))

    def sent(self, outbox_id: int, now: datetime, provider_message_id: str | None) -> None:
        """The provider accepted the message."""
        self.sent_many([(outbox_id, provider_message_id)], now)

    def sent_many(self, accepted: Sequence[tuple[int, str | None]], now: datetime) -> None:
        """The provider accepted these messages: (outbox id, provider id) pairs, in one statement."""
        if accepted:
            rows = [{"p_id": oid, "p_provider_id": provider_id, "p_now": now} for oid, provider_id in accepted]
            self.c.execute(_OUTBOX_SENT, rows)

    def retry(self, outbox_id: int, now: datetime, at: datetime, error: str) -> None:
        """A transient failure: try again later."""
        self.c.execute(
            update(outbox_t)
            .where(outbox_t.c.id == outbox_id)
            .values(status="pending", next_attempt_at=at, attempts=outbox_t.c.attempts + 1, claimed_until=None,
                    error=error[:200], updated_at=now)
        )  # fmt: skip

    def failed(self, outbox_id: int, now: datetime, error: str, status: str = "failed") -> None:
        """A permanent failure (or a suppressed message): never try again."""
        self.c.execute(
            update(outbox_t)
            .where(outbox_t.c.id == outbox_id)
            .values(status=status, attempts=outbox_t.c.attempts + 1, claimed_until=None, error=error[:200],
                    updated_at=now)
        )  # fmt: skip

    def provider_ids(self, channel: str, address: str) -> set[str]:
        """Provider ids already recorded for messages to an address."""
        rows = self.c.execute(
            select(outbox_t.c.provider_message_id).where(
                outbox_t.c.channel == channel, outbox_t.c.address == address,
                outbox_t.c.provider_message_id.is_not(None),
            )
        )  # fmt: skip
        return {r.provider_message_id for r in rows}

    def stuck_alerts(self, before: datetime) -> list[Row[Any]]:
        """Telegram alerts that failed, or still had not gone out at `before` (for the SMS fallback)."""
        return list(
            self.c.execute(
                select(outbox_t).where(
                    outbox_t.c.purpose == "alert", outbox_t.c.channel == "telegram",
                    outbox_t.c.status.in_(["failed", "pending", "sending"]), outbox_t.c.created_at <= before,
                    outbox_t.c.created_at > before - timedelta(days=1),
                )
            )
        )  # fmt: skip

    def for_participant(self, participant_id: int) -> list[Row[Any]]:
        """Every message to a participant, oldest first."""
        return list(
            self.c.execute(select(outbox_t).where(outbox_t.c.participant_id == participant_id).order_by(outbox_t.c.id))
        )


class Buttons:
    """Opaque tokens behind buttons, so a press can be checked against the state it was meant for."""

    def __init__(self, connection: Connection) -> None:
        """Work inside the caller's transaction."""
        self.c = connection

    def add_many(self, rows: list[dict[str, Any]]) -> None:
        """Store tokens: token, participant_id, outbox_id, conversation_version, choice_number, created_at."""
        if rows:
            self.c.execute(_ADD_BUTTONS, rows)

    def get(self, token: str) -> Row[Any] | None:
        """The button behind a token, if there is one."""
        return self.c.execute(select(button_t).where(button_t.c.token == token)).first()


class Audit:
    """The append-only audit trail, which is also the event log reports are computed from."""

    def __init__(self, connection: Connection) -> None:
        """Work inside the caller's transaction."""
        self.c = connection

    def append(
        self, *, at: datetime, actor: str, action: str, participant_id: int | None = None,
        inbound_id: int | None = None, old: JSONDict | None = None, new: JSONDict | None = None,
        reason: str | None = None,
    ) -> None:  # fmt: skip
        """Add an entry."""
        self.append_many(
            [{"at": at, "actor": actor, "action": action, "participant_id": participant_id, "inbound_id": inbound_id,
              "old": old, "new": new, "reason": reason}]
        )  # fmt: skip

    def append_many(self, entries: list[dict[str, Any]]) -> None:
        """Add several entries in one statement."""
        if entries:
            self.c.execute(_ADD_AUDIT, entries)

    def for_participant(self, participant_id: int) -> list[Row[Any]]:
        """A participant's entries in order."""
        return list(
            self.c.execute(select(audit_t).where(audit_t.c.participant_id == participant_id).order_by(audit_t.c.id))
        )

    def start_payload(self, participant_id: int) -> str | None:
        """The payload of the participant's most recent Telegram deep link, if any."""
        rows = self.c.execute(
            select(audit_t.c.new)
            .where(audit_t.c.participant_id == participant_id, audit_t.c.action == "channel_details")
            .order_by(audit_t.c.id.desc())
            .limit(5)
        ).scalars()
        for new in rows:
            payload = (new or {}).get("start_payload")
            if payload:
                return f"telegram:{payload}"
        return None

    def actions(self, names: Sequence[str]) -> list[Row[Any]]:
        """Every entry with one of these actions, in order."""
        return list(self.c.execute(select(audit_t).where(audit_t.c.action.in_(list(names))).order_by(audit_t.c.id)))


class Outcomes:
    """Prescreen outcomes and re-contact permissions."""

    def __init__(self, connection: Connection) -> None:
        """Work inside the caller's transaction."""
        self.c = connection

    def record_prescreen(
        self, *, participant_id: int, study_id: str, outcome: str, reasons: list[str], review: list[str],
        answers: JSONDict, at: datetime,
    ) -> None:  # fmt: skip
        """Store a prescreen outcome."""
        self.c.execute(
            insert(outcome_t).values(participant_id=participant_id, study_id=study_id, outcome=outcome,
                                     reasons=reasons, review=review, answers=answers, completed_at=at)
        )  # fmt: skip

    def latest_prescreen(self, participant_id: int) -> Row[Any] | None:
        """The participant's most recent prescreen outcome."""
        return self.c.execute(_LATEST_PRESCREEN, {"p_id": participant_id}).first()

    def has_prescreen(self, participant_id: int) -> bool:
        """True once the participant has any prescreen outcome."""
        return self.latest_prescreen(participant_id) is not None

    def record_recontact(self, *, participant_id: int, scope: str, granted: bool, at: datetime) -> None:
        """Store a re-contact answer; a later answer supersedes, the earlier one stays."""
        self.c.execute(
            insert(recontact_t).values(participant_id=participant_id, scope=scope, granted=granted, recorded_at=at)
        )

    def latest_recontact(self, participant_id: int) -> Row[Any] | None:
        """The participant's most recent re-contact answer."""
        return self.c.execute(
            select(recontact_t)
            .where(recontact_t.c.participant_id == participant_id)
            .order_by(recontact_t.c.id.desc())
            .limit(1)
        ).first()


class Escalations:
    """Requests for a person on the study team to follow up, and their alert timers."""

    def __init__(self, connection: Connection) -> None:
        """Work inside the caller's transaction."""
        self.c = connection

    def open(
        self, *, participant_id: int, category: str, severity: str, at: datetime, inbound_id: int | None,
        details: JSONDict | None = None, received_at: datetime | None = None,
    ) -> int:  # fmt: skip
        """Open an escalation, due for its first alert at once, and return its id."""
        return int(
            self.c.execute(
                insert(escalation_t)
                .values(participant_id=participant_id, category=category, severity=severity, status="open",
                        inbound_id=inbound_id, details=details or None, received_at=received_at or at,
                        next_alert_at=at, alert_level=0, alerts_sent=0, created_at=at, updated_at=at)
                .returning(escalation_t.c.id)
            ).scalar_one()
        )  # fmt: skip

    def open_for(self, participant_id: int, category: str, severities: Sequence[str]) -> int | None:
        """The id of the participant's escalation of this category, of one of these severities, that nobody
        has acknowledged yet (the oldest), if there is one."""
        return self.c.execute(
            select(escalation_t.c.id)
            .where(escalation_t.c.participant_id == participant_id, escalation_t.c.category == category,
                   escalation_t.c.status == "open", escalation_t.c.severity.in_(list(severities)))
            .order_by(escalation_t.c.id)
            .limit(1)
        ).scalar()  # fmt: skip

    def joined(self, escalation_id: int, now: datetime) -> None:
        """One more message about the same worry joined this escalation (the alerts say how many)."""
        self.c.execute(
            update(escalation_t)
            .where(escalation_t.c.id == escalation_id)
            .values(joined_messages=escalation_t.c.joined_messages + 1, updated_at=now)
        )

    def get(self, escalation_id: int) -> Row[Any] | None:
        """One escalation."""
        return self.c.execute(select(escalation_t).where(escalation_t.c.id == escalation_id)).first()

    def due_alerts(self, now: datetime, limit: int) -> list[Row[Any]]:
        """Open escalations whose next alert is due, most severe first, locked for this sweep."""
        rank = case((escalation_t.c.severity == "urgent", 0), (escalation_t.c.severity == "high", 1), else_=2)
        query = (
            select(escalation_t)
            .where(escalation_t.c.status == "open", escalation_t.c.next_alert_at <= now)
            .order_by(rank, escalation_t.c.id)
            .limit(limit)
        )
        if self.c.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return list(self.c.execute(query))

    def alerted(
        self, escalation_id: int, now: datetime, *, level: int, next_alert_at: datetime, ack_due_at: datetime
    ) -> None:
        """One more alert round went out."""
        self.c.execute(
            update(escalation_t)
            .where(escalation_t.c.id == escalation_id)
            .values(alerts_sent=escalation_t.c.alerts_sent + 1, alert_level=level, next_alert_at=next_alert_at,
                    ack_due_at=ack_due_at, updated_at=now)
        )  # fmt: skip

    def acknowledge(self, escalation_id: int, now: datetime, actor: str) -> None:
        """Someone has it: no more alerts."""
        self.c.execute(
            update(escalation_t)
            .where(escalation_t.c.id == escalation_id)
            .values(status="acknowledged", acknowledged_at=now, acknowledged_by=actor, next_alert_at=None,
                    updated_at=now)
        )  # fmt: skip

    def resolve(self, escalation_id: int, now: datetime, actor: str, note: str) -> None:
        """Done, with a note."""
        self.c.execute(
            update(escalation_t)
            .where(escalation_t.c.id == escalation_id)
            .values(status="resolved", resolved_at=now, resolved_by=actor, resolution_note=note,
                    acknowledged_at=func.coalesce(escalation_t.c.acknowledged_at, now),
                    acknowledged_by=func.coalesce(escalation_t.c.acknowledged_by, actor),
                    next_alert_at=None, updated_at=now)
        )  # fmt: skip

    def listing(self, open_only: bool = False, limit: int = 500) -> list[Row[Any]]:
        """Escalations, newest first, with the participant's code."""
        query = (
            select(escalation_t, participant_t.c.code)
            .join(participant_t, participant_t.c.id == escalation_t.c.participant_id)
            .order_by(escalation_t.c.id.desc())
            .limit(limit)
        )
        if open_only:
            query = query.where(escalation_t.c.status != "resolved")
        return list(self.c.execute(query))

    def for_participant(self, participant_id: int) -> list[Row[Any]]:
        """A participant's escalations in order."""
        return list(
            self.c.execute(
                select(escalation_t).where(escalation_t.c.participant_id == participant_id).order_by(escalation_t.c.id)
            )
        )

    def without_timer(self) -> int:
        """Open escalations with no next alert planned (there should be none)."""
        return int(
            self.c.execute(
                select(func.count())
                .select_from(escalation_t)
                .where(escalation_t.c.status == "open", escalation_t.c.next_alert_at.is_(None))
            ).scalar_one()
        )


class StaffTokens:
    """Callback data behind the buttons of staff alerts."""

    def __init__(self, connection: Connection) -> None:
        """Work inside the caller's transaction."""
        self.c = connection

    def add(self, tokens: dict[str, str], escalation_id: int, now: datetime) -> None:
        """Store the tokens of one alert: action → token."""
        self.c.execute(
            insert(staff_token_t),
            [{"token": t, "escalation_id": escalation_id, "action": a, "created_at": now} for a, t in tokens.items()],
        )

    def get(self, token: str) -> Row[Any] | None:
        """The escalation and action behind a token."""
        return self.c.execute(select(staff_token_t).where(staff_token_t.c.token == token[:32])).first()


class Visits:
    """Booked appointments, one per visit of the schedule and participant."""

    def __init__(self, connection: Connection) -> None:
        """Work inside the caller's transaction."""
        self.c = connection

    def get(self, participant_id: int, visit_key: str) -> Row[Any] | None:
        """A participant's appointment for one visit of the schedule."""
        return self.c.execute(
            select(visit_t).where(visit_t.c.participant_id == participant_id, visit_t.c.visit_key == visit_key)
        ).first()

    def by_id(self, visit_id: int) -> Row[Any] | None:
        """An appointment by id."""
        return self.c.execute(select(visit_t).where(visit_t.c.id == visit_id)).first()

    def save(self, participant_id: int, visit_key: str, now: datetime, **values: Any) -> int:
        """Book (or re-book) a visit; return its id."""
        existing = self.get(participant_id, visit_key)
        if existing is None:
            row = {"participant_id": participant_id, "visit_key": visit_key, "created_at": now, "updated_at": now}
            return int(self.c.execute(_ADD_VISIT, {**row, **values}).scalar_one())
        self.update(existing.id, now, **values)
        return int(existing.id)

    def update(self, visit_id: int, now: datetime, **values: Any) -> None:
        """Change an appointment."""
        self.c.execute(update(visit_t).where(visit_t.c.id == visit_id).values(updated_at=now, **values))

    def for_participant(self, participant_id: int) -> list[Row[Any]]:
        """A participant's appointments, soonest first."""
        return list(self.c.execute(_VISITS_OF, {"p_id": participant_id}))

    def possibly_missed(self, now: datetime) -> list[Row[Any]]:
        """Booked visits whose time has passed and whose window may have closed (the caller checks the zone)."""
        return list(
            self.c.execute(
                select(visit_t).where(
                    visit_t.c.status == "booked", visit_t.c.scheduled_at < now, visit_t.c.window_end < now.date()
                )
            )
        )


@dataclass(frozen=True, slots=True)
class Caps:
    """Per-participant limits on capped scheduled messages."""

    per_day: int
    per_week: int


_SWEEP_BATCH = "trialbot_sweep_batch"
sweep_batch_t = Table(_SWEEP_BATCH, MetaData(), Column("id", BigInteger, primary_key=True), prefixes=["TEMPORARY"])
"""The ids one sweep batch chose: a temporary table of the connection, never part of the schema."""


class Schedule:
    """Scheduled messages: planned rows, the sweep that sends them, and replies they wait for."""

    def __init__(self, connection: Connection) -> None:
        """Work inside the caller's transaction."""
        self.c = connection

    def by_key(self, key: str) -> Row[Any] | None:
        """A scheduled message by key."""
        return self.c.execute(_SCHEDULED_BY_KEY, {"p_key": key}).first()

    def get(self, scheduled_id: int) -> Row[Any] | None:
        """A scheduled message by id."""
        return self.c.execute(select(scheduled_t).where(scheduled_t.c.id == scheduled_id)).first()

    def put(self, key: str, now: datetime, **values: Any) -> int | None:
        """Plan a message, or re-plan a pending or cancelled one with the same key; None if it was sent."""
        # Statements built once, their columns taken from the parameters: planning 100,000 visits
        # otherwise spends a third of its time building and hashing `.values(...)` clauses.
        existing = self.by_key(key)
        if existing is None:
            row = {"key": key, "status": "pending", "created_at": now, "updated_at": now, **values}
            return int(self.c.execute(_ADD_SCHEDULED, row).scalar_one())
        if existing.status == "sent":
            return None
        changes = {"status": "pending", "sent_at": None, "awaiting_reply": False, "updated_at": now, **values}
        self.c.execute(_REPLAN_SCHEDULED, {"p_id": existing.id, **changes})
        return int(existing.id)

    def cancel(
        self, now: datetime, *, participant_id: int, visit_id: int | None = None, kinds: Sequence[str] | None = None,
        keep: Sequence[str] = (), status: str = "cancelled",
    ) -> int:  # fmt: skip
        """Cancel a participant's pending rows (of a visit, of some kinds), except the keys in `keep`."""
        where = [scheduled_t.c.participant_id == participant_id, scheduled_t.c.status == "pending"]
        if visit_id is not None:
            where.append(scheduled_t.c.visit_id == visit_id)
        if kinds is not None:
            where.append(scheduled_t.c.kind.in_(list(kinds)))
        if keep:
            where.append(scheduled_t.c.key.not_in(list(keep)))
        return int(self.c.execute(update(scheduled_t).where(*where).values(status=status, updated_at=now)).rowcount)

    def stop_waiting(self, now: datetime, *, participant_id: int, visit_id: int | None = None) -> None:
        """Sent rows stop waiting for a reply (the visit was cancelled or moved)."""
        where = [scheduled_t.c.participant_id == participant_id, scheduled_t.c.awaiting_reply]
        if visit_id is not None:
            where.append(scheduled_t.c.visit_id == visit_id)
        self.c.execute(update(scheduled_t).where(*where).values(awaiting_reply=False, updated_at=now))

    def awaiting(self, participant_id: int, now: datetime) -> Row[Any] | None:
        """The most recent sent message still waiting for this participant's reply."""
        return self.c.execute(_AWAITING, {"p_id": participant_id, "p_now": now}).first()

    def sent_since(self, participant_id: int, since: datetime) -> bool:
        """True if a scheduled message went to the participant after `since`."""
        return (
            self.c.execute(
                select(scheduled_t.c.id)
                .where(scheduled_t.c.participant_id == participant_id, scheduled_t.c.sent_at >= since)
                .limit(1)
            ).first()
            is not None
        )

    def answered(self, scheduled_id: int, now: datetime) -> None:
        """The participant replied: the message waits no more."""
        self.c.execute(
            update(scheduled_t).where(scheduled_t.c.id == scheduled_id).values(awaiting_reply=False, updated_at=now)
        )

    def for_participant(self, participant_id: int, statuses: Sequence[str] = ("pending",)) -> list[Row[Any]]:
        """A participant's rows with these statuses, in due order."""
        return list(
            self.c.execute(
                select(scheduled_t)
                .where(scheduled_t.c.participant_id == participant_id, scheduled_t.c.status.in_(list(statuses)))
                .order_by(scheduled_t.c.due_at, scheduled_t.c.id)
            )
        )

    # -- the sweep: set-based, so a hundred thousand due rows do not go through Python one by one ----

    def _eligible(self, now: datetime, caps: Caps) -> Select[Any]:
        """Rows that may go out now, in due order; the caps count sent rows (SMS-15)."""
        sent = scheduled_t.alias("sent")
        # The counts look rows up by participant and day (ix_scheduled_participant). On PostgreSQL their
        # status test is written so no index can serve it: planned on statistics taken before anything was
        # sent, it estimated "status = 'sent'" at one row, took an index on (status, due_at) instead (there
        # was one until migration 0006), and then read every row already sent for each candidate (a sweep of
        # 100,000 ran for minutes, not seconds). SQLite keeps no such statistics.
        was_sent = sent.c.status == "sent"
        if self.c.dialect.name == "postgresql":
            was_sent = func.coalesce(sent.c.status, "") == "sent"
        per_day = (
            select(func.count())
            .where(sent.c.participant_id == scheduled_t.c.participant_id, was_sent, sent.c.capped,
                   sent.c.day_number == scheduled_t.c.day_number)
            .scalar_subquery()
        )  # fmt: skip
        per_week = (
            select(func.count())
            .where(sent.c.participant_id == scheduled_t.c.participant_id, was_sent, sent.c.capped,
                   sent.c.day_number.between(scheduled_t.c.day_number - 6, scheduled_t.c.day_number))
            .scalar_subquery()
        )  # fmt: skip
        return (
            select(scheduled_t.c.id, scheduled_t.c.participant_id, scheduled_t.c.due_at)
            .join(participant_t, participant_t.c.id == scheduled_t.c.participant_id)
            .where(
                scheduled_t.c.status == "pending",
                scheduled_t.c.due_at <= now,
                scheduled_t.c.send_until > now,
                participant_t.c.opted_out_at.is_(None),
                # Nothing scheduled goes to someone who has not agreed to texts, but the welcome that asks.
                or_(participant_t.c.opted_in_at.is_not(None), scheduled_t.c.kind == WELCOME_KIND),
                or_(scheduled_t.c.capped == false(), and_(per_day < caps.per_day, per_week < caps.per_week)),
            )
            .order_by(scheduled_t.c.due_at, scheduled_t.c.id)
        )

    def due(self, now: datetime, caps: Caps, limit: int) -> list[tuple[int, int]]:
        """(id, participant id) of rows that may go out now (what a sweep would consider)."""
        return [(r.id, r.participant_id) for r in self.c.execute(self._eligible(now, caps).limit(limit)).all()]

    def send_due(self, now: datetime, caps: Caps, limit: int) -> tuple[int, int]:
        """One batch of the sweep, wholly in SQL: choose what may go now (the earliest per participant,
        within the caps), copy it to the outbox and mark it sent. Returns how many were chosen and how many
        outbox rows were new (a row already in the outbox is not queued twice).

        The chosen ids go through a temporary table, so no id list makes a round trip through Python.
        """
        self.c.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_SWEEP_BATCH} (id BIGINT PRIMARY KEY)")
        self.c.execute(delete(sweep_batch_t))
        eligible = self._eligible(now, caps).limit(limit)
        if self.c.dialect.name == "postgresql":
            eligible = eligible.with_for_update(skip_locked=True, of=scheduled_t)
        locked = eligible.cte("eligible")
        ranked = select(
            locked.c.id,
            func.row_number()
            .over(partition_by=locked.c.participant_id, order_by=(locked.c.due_at, locked.c.id))
            .label("rank"),
        ).subquery("ranked")
        self.c.execute(insert(sweep_batch_t).from_select(["id"], select(ranked.c.id).where(ranked.c.rank == 1)))
        chosen = select(sweep_batch_t.c.id)
        queued = self._copy_to_outbox(scheduled_t.c.id.in_(chosen), now)
        marked = self.c.execute(
            update(scheduled_t)
            .where(scheduled_t.c.id.in_(chosen))
            .values(status="sent", sent_at=now, updated_at=now, awaiting_reply=scheduled_t.c.flow.is_not(None))
        ).rowcount
        return int(marked), queued

    def _copy_to_outbox(self, which: ColumnElement[bool], now: datetime) -> int:
        """INSERT ... SELECT the chosen scheduled rows into the outbox, keyed `sched:<id>` (never twice)."""
        at = literal(now, type_=outbox_t.c.created_at.type)
        source = select(
            ("sched:" + cast(scheduled_t.c.id, String)).label("idempotency_key"),
            scheduled_t.c.participant_id,
            scheduled_t.c.channel,
            scheduled_t.c.address,
            scheduled_t.c.body,
            scheduled_t.c.buttons,
            scheduled_t.c.purpose,
            literal("pending").label("status"),
            literal(0).label("attempts"),
            at.label("next_attempt_at"),
            literal(False).label("possible_duplicate"),
            at.label("created_at"),
            at.label("updated_at"),
        ).where(which)
        columns = ["idempotency_key", "participant_id", "channel", "address", "body", "buttons", "purpose", "status",
                   "attempts", "next_attempt_at", "possible_duplicate", "created_at", "updated_at"]  # fmt: skip
        dialect_insert = pg_insert if self.c.dialect.name == "postgresql" else sqlite_insert
        statement = dialect_insert(outbox_t).from_select(columns, source).on_conflict_do_nothing()
        if self.c.dialect.name == "sqlite":
            return int(self.c.execute(statement).rowcount)
        # RETURNING, not rowcount: psycopg reports -1 for INSERT ... SELECT through SQLAlchemy.
        return len(self.c.execute(statement.returning(outbox_t.c.id)).all())

    def skip_opted_out(self, now: datetime, chunk: int = 500) -> int:
        """Due rows of participants who said STOP are skipped, not sent (they are planned again on START)."""
        # Driven from the people who said STOP (few) through ix_scheduled_participant. With the status test
        # indexable, SQLite chose the pending index instead and read every due row of the sweep to find them
        # (0.1 s of a sweep of 100,000 with nobody opted out); coalesce() keeps it from doing so.
        said_stop = select(participant_t.c.id).where(participant_t.c.opted_out_at.is_not(None))
        opted_out = list(self.c.execute(said_stop).scalars())
        skipped = 0
        for start in range(0, len(opted_out), chunk):
            skipped += self.c.execute(
                update(scheduled_t)
                .where(
                    scheduled_t.c.participant_id.in_(opted_out[start : start + chunk]),
                    func.coalesce(scheduled_t.c.status, "") == "pending",
                    scheduled_t.c.due_at <= now,
                )
                .values(status="skipped", updated_at=now)
            ).rowcount
        return skipped

    def cancel_welcomes(self, now: datetime, participant_id: int | None = None) -> int:
        """Cancel pending welcomes of people who have agreed to texts already (they wrote to us first);
        of one participant, or of everyone."""
        where = [scheduled_t.c.status == "pending", scheduled_t.c.kind == WELCOME_KIND]
        if participant_id is not None:
            where.append(scheduled_t.c.participant_id == participant_id)
        else:
            where.append(
                scheduled_t.c.participant_id.in_(
                    select(participant_t.c.id).where(participant_t.c.opted_in_at.is_not(None))
                )
            )
        return int(
            self.c.execute(update(scheduled_t).where(*where).values(status="cancelled", updated_at=now)).rowcount
        )

    def late(self, now: datetime, limit: int = 1000) -> list[Row[Any]]:
        """Pending rows whose sending window closed before they could go (quiet hours, caps, a stopped worker)."""
        query = (
            select(scheduled_t)
            # due_at <= now follows from send_until <= now (a row is due before its window closes); with the
            # order by due_at it lets the pending index serve the query instead of a scan of every row ever
            # scheduled (SQLite scanned the table in id order for "ORDER BY id").
            .where(scheduled_t.c.status == "pending", scheduled_t.c.due_at <= now, scheduled_t.c.send_until <= now)
            .order_by(scheduled_t.c.due_at, scheduled_t.c.id)
            .limit(limit)
        )
        if self.c.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return list(self.c.execute(query))

    def move(
        self, scheduled_id: int, now: datetime, *, due_at: datetime, send_until: datetime, day_number: int
    ) -> None:
        """Plan a row again for a later window."""
        self.c.execute(
            update(scheduled_t)
            .where(scheduled_t.c.id == scheduled_id)
            .values(due_at=due_at, send_until=send_until, day_number=day_number, updated_at=now)
        )

    def finish(self, scheduled_id: int, now: datetime, status: str) -> None:
        """Give a row its final status (expired: its visit has passed)."""
        self.c.execute(
            update(scheduled_t).where(scheduled_t.c.id == scheduled_id).values(status=status, updated_at=now)
        )

    def stop_waiting_expired(self, now: datetime) -> None:
        """Sent rows whose reply window closed wait no more."""
        self.c.execute(
            update(scheduled_t)
            .where(scheduled_t.c.awaiting_reply, scheduled_t.c.reply_until <= now)
            .values(awaiting_reply=False, updated_at=now)
        )


class Repositories:
    """Every repository on one connection: what a unit of work hands to the service."""

    def __init__(self, connection: Connection) -> None:
        """Bind each repository to the transaction's connection."""
        self.connection = connection
        self.participants = Participants(connection)
        self.conversations = Conversations(connection)
        self.inbound = Inbound(connection)
        self.outbox = Outbox(connection)
        self.audit = Audit(connection)
        self.outcomes = Outcomes(connection)
        self.escalations = Escalations(connection)
        self.buttons = Buttons(connection)
        self.visits = Visits(connection)
        self.staff_tokens = StaffTokens(connection)
        self.schedule = Schedule(connection)
