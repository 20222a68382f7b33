"""The pipeline under pressure: concurrent messages, a first message racing itself, a turn that fails."""

from __future__ import annotations

import threading

from sqlalchemy import select

from bot.bootstrap import App, build_app
from bot.clock import SettableClock
from bot.domain import InboundMessage
from bot.ids import SequentialIds
from storage.repositories import Repositories, escalation_t, inbound_t
from tests.helpers import ExplodingConversations, Patient


def _message(address: str, text: str, provider_id: str, clock: SettableClock) -> InboundMessage:
    return InboundMessage("sms", address, text, provider_id, clock.now())


def test_concurrent_participants_and_messages_lose_nothing(app: App, clock: SettableClock) -> None:
    errors: list[BaseException] = []

    def patient(number: int) -> None:
        try:
            address = f"+1555020{number:04d}"
            for step, text in enumerate(["Hi", "yes", "yes", "40", "yes"]):
                app.service.handle(_message(address, text, f"SM-{number}-{step}", clock))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=patient, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for number in range(8):
        turn = Patient(app, address=f"+1555020{number:04d}").turn(None)
        assert turn.state == "prescreen.question"  # at the third question, in order
    with app.database.read() as connection:
        statuses = connection.execute(select(inbound_t.c.status)).scalars().all()
    assert len(statuses) == 40
    assert set(statuses) == {"processed"}


def test_messages_received_together_are_processed_in_arrival_order(app: App, clock: SettableClock) -> None:
    address = "+15550300001"
    texts = ["Hi", "yes", "yes", "41"]
    receipts = [app.service.receive(_message(address, t, f"SM-{i}", clock)) for i, t in enumerate(texts)]
    # Three workers race for the same participant; each takes the oldest waiting message under the lock.
    threads = [threading.Thread(target=app.service.process, args=(receipts[0].participant_id,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    patient = Patient(app, address=address)
    assert patient.turn(None).state == "prescreen.question"
    assert [r.status for r in patient.inbound_rows()] == ["processed"] * 4
    assert patient.turn(receipts[3].inbound_id).events[0].startswith("answer_recorded")


def test_first_messages_racing_create_one_participant(app: App, clock: SettableClock) -> None:
    barrier = threading.Barrier(4)

    def send(number: int) -> None:
        barrier.wait()
        app.service.receive(_message("+15550400001", "Hi", f"SM-race-{number}", clock))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.database.read() as connection:
        participant = Repositories(connection).participants.by_address("sms", "+15550400001")
        assert participant is not None
        count = connection.execute(select(inbound_t.c.id).where(inbound_t.c.participant_id == participant.id)).all()
    assert len(count) == 4


def test_a_failing_turn_is_retried_then_set_aside_and_staff_told(app: App, clock: SettableClock) -> None:
    app.service.conversations = ExplodingConversations(app.service.conversations)  # type: ignore[assignment]
    patient = Patient(app, address="+15550500001")
    patient.join()
    failed = patient.send("boom")
    assert failed.replies == []
    after = patient.send("yes")
    assert after.replies == ["How old are you?"], "later messages are not blocked"
    rows = patient.inbound_rows()
    assert [(r.text, r.status, r.attempts) for r in rows] == [
        ("Hi", "processed", 0),
        ("yes", "processed", 0),
        ("boom", "failed", 3),
        ("yes", "processed", 0),
    ]
    with app.database.read() as connection:
        escalations = connection.execute(select(escalation_t.c.category, escalation_t.c.severity)).all()
    assert [tuple(e) for e in escalations] == [("processing_error", "high")]


def test_recover_processes_what_a_crash_left_behind(database_url: str, core: object, clock: SettableClock) -> None:
    first = build_app(database_url, core=core, clock=clock, ids=SequentialIds())  # type: ignore[arg-type]
    # The process stored two messages, then died before acting on them.
    first.service.receive(_message("+15550600001", "Hi", "SM-a", clock))
    first.service.receive(_message("+15550600001", "yes", "SM-b", clock))
    first.database.dispose()
    restarted = build_app(database_url, core=core, clock=clock, ids=SequentialIds(100))  # type: ignore[arg-type]
    done = restarted.service.recover()
    assert len(done.inbound_ids) == 2
    assert Patient(restarted, address="+15550600001").turn(None).state == "prescreen.intro"
    restarted.database.dispose()
