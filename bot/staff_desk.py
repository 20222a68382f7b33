"""Staff acting on escalations: from the staff Telegram group, by SMS from an on-call phone, or the CLI.

Only allow-listed staff may act, checked on the person, not only on the chat (RELIABILITY §3.3):
a press in the staff group counts only if the group is ours AND the user's Telegram id is on the
study's staff list; anonymous admins and everyone else are refused. A button's callback data is an
opaque token that names the escalation and the action on our side. Every action and every refusal
is audited. Replies to staff never carry health details (PRIV-07).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from bot.clock import Clock
from bot.domain import MessageCreated, Part
from bot.escalation import STAFF, Alerts, EscalationError, waited
from bot.service import Service
from bot.study import Study
from storage.database import Database
from storage.repositories import Repositories

ANONYMOUS_ADMIN = 1087968824  # Telegram's "GroupAnonymousBot": an admin posting as the group
_COMMAND = re.compile(
    r"^/?(?P<verb>ack|acknowledge|resolve|list|help)(?:@\w+)?(?:\s+#?(?P<id>\d{1,9}))?(?:\s+(?P<note>.+))?$",
    re.I | re.S,
)
HELP = "Commands: /list, /ack ID, /resolve ID note. Details of one: trialbot escalation show ID"


@dataclass(frozen=True, slots=True)
class StaffMessage:
    """Something staff did: a button press or a command, with who and where."""

    channel: str  # "telegram" or "sms"
    chat: str  # the Telegram chat id, or the phone number
    user_id: int | None = None
    text: str = ""
    token: str | None = None  # a button's callback data
    anonymous: bool = False  # posted as the group or a channel, not as a person


@dataclass(slots=True)
class DeskReply:
    """What the desk answered: a short note for a button press, and messages queued in the outbox."""

    toast: str | None = None
    outbox_ids: list[int] = field(default_factory=list)


class StaffDesk:
    """Checks who is acting, does what they ask, and answers them."""

    def __init__(self, study: Study, service: Service, database: Database, clock: Clock) -> None:
        """Act on this study's escalations."""
        self.study = study
        self.alerts = Alerts(study)
        self.service = service
        self.database = database
        self.clock = clock

    # -- who may act --------------------------------------------------------------------------

    def is_staff_chat(self, chat: str) -> bool:
        """True for a staff group that alerts go to."""
        return chat.lstrip("-").isdigit() and int(chat) in self.alerts.telegram_chats()

    def is_staff_phone(self, phone: str) -> bool:
        """True for a phone number on the staff list (its texts are commands, not a participant's)."""
        return any(member.phone == phone for member in self.study.escalation.staff)

    def who(self, message: StaffMessage) -> str | None:
        """The staff member acting, or None if this person may not act here."""
        staff = self.study.escalation.staff
        if message.channel == "telegram":
            if message.anonymous or message.user_id in (None, ANONYMOUS_ADMIN) or not self.is_staff_chat(message.chat):
                return None
            found = next((m for m in staff if m.telegram_user_id == message.user_id), None)
        else:
            found = next((m for m in staff if m.phone == message.chat), None)
        return f"staff:{found.name}" if found is not None else None

    # -- acting -------------------------------------------------------------------------------

    def handle(self, message: StaffMessage) -> DeskReply:
        """Do what a staff message asks, if its sender may; audit it either way."""
        now = self.clock.now()
        with self.database.write() as connection:
            repos = Repositories(connection)
            actor = self.who(message)
            if actor is None:
                repos.audit.append(
                    at=now, actor="unknown", action="staff_action_refused",
                    new={"channel": message.channel, "chat": message.chat, "user_id": message.user_id,
                         "button": message.token is not None, "reason": "not on the staff list"},
                )  # fmt: skip
                return DeskReply(toast="Sorry, only study staff can do that.")
            if message.token is not None:
                return self._press(repos, message, actor, now)
            return self._command(repos, message, actor, now)

    def _press(self, repos: Repositories, message: StaffMessage, actor: str, now: datetime) -> DeskReply:
        found = repos.staff_tokens.get(message.token or "")
        if found is None:
            repos.audit.append(
                at=now, actor=actor, action="staff_action_refused",
                new={"channel": message.channel, "chat": message.chat, "reason": "unknown button"},
            )  # fmt: skip
            return DeskReply(toast="That button is not valid.")
        if found.action == "ack":
            result = self.alerts.acknowledge(repos, found.escalation_id, actor, now, via=message.channel)
        else:
            result = self.alerts.resolve(
                repos, found.escalation_id, actor, now, "resolved from the staff chat", message.channel
            )
        reply = DeskReply(toast=result.message)
        if result.changed:
            reply.outbox_ids += self._say(repos, message, result.message, now)
        return reply

    def _command(self, repos: Repositories, message: StaffMessage, actor: str, now: datetime) -> DeskReply:
        match = _COMMAND.match(message.text.strip())
        if match is None or match["verb"].lower() == "help":
            return DeskReply(outbox_ids=self._say(repos, message, HELP, now))
        verb = match["verb"].lower()
        if verb == "list":
            return DeskReply(outbox_ids=self._say(repos, message, self.summary(repos, now), now))
        if match["id"] is None:
            return DeskReply(outbox_ids=self._say(repos, message, f"Give the number, e.g. {verb} 12.", now))
        try:
            if verb in ("ack", "acknowledge"):
                result = self.alerts.acknowledge(repos, int(match["id"]), actor, now, via=message.channel)
            else:
                note = (match["note"] or f"resolved by {message.channel}").strip()
                result = self.alerts.resolve(repos, int(match["id"]), actor, now, note, message.channel)
        except EscalationError as exc:
            return DeskReply(outbox_ids=self._say(repos, message, str(exc).capitalize() + ".", now))
        return DeskReply(outbox_ids=self._say(repos, message, result.message, now))

    def summary(self, repos: Repositories, now: datetime) -> str:
        """Open escalations, one line each, with no health details."""
        lines = [
            " ".join(filter(None, (f"#{e.id}", e.severity.upper(), self.alerts.topic(e.category), e.code)))
            + f" {e.status}, waiting {waited(e.received_at or e.created_at, now)}"
            for e in repos.escalations.listing(open_only=True, limit=20)
        ]
        return "\n".join(lines) if lines else "No open escalations."

    def _say(self, repos: Repositories, message: StaffMessage, text: str, now: datetime) -> list[int]:
        outbox_id = repos.outbox.add(
            key=f"staff:{message.channel}:{message.chat}:{now.isoformat()}:{abs(hash(text)) % 10**8}",
            participant_id=None, channel=message.channel, address=message.chat, body=text, buttons=None,
            purpose=STAFF, now=now,
        )  # fmt: skip
        return [outbox_id] if outbox_id is not None else []

    # -- the CLI ------------------------------------------------------------------------------

    def reply_to_participant(self, escalation_id: int, text: str, actor: str) -> int:
        """Send a participant a staff member's own words about an escalation; recorded in the audit trail."""
        now = self.clock.now()
        body = " ".join(text.split())
        if not body:
            raise EscalationError("the reply is empty")
        if len(body) > 600:
            raise EscalationError("keep the reply under 600 characters (about 4 text messages)")
        with self.database.write() as connection:
            repos = Repositories(connection)
            escalation = repos.escalations.get(escalation_id)
            if escalation is None:
                raise EscalationError(f"no escalation #{escalation_id}")
            participant = repos.participants.get(escalation.participant_id)
            if participant.opted_out:
                raise EscalationError(f"{participant.code} has opted out of messages: call them instead")
            addresses = [a for a in repos.participants.addresses(participant.id) if a.unreachable_at is None]
            if not addresses:
                raise EscalationError(f"{participant.code} cannot be reached by message")
            channel = repos.inbound.latest_channel(participant.id) or addresses[-1].channel
            address = next((a for a in addresses if a.channel == channel), addresses[-1])
            conversation = repos.conversations.load(participant.id)
            message = MessageCreated((Part("common.staff_reply", {"text": body}),), purpose="staff_reply")
            ids = self.service.queue_messages(
                repos, participant, address.channel, address.address, [message],
                f"staff_reply:{escalation_id}:{now.isoformat()}", now, conversation.version,
            )  # fmt: skip
            repos.audit.append(
                at=now, actor=actor, action="staff_replied", participant_id=participant.id,
                new={"escalation_id": escalation_id, "text": body},
            )  # fmt: skip
        if not ids:
            raise EscalationError("the reply was not queued")
        return ids[0]
