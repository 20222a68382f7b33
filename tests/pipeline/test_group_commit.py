"""Group commit: several messages stored and acted on in one transaction, each exactly as if taken alone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select

from bot.bootstrap import App
from bot.clock import SettableClock
from bot.domain import InboundMessage
from bot.service import Processed, Receipt
from storage.repositories import inbound_t, outbox_t
from tests.helpers import ExplodingConversations

SCRIPT = ["Hi", "yes", "yes", "52", "1"]


def _message(address: str, text: str, provider_id: str, clock: SettableClock) -> InboundMessage:
    return InboundMessage("sms", address, text, provider_id, clock.now())


@contextmanager
def _commits(app: App) -> Iterator[list[int]]:
    """Counts the transactions committed while the block runs."""
    seen: list[int] = []

    def on_commit(_connection: Any) -> None:
        seen.append(1)

    event.listen(app.database.engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(app.database.engine, "commit", on_commit)


def _replies(app: App, address: str) -> list[str]:
    with app.database.read() as connection:
        rows = connection.execute(select(outbox_t.c.address, outbox_t.c.body).order_by(outbox_t.c.id)).all()
    return [r.body for r in rows if r.address == address]


def _ok(result: tuple[Receipt, Processed] | Exception) -> tuple[Receipt, Processed]:
    assert not isinstance(result, Exception), result
    return result


def test_a_batch_says_what_taking_each_message_alone_says_in_one_commit(app: App, clock: SettableClock) -> None:
    batched = [f"+1555070{n:04d}" for n in range(3)]
    alone = [f"+1555071{n:04d}" for n in range(3)]
    for step, text in enumerate(SCRIPT):
        # One batch per step: three patients interleaved, the second patient's message delivered twice.
        messages = [_message(a, text, f"SM-b{n}-{step}", clock) for n, a in enumerate(batched)]
        messages.insert(2, _message(batched[1], text, f"SM-b1-{step}", clock))
        with _commits(app) as commits:
            results = [_ok(r) for r in app.service.take_many(messages)]
        assert len(commits) == 1
        assert [receipt.duplicate for receipt, _ in results] == [False, False, True, False]
        assert results[2][1].outbox_ids == [], "a redelivery queues nothing"
        for n, address in enumerate(alone):
            app.service.take(_message(address, text, f"SM-a{n}-{step}", clock))
    for mine, theirs in zip(batched, alone, strict=True):
        assert _replies(app, mine) == _replies(app, theirs)
        assert len(_replies(app, mine)) >= len(SCRIPT)
    with app.database.read() as connection:
        statuses = connection.execute(select(inbound_t.c.status)).scalars().all()
    assert len(statuses) == 2 * 3 * len(SCRIPT)
    assert set(statuses) == {"processed"}


def test_two_messages_of_one_patient_in_a_batch_are_taken_in_order(app: App, clock: SettableClock) -> None:
    address = "+15550720001"
    results = app.service.take_many([_message(address, t, f"SM-{i}", clock) for i, t in enumerate(SCRIPT[:3])])
    assert all(not _ok(r)[0].duplicate for r in results)
    assert _replies(app, address)[-1] == "How old are you?"


def test_a_failing_turn_in_a_batch_keeps_its_message_and_spares_the_others(app: App, clock: SettableClock) -> None:
    app.service.conversations = ExplodingConversations(app.service.conversations)  # type: ignore[assignment]
    first, second = "+15550730001", "+15550730002"
    results = app.service.take_many(
        [_message(first, "Hi", "SM-1", clock), _message(second, "boom", "SM-2", clock),
         _message(first, "yes", "SM-3", clock)]
    )  # fmt: skip
    assert all(not _ok(r)[0].duplicate for r in results)
    assert _replies(app, first)[-1] == "Would you like to start?\nReply 1 for Yes, 2 for No."
    assert _replies(app, second) == []
    with app.database.read() as connection:
        kept = connection.execute(select(inbound_t.c.status, inbound_t.c.attempts).where(inbound_t.c.text == "boom"))
        assert [tuple(r) for r in kept] == [("failed", 3)], "stored, tried again after the commit, set aside"


def test_a_message_that_cannot_be_stored_fails_alone(
    app: App, clock: SettableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch is rolled back and each message taken on its own; only the bad one fails."""
    store = app.service._store_for

    def failing_store(repos: Any, message: InboundMessage, now: Any) -> Any:
        if message.address == "+15550740002":
            raise RuntimeError("the database refused this row")
        return store(repos, message, now)

    monkeypatch.setattr(app.service, "_store_for", failing_store)
    messages = [_message(f"+1555074000{n}", "Hi", f"SM-{n}", clock) for n in (1, 2, 3)]
    results = app.service.take_many(messages)
    assert isinstance(results[1], RuntimeError)
    assert not _ok(results[0])[0].duplicate
    assert not _ok(results[2])[0].duplicate
    assert _replies(app, messages[0].address) == _replies(app, messages[2].address) != []
    assert _replies(app, messages[1].address) == []
    with app.database.read() as connection:
        assert len(connection.execute(select(inbound_t.c.id)).all()) == 2
