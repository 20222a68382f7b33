"""The inbound pipeline: store the message (deduplicated), then take the turn in one transaction.

1. `receive`: find or create the participant and store the message; a provider id seen before is a
   no-op. Committed before the channel answers the provider (RELIABILITY §2.1).
2. `process`: for one participant, with their row locked, act on their waiting messages oldest first:
   decide the turn (bot.conversation, pure), then write the new snapshot, the audit entries, the
   outcomes and the outbox rows and mark the message processed, all in ONE transaction. Sending
   happens after commit (bot.dispatcher). A crash anywhere leaves either nothing or everything.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.channels.rendering import ChoiceStyle, Renderer
from bot.clock import Clock
from bot.conversation import COMPLIANCE, CRISIS_REPLY, SAFETY, Conversations, Incoming, Opener
from bot.domain import (
    PRIVATE_PREFERENCES,
    ConsentPointAnswered,
    Event,
    InboundMessage,
    JSONDict,
    LocaleChanged,
    MessageCreated,
    OpenerAnswered,
    OptedIn,
    OptedOut,
    Part,
    Participant,
    PreferenceRecorded,
    PrescreenCompleted,
    PurposeChanged,
    RecontactRecorded,
    StaffRequested,
    TextsAgreed,
    TravelRequested,
    VisitConfirmed,
)
from bot.engine import TurnResult
from bot.facts import Facts
from bot.flood import Limits, hold_repeats, pace
from bot.ids import IdSource
from bot.study import SEVERITIES, Pacing, Study
from bot.text import fold, sanitize
from bot.travel import record_travel_request
from storage.database import UNAVAILABLE, Database
from storage.repositories import ConversationRow, PendingInbound, Repositories

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from bot.planning import Planner

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
"""A message whose turn fails this often is set aside and staff are told (never dropped silently)."""
ALWAYS_SENT = frozenset({COMPLIANCE, SAFETY})
"""Purposes that still reach a participant who opted out."""


class _TurnError(Exception):
    """A turn raised; the message it was for must still be stored (the cause is chained)."""

    def __init__(self, participant_id: int) -> None:
        super().__init__(f"turn failed for participant {participant_id}")
        self.participant_id = participant_id


@dataclass(frozen=True, slots=True)
class Receipt:
    """What `receive` did with a message."""

    participant_id: int
    inbound_id: int | None
    participant_code: str

    @property
    def duplicate(self) -> bool:
        """True when the provider delivered this message before."""
        return self.inbound_id is None


@dataclass(slots=True)
class Processed:
    """What `process` did: messages acted on, failed, and outbox rows queued."""

    inbound_ids: list[int] = field(default_factory=list)
    failed_ids: list[int] = field(default_factory=list)
    outbox_ids: list[int] = field(default_factory=list)
    escalated: bool = False  # an escalation was opened: its first staff alert should go now

    def absorb(self, other: Processed) -> None:
        """Add what another `process` call did to this one."""
        self.inbound_ids += other.inbound_ids
        self.failed_ids += other.failed_ids
        self.outbox_ids += other.outbox_ids
        self.escalated = self.escalated or other.escalated


class Service:
    """The one inbound pipeline every channel uses."""

    def __init__(
        self,
        database: Database,
        study: Study,
        conversations: Conversations,
        renderer: Renderer,
        clock: Clock,
        ids: IdSource,
        styles: Mapping[str, ChoiceStyle],
        planner: Planner | None = None,
    ) -> None:
        """Wire the pipeline; `styles` says how each channel shows choices."""
        self.database = database
        self.study = study
        self.conversations = conversations
        self.renderer = renderer
        self.clock = clock
        self.ids = ids
        self.styles = dict(styles)
        self.planner = planner
        self.limits = _limits(study.pacing)

    # -- step 1 -----------------------------------------------------------------------------

    def receive(self, message: InboundMessage) -> Receipt:
        """Store an inbound message once; create its sender as a participant on first contact."""
        with self.database.write() as connection:
            return self._store(Repositories(connection), message, self.clock.now())

    def take(self, message: InboundMessage) -> tuple[Receipt, Processed]:
        """Store a message and act on it in the same transaction: one durable commit per message.

        If the turn fails, that transaction is rolled back and the message is stored on its own (and
        committed), then tried again the usual way (`process`), so a failing turn never loses the message.
        """
        try:
            with self.database.write() as connection:
                receipt, done, more = self._store_and_turn(connection, message)
        except _TurnError as failed:
            log.error("turn failed for participant %s; the message is kept", failed.participant_id, exc_info=failed)
            receipt, done = self.receive(message), Processed()
            more = not receipt.duplicate
        if more:
            done.absorb(self.process(receipt.participant_id))
        return receipt, done

    def _store_and_turn(self, connection: Connection, message: InboundMessage) -> tuple[Receipt, Processed, bool]:
        """Store a message and take its turn inside the caller's transaction; the receipt, what the turn did,
        and whether `process` must follow the commit (another message waits). A failing turn raises
        _TurnError, and the caller rolls back: failures are rare, and a savepoint around every turn cost two
        statements and ~4% of a message's CPU."""
        repos = Repositories(connection)
        receipt, sender = self._store_for(repos, message, self.clock.now())
        if receipt.duplicate:
            return receipt, Processed(), False
        done = Processed()
        try:
            more = self._next_turn(repos, receipt.participant_id, done, sender)
        except UNAVAILABLE:
            raise  # the database, not the turn: the caller spools the message
        except Exception as exc:
            raise _TurnError(receipt.participant_id) from exc
        return receipt, done, more

    def take_many(self, messages: Sequence[InboundMessage]) -> list[tuple[Receipt, Processed] | Exception]:
        """Store and act on several messages in ONE transaction (group commit): what `take` does for each,
        in order, with one commit for all of them, so no message is answered before it is durable.

        On SQLite every write transaction holds the one writer lock and pays its own begin, commit and
        fsync; under load most of a message's cost was that. If storing a message or taking its turn fails,
        the batch is rolled back and every message is taken on its own (`take`), so one bad message cannot
        fail the others, and a failing turn still keeps its message.
        """
        if len(messages) <= 1:
            return [self._take_one(message) for message in messages]
        results: list[tuple[Receipt, Processed]] = []
        again: list[int] = []
        try:
            with self.database.write() as connection:
                for message in messages:
                    receipt, done, more = self._store_and_turn(connection, message)
                    results.append((receipt, done))
                    if more:
                        again.append(receipt.participant_id)
        except UNAVAILABLE as exc:
            # Locked past the busy timeout, or down: one by one would only wait as long again for each.
            log.warning("the database could not take a batch of %d messages (%s)", len(messages), type(exc).__name__)
            return [exc] * len(messages)
        except Exception:
            log.warning("a batch of %d messages failed; taking them one by one", len(messages))
            return [self._take_one(message) for message in messages]
        for participant_id in dict.fromkeys(again):  # once each, in order
            follow = self.process(participant_id)
            for receipt, done in results:
                if receipt.participant_id == participant_id and not receipt.duplicate:
                    done.absorb(follow)
                    break
        return list(results)

    def _take_one(self, message: InboundMessage) -> tuple[Receipt, Processed] | Exception:
        try:
            return self.take(message)
        except Exception as exc:
            return exc

    def _store(self, repos: Repositories, message: InboundMessage, now: datetime) -> Receipt:
        return self._store_for(repos, message, now)[0]

    def _store_for(self, repos: Repositories, message: InboundMessage, now: datetime) -> tuple[Receipt, Participant]:
        """Store the message; the receipt, and the sender as they are in this transaction."""
        participant = repos.participants.by_address(message.channel, message.address)
        if participant is None:
            participant = self.enrol_address(repos, message, now)
        inbound_id = repos.inbound.add(
            channel=message.channel,
            provider_message_id=message.provider_message_id,
            participant_id=participant.id,
            text=sanitize(message.text),
            media_count=max(0, message.media_count),
            received_at=message.received_at,
            kind=message.kind,
        )
        if inbound_id is not None and message.meta:
            repos.audit.append(
                at=now, actor="participant", action="channel_details", participant_id=participant.id,
                inbound_id=inbound_id, new=dict(message.meta),
            )  # fmt: skip
        return Receipt(participant.id, inbound_id, participant.code), participant

    def enrol_address(self, repos: Repositories, message: InboundMessage, now: datetime) -> Participant:
        """Create a participant reached at this message's address (first contact, or staff enrolment)."""
        locale = message.locale_hint if message.locale_hint in self.study.languages else self.study.default_locale
        for _ in range(20):
            created = repos.participants.create(
                code=self.ids.participant_code(),
                study_id=self.study.id,
                locale=locale,
                timezone=self.study.timezone,
                channel=message.channel,
                address=message.address,
                now=now,
            )
            if created is not None:
                repos.audit.append(
                    at=now, actor="system", action="participant_created", participant_id=created,
                    new={"channel": message.channel, "locale": locale, "timezone": self.study.timezone},
                )  # fmt: skip
                return repos.participants.get(created)
            # The address may have been taken by a concurrent first message from the same person.
            existing = repos.participants.by_address(message.channel, message.address)
            if existing is not None:
                return existing
        raise RuntimeError("could not create a unique participant code")

    # -- step 2 -----------------------------------------------------------------------------

    def process(self, participant_id: int) -> Processed:
        """Act on every waiting message of a participant, one transaction per message, in order."""
        done = Processed()
        more = True
        while more:
            try:
                with self.database.write() as connection:
                    more = self._next_turn(Repositories(connection), participant_id, done)
            except Exception as exc:
                # The transaction rolled back. Count the attempt in a transaction of its own.
                log.exception("turn failed for participant %s", participant_id)
                failed = self._count_failure(participant_id, exc)
                if failed is not None:
                    done.failed_ids.append(failed)
        return done

    def _next_turn(
        self, repos: Repositories, participant_id: int, done: Processed, known: Participant | None = None
    ) -> bool:
        """Take the turn for the participant's oldest waiting message; True if another one waits.
        `known` is the participant as already read in this transaction (saves reading them again)."""
        repos.participants.lock(participant_id)
        # Whether another waits is read with this one: nothing else adds to the participant's messages while
        # the lock is held (a later one of the same batch is stored after this turn), and a turn always
        # finishes its own message.
        inbound, more = repos.inbound.next_and_more(participant_id)
        if inbound is None:
            return False
        queued, escalated = self._turn(repos, participant_id, inbound, known)
        done.outbox_ids.extend(queued)
        done.escalated = done.escalated or escalated
        done.inbound_ids.append(inbound.id)
        return more

    def handle(self, message: InboundMessage) -> tuple[Receipt, Processed]:
        """Receive and act on a message: what a channel does for each message in one process."""
        return self.take(message)

    def recover(self) -> Processed:
        """Process whatever was received but not acted on (after a crash or restart)."""
        total = Processed()
        with self.database.read() as connection:
            waiting = Repositories(connection).inbound.participants_with_pending()
        for participant_id in waiting:
            total.absorb(self.process(participant_id))
        return total

    def _count_failure(self, participant_id: int, exc: Exception) -> int | None:
        now = self.clock.now()
        with self.database.write() as connection:
            repos = Repositories(connection)
            repos.participants.lock(participant_id)
            inbound = repos.inbound.next_pending(participant_id)
            if inbound is None:
                return None
            attempts = repos.inbound.count_attempt(inbound.id, type(exc).__name__)
            if attempts < MAX_ATTEMPTS:
                return None
            # Set it aside so the participant's later messages are not blocked, and tell staff.
            repos.inbound.finish(inbound.id, now, status="failed", error=type(exc).__name__)
            repos.escalations.open(
                participant_id=participant_id, category="processing_error", severity="high", at=now,
                inbound_id=inbound.id,
            )  # fmt: skip
            repos.audit.append(
                at=now, actor="system", action="inbound_failed", participant_id=participant_id,
                inbound_id=inbound.id, reason=type(exc).__name__,
            )  # fmt: skip
            return inbound.id

    def _turn(
        self, repos: Repositories, participant_id: int, inbound: PendingInbound, known: Participant | None = None
    ) -> tuple[list[int], bool]:
        """Decide and record one turn; return the outbox ids it queued, and whether staff must be alerted."""
        now = self.clock.now()
        participant = known if known is not None else repos.participants.get(participant_id)
        conversation = repos.conversations.load(participant_id)
        text, kind = inbound.text, inbound.kind
        pressed: int | None = None
        if kind == "button":
            text, kind, pressed = self._press(repos, participant_id, conversation.version, inbound.text, now)
        # Counted by when the channel received it, so messages acted on late (after a restart) are not a flood.
        burst, replies = pace(conversation.burst, inbound.received_at, self.limits)
        incoming = Incoming(
            text=text,
            kind=kind,
            media_count=inbound.media_count,
            participant=participant,
            snapshot=conversation.snapshot,
            has_outcome=lambda: repos.outcomes.has_prescreen(participant_id),
            first_message=conversation.version == 0,
            enrolled=participant.anchor_date is not None,
            opener=self._opener(repos, participant_id, conversation, now, pressed),
            facts=self._facts(repos, participant, now, inbound.text if conversation.version == 0 else None),
            replies=replies,
            burst_count=burst.count,
        )
        result = self.conversations.take_turn(incoming, now)
        participant = self._record_events(repos, participant, inbound, result, now)
        flow, state = _top(result)
        messages = [e for e in result.events if isinstance(e, MessageCreated)]
        # The same turn a sixth time in half an hour says nothing (an auto-reply loop; a safety reply that
        # keeps answering "in an emergency, call 911"); staff are still asked for each time.
        burst, messages, held = hold_repeats(burst, messages, inbound.received_at, _always_goes, self.limits)
        if held:
            repos.audit.append(
                at=now, actor="system", action="reply_held", participant_id=participant_id, inbound_id=inbound.id,
                new={"held": held}, reason=self.limits.held_because(),
            )  # fmt: skip
        repos.conversations.save(participant_id, result.snapshot, conversation.version, now, flow, state, burst)
        outbox_ids = self.queue_messages(
            repos, participant, inbound.channel, inbound.address, messages, f"reply:{inbound.id}", now,
            conversation.version + 1, inbound_id=inbound.id,
        )  # fmt: skip
        repos.inbound.finish(inbound.id, now)
        escalated = any(isinstance(e, StaffRequested) for e in result.events)
        return outbox_ids, escalated

    @staticmethod
    def _staff_must_know(repos: Repositories, participant_id: int) -> bool:
        """True for someone enrolled, or whose prescreen passed or needs review."""
        if repos.participants.get_anchor(participant_id) is not None:
            return True
        outcome = repos.outcomes.latest_prescreen(participant_id)
        return outcome is not None and outcome.outcome in ("eligible", "needs_review")

    def _facts(self, repos: Repositories, participant: Participant, now: datetime, first: str | None) -> Facts:
        """What flows may know beyond the conversation: upcoming visits, whether staff enrolled them, where
        they can be reached, and, on a first message, where they came from (an advertisement's keyword).
        Each is read from the database only if a flow asks for it during the turn (bot/facts.py)."""
        participant_id = participant.id

        def upcoming_visits() -> list[JSONDict]:
            return [
                {"visit_id": v.id, "visit_type": v.type, "when": v.scheduled_at.isoformat(),
                 "site": f"study.site.{v.site_id}" if v.site_id else None}
                for v in repos.visits.for_participant(participant_id)
                if v.status == "booked" and v.scheduled_at > now
            ]  # fmt: skip

        def channels() -> list[str]:
            # Where they can be reached now, for the settings flow's "how we reach you" (PRIV-01).
            return sorted({a.channel for a in repos.participants.addresses(participant_id) if a.unreachable_at is None})

        def source() -> str | None:
            keyword = self.study.onboarding.keyword(fold(first or ""))
            return keyword.source if keyword else repos.audit.start_payload(participant_id)

        lookups: dict[str, Callable[[], Any]] = {"upcoming_visits": upcoming_visits, "channels": channels}
        if first is not None:
            lookups["source"] = source
        return Facts({"enrolled": participant.anchor_date is not None}, **lookups)

    @staticmethod
    def _opener(
        repos: Repositories, participant_id: int, conversation: ConversationRow, now: datetime, pressed: int | None
    ) -> Opener | None:
        """The scheduled message this reply answers, if any: the reminder or check-in sent most recently.

        It takes the reply when nothing else is waiting, or when it was sent after the question that
        is waiting (the most recent question is the one people answer), or when its button was pressed.
        """
        row = repos.schedule.get(pressed) if pressed is not None else repos.schedule.awaiting(participant_id, now)
        if row is None or not row.awaiting_reply or row.flow is None:
            return None
        waiting = bool(conversation.snapshot.get("frames"))
        newer = conversation.updated_at is None or (row.sent_at is not None and row.sent_at >= conversation.updated_at)
        if pressed is None and waiting and not newer:
            return None
        return Opener(int(row.id), str(row.flow), dict(row.data or {}))

    @staticmethod
    def _press(
        repos: Repositories, participant_id: int, version: int, token: str, now: datetime
    ) -> tuple[str, str, int | None]:
        """A button press counts as typing its number, if it belongs to this participant's current question.

        A reply button is current in the conversation state it was sent in; a reminder's button while
        that reminder still waits for its answer. Anything else (an old keyboard, a double tap,
        another chat's button, forged data) changes nothing.
        """
        button = repos.buttons.get(token[:32])
        if button is None or button.participant_id != participant_id:
            return "", "button_stale", None
        if button.scheduled_id is not None:
            row = repos.schedule.get(button.scheduled_id)
            if row is None or not row.awaiting_reply or row.reply_until is None or row.reply_until <= now:
                return "", "button_stale", None
            return str(button.choice_number), "text", int(button.scheduled_id)
        if button.conversation_version != version:
            return "", "button_stale", None
        return str(button.choice_number), "text", None

    def _record_events(
        self,
        repos: Repositories,
        participant: Participant,
        inbound: PendingInbound,
        result: TurnResult,
        now: datetime,
    ) -> Participant:
        """Write each event's consequences and its audit entry; return the participant as it now is."""
        entries: list[dict[str, Any]] = []
        changes: dict[str, Any] = {}
        for event in result.events:
            payload = event.to_json()
            payload.pop("type", None)
            old: dict[str, Any] | None = None
            if isinstance(event, MessageCreated):
                continue  # the outbox row is the record of what was said
            if isinstance(event, OptedOut):
                old, changes["opted_out_at"] = {"opted_out": participant.opted_out}, now
                if self._staff_must_know(repos, participant.id):
                    # Someone in the study (or on their way in) can no longer be messaged: tell staff.
                    payload["escalation_id"] = repos.escalations.open(
                        participant_id=participant.id, category="opted_out", severity="normal", at=now,
                        inbound_id=inbound.id, received_at=inbound.received_at,
                    )  # fmt: skip
            elif isinstance(event, OptedIn):
                old, changes["opted_out_at"] = {"opted_out": participant.opted_out}, None
            elif isinstance(event, LocaleChanged):
                changes["locale"] = event.new
            elif isinstance(event, PreferenceRecorded):
                preferences = dict(changes.get("preferences", participant.preferences))
                old = {event.name: preferences.get(event.name)}
                if event.value is None:
                    preferences.pop(event.name, None)  # forgotten, e.g. a first name they no longer allow
                else:
                    preferences[event.name] = event.value
                changes["preferences"] = preferences
                if event.name in PRIVATE_PREFERENCES:
                    # Whether it is set, never the value: the audit trail cannot be erased (PRIV-12).
                    old = {event.name: _private(old[event.name])}
                    payload["value"] = _private(event.value)
            elif isinstance(event, PurposeChanged):
                # SMS-05: purpose -> when it was turned off; turned back on, it is removed.
                opt_outs = dict(changes.get("purpose_opt_outs", participant.purpose_opt_outs))
                old = {event.purpose: opt_outs.get(event.purpose)}
                if event.wanted:
                    opt_outs.pop(event.purpose, None)
                else:
                    opt_outs.setdefault(event.purpose, now.isoformat())
                changes["purpose_opt_outs"] = opt_outs
            elif isinstance(event, PrescreenCompleted):
                repos.outcomes.record_prescreen(
                    participant_id=participant.id, study_id=self.study.id, outcome=event.outcome,
                    reasons=list(event.reasons), review=list(event.review), answers=dict(event.answers), at=now,
                )  # fmt: skip
            elif isinstance(event, RecontactRecorded):
                repos.outcomes.record_recontact(
                    participant_id=participant.id, scope=event.scope, granted=event.granted, at=now
                )
            elif isinstance(event, StaffRequested):
                # The same worry again before anyone acknowledged the first (an auto-reply loop, or a patient
                # writing it twice) joins that escalation: one alert for staff, every message in the audit.
                # A more severe one, or one after an acknowledgement, opens its own.
                joined = repos.escalations.open_for(participant.id, event.category, _as_severe(event.severity))
                if joined is not None:
                    payload["escalation_id"], payload["joined"] = joined, True
                    repos.escalations.joined(joined, now)
                else:
                    payload["escalation_id"] = repos.escalations.open(
                        participant_id=participant.id, category=event.category, severity=event.severity, at=now,
                        inbound_id=inbound.id, details=dict(event.details), received_at=inbound.received_at,
                    )  # fmt: skip
            elif isinstance(event, TextsAgreed):
                # SMS-09: the opt-in with its time, source, and the exact disclosure text and version.
                payload["shown_text"] = [
                    self.renderer.part(Part(key), result.locale, participant.timezone) for key in event.shown
                ]
                payload["channel"] = inbound.channel
                if event.agreed:
                    old, changes["opted_in_at"] = {"opted_in_at": None}, now
                    repos.schedule.cancel_welcomes(now, participant.id)  # no welcome after they agreed
            elif isinstance(event, ConsentPointAnswered):
                # CON-08: each consent-check answer with its version and the exact words the patient saw
                # for this attempt, in their language (the entry's `at` is the time).
                payload["shown_text"] = [
                    self.renderer.part(Part(key), participant.locale, participant.timezone) for key in event.shown
                ]
                payload["locale"] = participant.locale
            elif isinstance(event, OpenerAnswered):
                repos.schedule.answered(event.scheduled_id, now)
            elif isinstance(event, VisitConfirmed):
                visit = repos.visits.by_id(event.visit_id)
                if visit is not None and visit.participant_id == participant.id and visit.status == "booked":
                    old = {"confirmed_at": visit.confirmed_at.isoformat() if visit.confirmed_at else None}
                    repos.visits.update(visit.id, now, confirmed_at=now)
            elif isinstance(event, TravelRequested):
                # Travel (TRV-01/02): the request row, its escalation and its audit entry hold the details
                # (bot/travel.py), so this entry names the request rather than repeating the postal code.
                payload = {
                    "visit_id": event.visit_id,
                    "travel_request_id": record_travel_request(repos, participant.id, event, inbound.id, now),
                }
            entries.append(
                {"at": now, "actor": "participant", "action": event.type, "participant_id": participant.id,
                 "inbound_id": inbound.id, "old": old, "new": payload, "reason": None}
            )  # fmt: skip
        if result.locale != participant.locale:
            changes["locale"] = result.locale
        repos.audit.append_many(entries)
        if not changes:
            return participant
        repos.participants.update(participant.id, now, **changes)
        updated = repos.participants.get(participant.id)
        # Planned messages were written in the old language, or skipped while opted out, or held back
        # until they agreed to texts; or the settings turned a kind of message off or on (SMS-05), or
        # changed the channel or first name: plan again.
        replan = bool({"locale", "opted_out_at", "opted_in_at"} & changes.keys()) or _plans_changed(
            participant, updated
        )
        if self.planner is not None and not updated.opted_out and replan:
            self.planner.replan(repos, updated, now)
        return updated

    def queue_messages(
        self, repos: Repositories, participant: Participant, channel: str, address: str,
        messages: list[MessageCreated], key: str, now: datetime, version: int, inbound_id: int | None = None,
    ) -> list[int]:  # fmt: skip
        """Render messages for a channel and queue them in the outbox (in this transaction)."""
        style = self.styles.get(channel, ChoiceStyle.NUMBERED)
        queued: list[int] = []
        for number, message in enumerate(messages):
            if participant.opted_out and message.purpose not in ALWAYS_SENT:
                continue
            rendered = self.renderer.render(message, participant.locale, style, participant.timezone)
            # Each button carries an opaque token, checked against this state when it is pressed.
            tokens = [secrets.token_urlsafe(12) for _ in rendered.buttons]
            buttons = [
                {"value": b.value, "label": b.label, "token": t} for b, t in zip(rendered.buttons, tokens, strict=True)
            ]
            outbox_id = repos.outbox.add(
                key=f"{key}:{number}",
                participant_id=participant.id,
                channel=channel,
                address=address,
                body=rendered.body,
                buttons=buttons or None,
                purpose=rendered.purpose,
                now=now,
                inbound_id=inbound_id,
            )
            if outbox_id is None:
                continue
            queued.append(outbox_id)
            repos.buttons.add_many(
                [
                    {"token": t, "participant_id": participant.id, "outbox_id": outbox_id,
                     "conversation_version": version, "choice_number": n, "created_at": now}
                    for n, t in enumerate(tokens, start=1)
                ]
            )  # fmt: skip
        return queued


