"""The same worry twice before anyone acknowledged it is one escalation; after an acknowledgement, or more
severe, it is a new one (bot/service.py, StaffRequested)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.bootstrap import App, build_scheduler
from bot.clock import SettableClock
from bot.staff_views import escalation_view
from storage.repositories import Repositories, audit_t, escalation_t, outbox_t
from tests.helpers import Patient


def _escalations(app: App, patient: Patient) -> list[tuple[str, str, str]]:
    with app.database.read() as connection:
        rows = connection.execute(
            select(escalation_t.c.category, escalation_t.c.severity, escalation_t.c.status)
            .where(escalation_t.c.participant_id == patient.participant().id)
            .order_by(escalation_t.c.id)
        ).all()
    return [tuple(r) for r in rows]


def test_a_repeat_joins_the_open_escalation_and_each_message_is_in_the_audit(app: App, clock: SettableClock) -> None:
    patient = Patient(app)
    patient.join()
    patient.send("I went to the ER last night")
    clock.advance(timedelta(minutes=1))
    again = patient.send("I went to the ER last night")
    assert again.replies, "the second message is still answered"
    assert [e[0] for e in _escalations(app, patient)] == ["er_or_hospital"]
    with app.database.read() as connection:
        asked = connection.execute(
            select(audit_t.c.new).where(
                audit_t.c.participant_id == patient.participant().id, audit_t.c.action == "staff_requested"
            )
        ).scalars()
        ids = [(entry["escalation_id"], entry.get("joined", False)) for entry in asked]
    assert len(ids) == 2
    assert ids[1] == (ids[0][0], True)
    with app.database.read() as connection:
        view = escalation_view(connection, ids[0][0])
    assert view is not None
    assert view["message"] == "I went to the ER last night"
    assert [m["text"] for m in view["later_messages"]] == ["I went to the ER last night"], "staff see the repeat"


def test_after_an_acknowledgement_or_when_more_severe_a_new_escalation_opens(app: App, clock: SettableClock) -> None:
    patient = Patient(app)
    patient.join()
    patient.send("I went to the ER last night")
    with app.database.write() as connection:
        repos = Repositories(connection)
        first = connection.execute(select(escalation_t.c.id)).scalar_one()
        repos.escalations.acknowledge(first, clock.now(), "staff:test")
    clock.advance(timedelta(minutes=1))
    patient.send("I went to the ER last night")
    patient.send("I want to kill myself")
    found = _escalations(app, patient)
    assert [(c, s) for c, _, s in found] == [
        ("er_or_hospital", "acknowledged"),
        ("er_or_hospital", "open"),
        ("crisis", "open"),
    ]


def test_the_next_alert_says_how_many_messages_joined(app: App, clock: SettableClock) -> None:
    patient = Patient(app)
    patient.join()
    patient.send("I went to the ER last night")
    alerts = build_scheduler(app).alerts
    alerts.tick(app.database, clock.now())
    first = _alert_bodies(app)
    assert first
    assert all("more message" not in body for body in first)
    for _ in range(2):
        clock.advance(timedelta(minutes=1))
        patient.send("I went to the ER last night")
    clock.advance(timedelta(hours=2))  # past the next alert round of any severity
    alerts.tick(app.database, clock.now())
    later = _alert_bodies(app)[len(first) :]
    assert later
    assert all("2 more messages about it since." in body for body in later), later


def _alert_bodies(app: App) -> list[str]:
    with app.database.read() as connection:
        return list(
            connection.execute(
                select(outbox_t.c.body).where(outbox_t.c.purpose == "alert").order_by(outbox_t.c.id)
            ).scalars()
        )
