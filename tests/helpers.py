"""A patient's side of a conversation, for tests: send a message, see the replies and the audit trail."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from itertools import count
from typing import Any

from sqlalchemy import select

from bot.bootstrap import App
from bot.conversation import Incoming
from bot.domain import InboundMessage
from bot.engine import TurnResult
from storage.repositories import Repositories, audit_t, inbound_t, outbox_t


@dataclass
class Turn:
    """What one inbound message led to."""

    inbound_id: int | None
    replies: list[str]
    buttons: list[list[str]]
    events: list[str]
    state: str | None


def event_line(action: str, new: dict[str, Any] | None) -> str:
    """An audit entry as one stable line: its action and its payload as compact, sorted JSON."""
    payload = {k: v for k, v in (new or {}).items() if k != "escalation_id"}
    return f"{action} {json.dumps(payload, sort_keys=True, ensure_ascii=False)}" if payload else action


@dataclass
class Patient:
    """Sends messages as one participant through the real pipeline and reads what happened."""

    app: App
    address: str = "+15550100001"
    channel: str = "sms"
    locale: str | None = None
    _ids: Any = field(default_factory=lambda: count(1))

    def send(self, text: str, provider_id: str | None = None, media_count: int = 0) -> Turn:
        """Deliver one message (optionally with a given provider id) and return what it caused."""
        message = InboundMessage(
            channel=self.channel,
            address=self.address,
            text=text,
            provider_message_id=provider_id or f"{self.channel}-{self.address}-{next(self._ids)}",
            received_at=self.app.clock.now(),
            media_count=media_count,
            locale_hint=self.locale,
        )
        receipt, _ = self.app.service.handle(message)
        return self.turn(receipt.inbound_id)

    def join(self, first: str = "Hi", agree: str = "yes") -> Turn:
        """First contact and the YES to texts (onboarding); the prescreen's first question follows."""
        self.send(first)
        return self.send(agree)

    def turn(self, inbound_id: int | None) -> Turn:
        """Replies, events and the resulting state of one stored inbound message."""
        with self.app.database.read() as connection:
            repos = Repositories(connection)
            participant = repos.participants.by_address(self.channel, self.address)
            assert participant is not None
            conversation = repos.conversations.load(participant.id)
            if inbound_id is None:
                return Turn(None, [], [], [], _state(conversation.flow, conversation.state))
            rows = connection.execute(
                select(outbox_t).where(outbox_t.c.inbound_id == inbound_id).order_by(outbox_t.c.id)
            ).all()
            audit = connection.execute(
                select(audit_t).where(audit_t.c.inbound_id == inbound_id).order_by(audit_t.c.id)
            ).all()
        return Turn(
            inbound_id,
            [r.body for r in rows],
            [[b["label"] for b in (r.buttons or [])] for r in rows],
            [event_line(a.action, a.new) for a in audit],
            _state(conversation.flow, conversation.state),
        )

    def participant(self) -> Any:
        """The participant's current record."""
        with self.app.database.read() as connection:
            found = Repositories(connection).participants.by_address(self.channel, self.address)
        assert found is not None
        return found

    def inbound_rows(self) -> list[Any]:
        """Every stored inbound message of this participant, oldest first."""
        participant = self.participant()
        with self.app.database.read() as connection:
            return list(
                connection.execute(
                    select(inbound_t).where(inbound_t.c.participant_id == participant.id).order_by(inbound_t.c.id)
                )
            )


class ExplodingConversations:
    """Conversations that fail on the word "boom", like a bug in a flow would."""

    def __init__(self, real: object) -> None:
        self.real = real

    def take_turn(self, incoming: Incoming, now: datetime) -> TurnResult:
        if incoming.text == "boom":
            raise RuntimeError("a bug in a flow")
        return self.real.take_turn(incoming, now)  # type: ignore[attr-defined, no-any-return]


def _state(flow: str | None, state: str | None) -> str | None:
    return f"{flow}.{state}" if flow else None


def agree_to_texts(app: App, reference: str) -> None:
    """Mark a participant as having said YES to the welcome, without the exchange (tests/onboarding has it)."""
    from bot.staff_views import find_participant

    now = app.clock.now()
    with app.database.write() as connection:
        repos = Repositories(connection)
        participant = find_participant(repos, reference)
        repos.participants.update(participant.id, now, opted_in_at=now)
        repos.schedule.cancel_welcomes(now, participant.id)