RENDERED_PREFERENCES = ("channel", "use_first_name", "first_name")
"""Preferences that change what planned messages say or where they go."""


def _private(value: object) -> str | None:
    """How the audit trail shows a private preference: that it is set, or None."""
    return "[private]" if value not in (None, "", False) else None


def _plans_changed(before: Participant, after: Participant) -> bool:
    """True when planned messages must be planned again: purposes or rendered preferences changed."""
    if before.purpose_opt_outs.keys() != after.purpose_opt_outs.keys():
        return True
    return any(before.preferences.get(name) != after.preferences.get(name) for name in RENDERED_PREFERENCES)


def _as_severe(severity: str) -> tuple[str, ...]:
    """This severity and the ones above it (SEVERITIES runs from the most severe)."""
    return SEVERITIES[: SEVERITIES.index(severity) + 1] if severity in SEVERITIES else (severity,)


def _limits(pacing: Pacing) -> Limits:
    """The study's pacing over trialbot's defaults (bot/flood.py)."""
    base = Limits()
    return Limits(
        per_window=pacing.messages_per_minute or base.per_window,
        repeat_times=pacing.same_reply_times or base.repeat_times,
        repeat_window=timedelta(minutes=pacing.same_reply_minutes) if pacing.same_reply_minutes else base.repeat_window,
    )


def _always_goes(reply: MessageCreated) -> bool:
    """STOP/START/HELP confirmations and the crisis line go however often they went before."""
    return reply.purpose == COMPLIANCE or any(part.key == CRISIS_REPLY for part in reply.parts)


def _top(result: TurnResult) -> tuple[str | None, str | None]:
    frames = result.snapshot.get("frames") or []
    if not frames:
        return None, None
    return str(frames[-1]["flow"]), str(frames[-1]["state"])


def describe_events(events: list[Event]) -> list[str]:
    """One line per event, for transcripts and debugging."""
    return [e.summary() for e in events]
