"""A flood from one person through the pipeline: nothing lost, few replies, opt-outs still honoured (bot/flood.py)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.bootstrap import App, Core, build_app, core_for
from bot.clock import SettableClock
from bot.domain import InboundMessage
from bot.flood import LIMIT, PAUSE, REPEAT_LIMIT, REPEAT_WINDOW
from bot.ids import SequentialIds
from bot.study import Pacing
from storage.repositories import audit_t, escalation_t, outbox_t
from tests.helpers import Patient

NOTE = "You sent many messages in a short time"


def _flood(patient: Patient, count: int) -> list[list[str]]:
    # One text: a number in it could read as something to act on ("911" goes to the safety check's reply).
    return [patient.send("Auto-reply: I am away from my phone").replies for _ in range(count)]


def test_a_thousand_messages_in_a_minute_get_replies_only_until_the_limit_and_all_are_kept(
    app: App, clock: SettableClock
) -> None:
    patient = Patient(app)
    patient.join()
    replies = _flood(patient, 1000)
    answered = [r for r in replies if r]
    # The two of joining, and this flood's, make LIMIT in the minute: the next one gets the note. Before it,
    # a turn that would say the same a sixth time says nothing (hold_repeats).
    assert len(answered) + _count(app, patient, "reply_held") == LIMIT - 2 + 1
    assert len(answered) < LIMIT - 2 + 1
    assert [body[: len(NOTE)] for body in replies[LIMIT - 2]] == [NOTE]
    assert sum(1 for r in replies for body in r if body.startswith(NOTE)) == 1
    rows = patient.inbound_rows()
    assert len(rows) == 1002
    assert {r.status for r in rows} == {"processed"}
    clock.advance(PAUSE + timedelta(minutes=1))
    assert patient.send("yes").replies, "answers come back after the pause"


def test_blocking_the_bot_during_a_pause_is_still_an_opt_out(app: App, clock: SettableClock) -> None:
    patient = Patient(app, channel="telegram", address="700200")
    patient.join()
    _flood(patient, LIMIT + 3)
    blocked = InboundMessage("telegram", "700200", "", "blocked-1", clock.now(), kind="blocked")
    app.service.handle(blocked)
    assert patient.participant().opted_out


def test_a_message_at_a_persons_pace_is_never_paused(app: App, clock: SettableClock) -> None:
    patient = Patient(app)
    patient.join()
    for n in range(3 * LIMIT):
        clock.advance(timedelta(seconds=4))  # 15 a minute
        turn = patient.send(f"not sure {n}")
        assert turn.replies or "reply_held" in " ".join(turn.events), f"message {n} got no reply"
        assert not any(body.startswith(NOTE) for body in turn.replies)
    assert _count(app, patient, "replies_paused") == 0


def _count(app: App, patient: Patient, action: str) -> int:
    with app.database.read() as connection:
        return int(
            connection.execute(
                select(func.count()).where(
                    audit_t.c.participant_id == patient.participant().id, audit_t.c.action == action
                )
            ).scalar_one()
        )


def _bodies(app: App, patient: Patient) -> list[str]:
    with app.database.read() as connection:
        return list(
            connection.execute(
                select(outbox_t.c.body)
                .where(outbox_t.c.participant_id == patient.participant().id)
                .order_by(outbox_t.c.id)
            ).scalars()
        )


def test_a_slow_auto_responder_gets_the_same_answer_at_most_five_times_in_half_an_hour(
    app: App, clock: SettableClock
) -> None:
    # One auto-reply every 10 seconds for an hour: never a flood (6 a minute), but a loop with our re-asks.
    patient = Patient(app)
    patient.join()
    before = len(_bodies(app, patient))
    turns = []
    for _ in range(360):
        clock.advance(timedelta(seconds=10))
        turns.append(patient.send("Auto-reply: I am driving and will text you later"))
    sent = _bodies(app, patient)[before:]
    # Each distinct turn of the cycle (re-ask, offer a person, re-ask that, try again) goes at most
    # REPEAT_LIMIT times per half hour: 60 messages in all here (6 bodies, 10 times each), not 360.
    assert max(sent.count(body) for body in set(sent)) <= 2 * REPEAT_LIMIT
    assert len(sent) <= 60, f"{len(sent)} replies to 360 auto-replies"
    assert _count(app, patient, "replies_paused") == 0
    assert _count(app, patient, "reply_held") == sum(1 for t in turns if not t.replies)
    assert {r.status for r in patient.inbound_rows()} == {"processed"}
    # What must always go still goes: HELP, a crisis, STOP; and a real answer is answered.
    assert patient.send("HELP").replies
    assert patient.send("yes").replies
    assert "988" in patient.send("I want to kill myself").replies[0]
    assert patient.send("STOP").replies


def test_an_auto_reply_that_names_the_emergency_number_reaches_staff_each_time_but_is_answered_five_times(
    app: App, clock: SettableClock
) -> None:
    # "911" is something to act on (the safety check), so every such message asks for staff; once replies
    # are paused, the safety reply (the same each time) is not sent again within the pause.
    patient = Patient(app)
    patient.join()
    away = "I am away from my phone. In an emergency, call 911."
    replies = [patient.send(away).replies for _ in range(60)]
    # The same safety reply goes REPEAT_LIMIT times in half an hour (hold_repeats), and never within a pause.
    assert sum(1 for r in replies if r) == REPEAT_LIMIT
    assert all(not r for r in replies[REPEAT_LIMIT:])
    who = patient.participant().id
    with app.database.read() as connection:
        escalations = connection.execute(
            select(func.count()).select_from(escalation_t).where(escalation_t.c.participant_id == who)
        ).scalar_one()
        requests = connection.execute(
            select(func.count())
            .select_from(audit_t)
            .where(audit_t.c.participant_id == who, audit_t.c.action == "staff_requested")
        ).scalar_one()
    # Every one reaches staff, as one escalation until someone acknowledges it (not 60 alerts).
    assert requests == 60
    assert escalations == 1
    clock.advance(PAUSE)
    assert not patient.send(away).replies, "the pause is over, but it went five times in half an hour"
    clock.advance(REPEAT_WINDOW)
    assert patient.send(away).replies, "half an hour later, the safety reply goes again"


def test_a_crisis_in_a_pause_always_gets_its_reply(app: App, clock: SettableClock) -> None:
    patient = Patient(app)
    patient.join()
    for _ in range(LIMIT):
        patient.send("I am away from my phone. In an emergency, call 911.")  # the last one starts the pause
    assert not patient.send("In an emergency, call 911.").replies, "the same reply is not repeated in a pause"
    crisis = patient.send("I want to kill myself").replies
    assert crisis
    assert "call 911" in crisis[0]
    assert "988" in crisis[0]


def test_a_study_sets_its_own_pacing(database_url: str, core: Core, clock: SettableClock) -> None:
    """`pacing` in study.yaml overrides bot/flood.py's defaults: here the same reply twice in 10 minutes, and
    replies pause past 5 messages a minute."""
    study = core.loaded.study
    paced = study.model_copy(
        update={"pacing": Pacing(messages_per_minute=5, same_reply_times=2, same_reply_minutes=10)}
    )
    app = build_app(
        database_url, core=core_for(core.loaded.model_copy(update={"study": paced})), clock=clock,
        ids=SequentialIds(),
    )  # fmt: skip
    try:
        patient = Patient(app)
        patient.join()
        clock.advance(timedelta(minutes=1))
        away = "I am away from my phone. In an emergency, call 911."  # the same safety reply every time
        replies = [patient.send(away).replies for _ in range(3)]
        assert [bool(r) for r in replies] == [True, True, False], "the third time it says nothing"
        assert _count(app, patient, "reply_held") == 1
        with app.database.read() as connection:
            reason = connection.execute(select(audit_t.c.reason).where(audit_t.c.action == "reply_held")).scalar_one()
        assert reason == "the same reply went 2 times in 10 minutes"
        clock.advance(timedelta(minutes=10))
        assert patient.send(away).replies, "ten minutes later it may go again"

        clock.advance(timedelta(minutes=1))
        flood = [patient.send(f"auto-reply {n}").replies for n in range(7)]
        assert [body[: len(NOTE)] for body in flood[5]] == [NOTE], "the sixth message in a minute starts the pause"
        assert not flood[6]
        clock.advance(PAUSE + timedelta(minutes=1))
        assert patient.send("banana").replies, "after the pause, replies go again"
    finally:
        app.database.dispose()
