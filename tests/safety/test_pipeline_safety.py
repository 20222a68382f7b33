"""The safety interrupt in the real pipeline: every state, both languages, after STOP (SAF-01..07)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot import staff_actions
from bot.bootstrap import App, build_scheduler
from storage.repositories import escalation_t
from tests.helpers import Patient

CRISIS_EN = "If you are in danger or might hurt yourself, call 911 now. You can call or text 988 any time to talk to someone. We care about you. Someone from the study team will reach out to you."
AE_EN = (
    "Thank you for telling us. A member of the study team will contact you soon. If this is an emergency, call 911 now."
)


def _escalations(app: App) -> list[tuple[str, str]]:
    with app.database.read() as connection:
        return [(r.category, r.severity) for r in connection.execute(select(escalation_t).order_by(escalation_t.c.id))]


@pytest.mark.parametrize(
    ("setup", "text"),
    [
        ([], "I want to die"),
        (["Hi"], "i wanna kms"),
        (["Hi", "yes"], "honestly I just want to end my life"),
        (["Hi", "yes", "40"], "sucide"),
    ],
    ids=["first message", "at the intro", "at a number question", "at a yes/no question"],
)
def test_a_crisis_in_any_state_gets_the_numbers_leaves_the_flow_and_is_urgent(
    app: App, setup: list[str], text: str
) -> None:
    patient = Patient(app, address="+15550500001")
    for line in setup:
        patient.send(line)
    turn = patient.send(text)
    assert turn.replies == [CRISIS_EN]
    assert turn.state is None, "the flow is left: no more questions"
    assert _escalations(app)[-1] == ("crisis", "urgent")
    assert any(e.startswith("safety_flagged") for e in turn.events)


def test_a_crisis_in_spanish(app: App) -> None:
    patient = Patient(app, address="+15550500002", locale="es")
    patient.send("hola")
    turn = patient.send("ya no quiero vivir")
    assert turn.replies == [
        "Si está en peligro o podría hacerse daño, llame al 911 ahora. Puede llamar o escribir al 988 a cualquier hora. Nos importa usted. Alguien del equipo del estudio le contactará."
    ]
    assert _escalations(app) == [("crisis", "urgent")]


def test_after_stop_a_crisis_still_gets_the_reply_and_staff_are_alerted(app: App) -> None:
    patient = Patient(app, address="+15550500003")
    patient.send("Hi")
    patient.send("STOP")
    assert patient.send("hello?").replies == []
    turn = patient.send("I want to kill myself")
    assert turn.replies == [CRISIS_EN], "safety replies go even after STOP"
    assert _escalations(app)[-1] == ("crisis", "urgent")
    build_scheduler(app).alerts.tick(app.database, app.clock.now())


def test_crisis_and_stop_in_one_message(app: App) -> None:
    patient = Patient(app, address="+15550500004")
    patient.send("Hi")
    turn = patient.send("stop texting me, I want to die")
    assert turn.replies == [
        CRISIS_EN,
        "You will not get any more texts from Sunrise Study. Reply START to get texts again.",
    ]
    assert patient.participant().opted_out


def test_a_possible_adverse_event_mid_prescreen_is_acknowledged_and_the_question_waits(app: App) -> None:
    patient = Patient(app, address="+15550500005")
    patient.join()
    patient.send("yes")
    turn = patient.send("I was in the emergency room last night")
    assert turn.replies == [AE_EN], "nothing else: no question in the same breath"
    assert turn.state == "prescreen.question"
    assert _escalations(app) == [("er_or_hospital", "high")]
    assert patient.send("44").replies[0].startswith("Has a doctor ever told you")


def test_red_flags_lead_with_the_emergency_number(app: App) -> None:
    patient = Patient(app, address="+15550500006")
    turn = patient.send("I have chest pain and can't breathe")
    assert turn.replies == [
        "If this is happening now, call 911 now. A member of the study team will also contact you soon."
    ]
    assert _escalations(app) == [("red_flag", "urgent")]


def _enrolled(app: App, address: str) -> Patient:
    staff_actions.enrol(app, f"sms:{address}", app.clock.now().date(), "staff:test")
    patient = Patient(app, address=address)
    patient.join()
    return patient


def test_a_check_in_collects_symptoms_without_interrupting_and_raises_one_escalation(app: App) -> None:
    patient = _enrolled(app, "+15550500007")
    assert patient.send("check in").replies[0].startswith("Hi, it's your check-in")
    patient.send("2")
    patient.send("yes")
    turn = patient.send("a rash and some vomiting")
    assert turn.replies == [
        "How much do they get in the way of your daily activities?\nReply 1 for Not at all, 2 for A little, 3 for A lot."
    ]
    patient.send("3")
    patient.send("yes")
    patient.send("no")
    last = patient.send("no")
    assert last.replies == [
        "Thank you for telling us. A member of the study team will contact you soon. If this is an emergency, call 911 now."
    ]
    assert _escalations(app) == [("checkin_er_or_hospital", "high")]
    completed: Any = [e for e in last.events if e.startswith("checkin_completed")]
    assert completed
    assert (
        '"flags": ["low_wellbeing", "new_problems", "severe_problems", "er_or_hospital", "medicine_not_as_told"]'
        in completed[0]
    )


def test_a_crisis_inside_a_check_in_still_interrupts(app: App) -> None:
    patient = _enrolled(app, "+15550500008")
    patient.send("check in")
    patient.send("1")
    patient.send("yes")
    turn = patient.send("I don't want to live anymore")
    assert turn.replies == [CRISIS_EN]
    assert turn.state is None
