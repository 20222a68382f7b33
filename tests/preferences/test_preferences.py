"""Participant preferences and erasure: purposes turned off and on (SMS-05), the first name only with
permission (REM-03), the channel (PRIV-01), who may open SETTINGS, and erasure on request (PRIV-12).

Everything runs through the real pipeline, planner, sweep and database on a settable clock.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select

from bot import staff_actions
from bot.behaviour.settings import read_first_name
from bot.bootstrap import App, build_scheduler
from bot.channels.segments import count_segments
from bot.cli import main
from bot.clock import SettableClock
from bot.domain import InboundMessage
from bot.erasure import TABLES, ErasureError, erase_participant
from storage.repositories import Repositories, address_t, audit_t, outbox_t, outcome_t, participant_t
from storage.tables import ALL_TABLES
from storage.travel import TravelRequests
from tests.helpers import Patient, Turn, agree_to_texts

ANCHOR = date(2026, 11, 24)  # the day after the test clock's start, a Tuesday
PHONE = "+15550400001"
NAME = "Zelinda"  # a name no message of ours contains, so finding it anywhere is a leak


# -- helpers ------------------------------------------------------------------------------------


class _Patient(Patient):
    """A patient whose messages have opaque provider ids, like Twilio's and Telegram's: never the number."""

    def send(self, text: str, provider_id: str | None = None, media_count: int = 0) -> Turn:
        """Deliver one message."""
        return super().send(text, provider_id or f"SM{uuid.uuid4().hex}", media_count)


def _enrolled(app: App, address: str = PHONE, channel: str = "sms", locale: str | None = None) -> Patient:
    """Someone the study team enrolled, who has agreed to texts (onboarding is tested on its own)."""
    staff_actions.enrol(app, f"{channel}:{address}", ANCHOR, "staff:test", locale=locale)
    agree_to_texts(app, f"{channel}:{address}")
    return _Patient(app, address=address, channel=channel)


def _book(app: App, patient: Patient, visit: str, at: str) -> int:
    day, _, clock = at.partition(" ")
    reference = f"{patient.channel}:{patient.address}"
    _, booked = staff_actions.book(app, reference, visit, staff_actions.parse_local(day, clock), "staff:test")
    return booked.planned


def _scheduled(app: App, participant_id: int) -> list[Any]:
    with app.database.read() as connection:
        return Repositories(connection).schedule.for_participant(
            participant_id, ("pending", "cancelled", "sent", "skipped", "expired")
        )


def _pending_kinds(app: App, participant_id: int) -> list[str]:
    return sorted({r.kind for r in _scheduled(app, participant_id) if r.status == "pending"})


def _settings(patient: Patient, *answers: str) -> list[str]:
    """SETTINGS, then these answers; the replies of the last one."""
    patient.send("settings")
    turn = None
    for answer in answers:
        turn = patient.send(answer)
    assert turn is not None
    return turn.replies


def _messages(patient: Patient, reminders: str, checkins: str) -> None:
    """Answer "which messages you get", then say nothing else is to change."""
    _settings(patient, "5", reminders, checkins, "no")


def _first_name(patient: Patient, name: str | None) -> None:
    if name is None:
        _settings(patient, "4", "no", "no")
    else:
        _settings(patient, "4", "yes", name, "no")


def _later(clock: SettableClock, minutes: int = 5) -> None:
    clock.set(clock.now() + timedelta(minutes=minutes))


def _all_rows(app: App) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, as plain data."""
    with app.database.read() as connection:
        return {
            table.__tablename__: [dict(r._mapping) for r in connection.execute(select(table.__table__))]  # type: ignore[attr-defined]
            for table in ALL_TABLES
        }


def _mentions(app: App, text: str) -> list[str]:
    """Where in the database a text appears (table names), case-insensitive."""
    found: list[str] = []
    for table, rows in _all_rows(app).items():
        for row in rows:
            if text.lower() in json.dumps(row, default=str, ensure_ascii=False).lower():
                found.append(table)
    return found


# -- which messages (SMS-05) ---------------------------------------------------------------------


def test_turning_reminders_off_cancels_them_and_plans_no_more(app: App) -> None:
    patient = _enrolled(app)
    _book(app, patient, "week_4", "2026-12-22 09:30")
    participant = patient.participant()
    assert _pending_kinds(app, participant.id) == ["booking", "checkin", "reminder"]

    _messages(patient, reminders="no", checkins="yes")

    participant = patient.participant()
    assert set(participant.purpose_opt_outs) == {"reminder", "booking"}
    assert datetime.fromisoformat(participant.purpose_opt_outs["reminder"]) == app.clock.now()
    assert _pending_kinds(app, participant.id) == ["checkin"]
    assert {r.status for r in _scheduled(app, participant.id) if r.kind in ("booking", "reminder")} == {"cancelled"}
    # A visit booked now gets no booking note and no reminders.
    assert _book(app, patient, "week_8_video", "2027-01-19 10:00") == 0
    assert _pending_kinds(app, participant.id) == ["checkin"]
    with app.database.read() as connection:
        changed = [(e.new, e.old) for e in Repositories(connection).audit.for_participant(participant.id)
                   if e.action == "purpose_changed"]  # fmt: skip
    assert changed == [
        ({"purpose": "reminder", "wanted": False}, {"reminder": None}),
        ({"purpose": "booking", "wanted": False}, {"booking": None}),
        ({"purpose": "checkin", "wanted": True}, {"checkin": None}),
    ]


def test_turning_checkins_off_and_on_again(app: App, clock: SettableClock) -> None:
    patient = _enrolled(app)
    _book(app, patient, "week_2_call", "2026-12-08 10:00")
    participant = patient.participant()
    weekly = [r.key for r in _scheduled(app, participant.id) if r.kind == "checkin" and r.status == "pending"]
    assert len(weekly) == 12

    _messages(patient, reminders="yes", checkins="no")
    assert _pending_kinds(app, participant.id) == ["booking", "reminder"]
    # Staff set day 1 again: still no check-ins planned.
    assert staff_actions.enrol(app, f"sms:{PHONE}", ANCHOR, "staff:test")[1] == 0

    # The sweep sends what is left: the booking note, no check-in on Wednesday.
    build_scheduler(app).sweep(datetime.fromisoformat("2026-11-23T15:01:00+00:00"))
    build_scheduler(app).sweep(datetime.fromisoformat("2026-11-25T15:00:00+00:00"))
    assert {r.kind for r in _scheduled(app, participant.id) if r.status == "sent"} == {"booking"}

    clock.set(datetime.fromisoformat("2026-11-26T15:00:00+00:00"))
    _messages(patient, reminders="yes", checkins="yes")
    assert "checkin" not in patient.participant().purpose_opt_outs
    pending = [r for r in _scheduled(app, participant.id) if r.kind == "checkin" and r.status == "pending"]
    # The check-in of the 25th has passed and is not asked late; the other 11 are back.
    assert [r.key for r in pending] == weekly[1:]


def test_stop_and_start_keep_the_purposes_turned_off(app: App, clock: SettableClock) -> None:
    patient = _enrolled(app)
    _book(app, patient, "week_4", "2026-12-22 09:30")
    participant = patient.participant()
    _messages(patient, reminders="no", checkins="no")
    assert _pending_kinds(app, participant.id) == []

    patient.send("STOP")
    _later(clock)
    patient.send("START")
    # START plans again (SMS-06), but not what the participant turned off.
    assert _pending_kinds(app, participant.id) == []
    _messages(patient, reminders="yes", checkins="no")
    assert _pending_kinds(app, participant.id) == ["booking", "reminder"]


def test_after_visit_checkins_come_back_when_checkins_are_turned_on(app: App, clock: SettableClock) -> None:
    patient = _enrolled(app)
    _book(app, patient, "baseline", "2026-11-24 09:30")
    participant = patient.participant()
    _messages(patient, reminders="yes", checkins="no")
    clock.set(datetime.fromisoformat("2026-11-24T16:00:00+00:00"))
    staff_actions.set_status(app, f"sms:{PHONE}", "baseline", "attended", "staff:test")
    after_visit = [r for r in _scheduled(app, participant.id) if r.key.endswith(":after_visit:v1")]
    assert after_visit == []  # not planned while check-ins are off

    _later(clock)
    _messages(patient, reminders="yes", checkins="yes")
    after_visit = [r for r in _scheduled(app, participant.id) if r.key.endswith(f":after_visit:v{r.visit_id}")]
    assert [(r.status, r.due_at.isoformat()) for r in after_visit] == [("pending", "2026-11-27T16:00:00+00:00")]


def test_the_reply_says_safety_messages_and_replies_still_come_and_stop_stops_all(app: App) -> None:
    patient = _enrolled(app)
    replies = _settings(patient, "5", "no", "no")
    assert (
        replies[0] == "Saved. You will still get our replies and any safety messages. To stop all messages, reply STOP."
    )
    # Turned off, a safety reply still comes: purposes are about scheduled messages only.
    turn = patient.send("no")
    turn = patient.send("I had to go to the emergency room")
    assert any("call 911" in reply for reply in turn.replies)


# -- first name (REM-03) -------------------------------------------------------------------------


def _reminder_bodies(app: App, participant_id: int) -> list[str]:
    return [r.body for r in _scheduled(app, participant_id) if r.kind == "reminder" and r.status == "pending"]


def test_reminders_use_the_first_name_only_with_permission(app: App, clock: SettableClock) -> None:
    patient = _enrolled(app)
    _book(app, patient, "week_4", "2026-12-22 09:30")
    participant = patient.participant()
    assert all(body.startswith("Reminder: ") for body in _reminder_bodies(app, participant.id))

    _first_name(patient, f"my name is {NAME.lower()}")
    participant = patient.participant()
    assert participant.preferences == {"use_first_name": True, "first_name": NAME}
    bodies = _reminder_bodies(app, participant.id)
    assert bodies
    assert all(body.startswith(f"Hi {NAME}. Reminder: your study visit at Riverside") for body in bodies)
    checkins = [r.body for r in _scheduled(app, participant.id) if r.kind == "checkin" and r.status == "pending"]
    assert all(body.startswith(f"Hi {NAME}. ") for body in checkins)
    # What was sent in the sweep is what was planned.
    build_scheduler(app).sweep(datetime.fromisoformat("2026-11-25T15:00:00+00:00"))
    with app.database.read() as connection:
        sent = connection.execute(select(outbox_t.c.body).where(outbox_t.c.idempotency_key.like("sched:%"))).scalars()
        assert all(body.startswith(f"Hi {NAME}.") for body in sent)

    clock.set(datetime.fromisoformat("2026-11-25T16:00:00+00:00"))
    _first_name(patient, None)
    participant = patient.participant()
    assert participant.preferences == {"use_first_name": False}  # the name itself is forgotten
    assert all(body.startswith("Reminder: ") for body in _reminder_bodies(app, participant.id))
    # The audit trail says a name was given, never which (it cannot be erased).
    with app.database.read() as connection:
        entries = [e.new for e in Repositories(connection).audit.for_participant(participant.id)]
    assert {"name": "first_name", "value": "[private]"} in entries
    assert {"name": "first_name", "value": None} in entries
    assert NAME.lower() not in json.dumps(entries).lower()


def test_a_name_is_a_value_never_a_template(app: App) -> None:
    patient = _enrolled(app)
    _book(app, patient, "week_4", "2026-12-22 09:30")
    participant = patient.participant()
    with app.database.write() as connection:
        repos = Repositories(connection)
        preferences = {"use_first_name": True, "first_name": "{study_name} {contact_phone}"}
        repos.participants.update(participant.id, app.clock.now(), preferences=preferences)
        app.planner.replan(repos, repos.participants.get(participant.id), app.clock.now())
    assert all(
        body.startswith("Hi {study_name} {contact_phone}. Reminder:") for body in _reminder_bodies(app, participant.id)
    )


def test_on_sms_the_name_never_adds_a_fourth_segment(app: App) -> None:
    patient = _enrolled(app, locale="es")
    _book(app, patient, "week_4", "2026-12-22 09:30")
    participant = patient.participant()
    _first_name(patient, "ana")
    rows = [r for r in _scheduled(app, participant.id) if r.status == "pending"]
    assert max(count_segments(r.body).segments for r in rows) <= 3
    # Spanish visit texts are long: the booking note would need a 4th segment with the name, so it
    # goes without; the reminders and check-ins have room for it.
    greeted = {r.kind: r.body.startswith("Hola, Ana. ") for r in rows}
    assert greeted == {"booking": False, "reminder": True, "checkin": True}

    _first_name(patient, "Maximiliana Guadalupe de los Ángeles Paz")  # 40 characters
    rows = [r for r in _scheduled(app, participant.id) if r.status == "pending"]
    assert max(count_segments(r.body).segments for r in rows) <= 3
    assert all(
        r.body.startswith("Hola, Maximiliana Guadalupe de los Ángeles Paz. ") for r in rows if r.kind == "checkin"
    )


def test_on_telegram_there_is_room_for_any_name(app: App) -> None:
    patient = _enrolled(app, address="700300", channel="telegram", locale="es")
    _book(app, patient, "week_4", "2026-12-22 09:30")
    _first_name(patient, "Maximiliana Guadalupe de los Ángeles Paz")
    rows = [r for r in _scheduled(app, patient.participant().id) if r.status == "pending"]
    assert rows
    assert all(r.body.startswith("Hola, Maximiliana Guadalupe de los Ángeles Paz. ") for r in rows)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Ana", "Ana"), ("ana", "Ana"), ("ANA", "Ana"), ("my name is ana", "Ana"), ("me llamo José Luis", "José Luis"),
        ("soy maría.", "María"), ("o'neil", "O'Neil"), ("Jean-Luc", "Jean-Luc"), ("McKenzie", "McKenzie"),
        ("a" * 40, "A" + "a" * 39), ("a" * 41, None), ("12345", None), ("Ana2", None), ("{study_name}", None),
        ("👍", None), ("", None), ("-Ana", None), ("my name is", None),
    ],
)  # fmt: skip
def test_reading_a_first_name(text: str, name: str | None) -> None:
    assert read_first_name(text) == name


def test_yes_is_not_a_name(app: App) -> None:
    patient = _enrolled(app)
    replies = _settings(patient, "4", "yes", "yes")
    assert replies == ["Sorry, I didn't catch that. Please reply with just your first name, like Maria."]
    assert "first_name" not in patient.participant().preferences


# -- the channel (PRIV-01) -----------------------------------------------------------------------


def test_another_channel_with_an_address_moves_the_planned_messages(app: App) -> None:
    patient = _enrolled(app)
    _book(app, patient, "week_4", "2026-12-22 09:30")
    participant = patient.participant()
    with app.database.write() as connection:
        connection.execute(
            insert(address_t).values(participant_id=participant.id, channel="telegram", address="700200",
                                     created_at=app.clock.now())
        )  # fmt: skip
    replies = _settings(patient, "3", "telegram")
    assert replies[0] == "OK. We will send your reminders and check-ins on Telegram."
    rows = [r for r in _scheduled(app, participant.id) if r.status == "pending"]
    assert rows
    assert {(r.channel, r.address) for r in rows} == {("telegram", "700200")}
    assert all(r.buttons for r in rows if r.kind in ("booking", "reminder"))  # Telegram shows buttons


def test_a_channel_without_an_address_changes_nothing_yet(app: App) -> None:
    patient = _enrolled(app)
    _book(app, patient, "week_4", "2026-12-22 09:30")
    participant = patient.participant()
    replies = _settings(patient, "3", "telegram")
    assert replies[0].startswith("To get our messages on Telegram, open our bot in Telegram and press Start.")
    assert patient.participant().preferences["channel"] == "telegram"
    rows = [r for r in _scheduled(app, participant.id) if r.status == "pending"]
    assert {(r.channel, r.address) for r in rows} == {("sms", PHONE)}


# -- who may open SETTINGS -----------------------------------------------------------------------


def test_settings_are_open_to_everyone_who_agreed_to_texts(app: App) -> None:
    patient = _Patient(app, address="+15550400009")
    first = patient.send("settings")
    assert first.state == "onboarding.agree"  # not agreed yet: the opt-in question first
    patient.send("yes")
    assert patient.turn(None).state == "prescreen.intro"
    turn = patient.send("settings")
    assert turn.state == "settings.menu"  # not in the study, but agreed to texts
    turn = patient.send("6")
    # Settings done, the prescreen asks its question again.
    assert turn.replies[0] == "OK. You can send SETTINGS at any time to make a change."
    assert turn.state == "prescreen.intro"


def test_settings_are_not_open_after_stop(app: App) -> None:
    patient = _enrolled(app)
    patient.send("STOP")
    turn = patient.send("settings")
    assert turn.replies == []
    assert turn.events == ['message_ignored {"reason": "opted_out"}']


# -- erasure (PRIV-12) ---------------------------------------------------------------------------


def _busy(app: App, clock: SettableClock) -> Patient:
    """An enrolled participant with a bit of everything: visits, settings with a first name, a check-in
    with a note that needs staff, a possible adverse event, a travel request, a prescreen, a YES to
    re-contact, and messages planned, queued and sent."""
    patient = _enrolled(app)
    _book(app, patient, "week_2_call", "2026-12-08 10:00")
    _book(app, patient, "week_4", "2026-12-22 09:30")
    _settings(patient, "2", "evening", "yes", "4", "yes", NAME, "no")
    build_scheduler(app).sweep(datetime.fromisoformat("2026-11-25T15:00:00+00:00"))
    clock.set(datetime.fromisoformat("2026-11-25T15:05:00+00:00"))
    for answer in ("2", "yes", "headache and tired", "a lot", "no", "yes", "I also felt dizzy on Sunday"):
        patient.send(answer)
    patient.send("I went to the emergency room last night")
    participant = patient.participant()
    now = app.clock.now()
    with app.database.write() as connection:
        repos = Repositories(connection)
        TravelRequests(connection).add(
            participant_id=participant.id, visit_id=None, details={"origin": "10001"}, now=now
        )
        repos.outcomes.record_prescreen(
            participant_id=participant.id, study_id="sunrise-demo", outcome="eligible", reasons=[], review=[],
            answers={"age": 44}, at=now,
        )  # fmt: skip
        repos.outcomes.record_recontact(participant_id=participant.id, scope="future_studies_same_team", granted=True,
                                        at=now)  # fmt: skip
        mine = select(outbox_t.c.id).where(outbox_t.c.participant_id == participant.id).order_by(outbox_t.c.id)
        repos.outbox.sent(int(connection.execute(mine.limit(1)).scalar_one()), now, "SM0001")
    return patient


def _of(rows: list[dict[str, Any]], participant_id: int) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("participant_id") == participant_id]


def test_every_table_has_an_erasure_decision() -> None:
    names = {table.__tablename__ for table in ALL_TABLES}  # type: ignore[attr-defined]
    assert names - set(TABLES) == set(), "say in bot/erasure.py what erasure does to these tables"


def test_erasure_removes_what_is_outside_the_trial_record_and_keeps_the_rest(app: App, clock: SettableClock) -> None:
    patient = _busy(app, clock)
    bystander = _Patient(app, address="+15550400077")
    bystander.send("Hi there")
    participant = patient.participant()
    before = _all_rows(app)
    assert NAME.lower() in json.dumps(before, default=str).lower()
    _later(clock)

    report = erase_participant(app, participant.code, "staff:dana", "asked by phone on 2026-11-25")

    after = _all_rows(app)
    me = participant.id
    # Nothing that leads to the person, and no first name, anywhere in the database.
    assert _mentions(app, PHONE) == []
    assert _mentions(app, NAME) == []
    # participant: preferences cleared, opted out, erased; the code and consent to texts stay.
    (row,) = _of([dict(r, participant_id=r["id"]) for r in after["participant"]], me)
    assert row["preferences"] == {}
    assert row["opted_out_at"] is not None
    assert row["erased_at"] == app.clock.now()
    assert row["code"] == participant.code
    assert row["opted_in_at"] is not None
    assert row["anchor_date"] == ANCHOR
    # channel_address: an unusable placeholder, unreachable.
    (address,) = _of(after["channel_address"], me)
    assert address["address"] == f"erased:{address['id']}"
    assert address["unreachable_at"] is not None
    # conversation: emptied.
    (conversation,) = _of(after["conversation"], me)
    assert conversation["snapshot"] == {"status": "completed", "frames": []}
    assert conversation["flow"] is None
    # inbound_message: every text erased but the two an escalation was opened for (kept with it).
    texts = [r["text"] for r in _of(after["inbound_message"], me)]
    assert sorted(t for t in texts if t != "[erased]") == [
        "I also felt dizzy on Sunday", "I went to the emergency room last night",
    ]  # fmt: skip
    assert texts.count("[erased]") == report.inbound_erased == len(texts) - 2
    # outbox_message: bodies, buttons and addresses erased; nothing left to send.
    outbox = _of(after["outbox_message"], me)
    assert outbox
    assert all(r["body"] == "[erased]" and r["buttons"] is None for r in outbox)
    assert all(r["address"].startswith("erased:") for r in outbox)
    assert {r["status"] for r in outbox} == {"sent", "suppressed"}
    assert [r["provider_message_id"] for r in outbox if r["status"] == "sent"] == ["SM0001"]
    # scheduled_message: pending ones cancelled, every body erased; what was sent, and when, stays.
    scheduled = _of(after["scheduled_message"], me)
    assert all(
        r["body"] == "[erased]" and r["buttons"] is None and r["address"].startswith("erased:") for r in scheduled
    )
    assert "pending" not in {r["status"] for r in scheduled}
    assert [(r["kind"], r["status"]) for r in scheduled if r["status"] == "sent"] == [("checkin", "sent")]
    # prescreen_outcome: kept with its answers (enrolled: part of the trial record).
    assert [r["answers"] for r in _of(after["prescreen_outcome"], me)] == [{"age": 44}]
    # recontact_permission: the YES stays, a NO is added.
    assert [r["granted"] for r in _of(after["recontact_permission"], me)] == [True, False]
    # Kept as they were: escalations, visits, travel requests, tokens.
    for table in ("escalation", "visit", "travel_request", "button_token"):
        assert _of(after[table], me) == _of(before[table], me), table
    assert after["staff_token"] == before["staff_token"]
    # audit_log: append-only; the earlier entries are unchanged, the check-in note is still there.
    audit = _of(after["audit_log"], me)
    assert audit[: len(_of(before["audit_log"], me))] == _of(before["audit_log"], me)
    assert "I also felt dizzy on Sunday" in json.dumps(audit, default=str)
    # The bystander's rows did not change at all.
    other = bystander.participant().id
    for table, rows in after.items():
        if table == "participant":
            continue
        assert _of(rows, other) == _of(before[table], other), table
    assert report.kept == {"audit_entries": len(audit) - 1, "escalations": 2, "visits": 2, "travel_requests": 1}


def test_erasure_is_audited_and_refused_twice(app: App, clock: SettableClock) -> None:
    patient = _enrolled(app)
    patient.send("settings")
    participant = patient.participant()
    erase_participant(app, f"sms:{PHONE}", "staff:dana", "asked in writing")
    with app.database.read() as connection:
        entries = Repositories(connection).audit.for_participant(participant.id)
    requested, erased = entries[-2:]
    assert (requested.action, requested.actor, requested.reason) == (
        "erasure_requested",
        "staff:dana",
        "asked in writing",
    )
    assert (erased.action, erased.actor, erased.reason) == ("erased", "staff:dana", "asked in writing")
    assert erased.new["addresses"] == 1
    assert erased.new["enrolled"] is True
    with pytest.raises(ErasureError, match="already erased"):
        erase_participant(app, participant.code, "staff:dana", "again")
    with pytest.raises(ErasureError, match="no participant"):
        erase_participant(app, f"sms:{PHONE}", "staff:dana", "by the old number")  # it leads nowhere now
    with pytest.raises(ErasureError, match="reason"):
        erase_participant(app, participant.code, "staff:dana", "   ")


def test_erasure_waits_for_messages_not_handled_yet(app: App) -> None:
    patient = _enrolled(app)
    participant = patient.participant()
    message = InboundMessage("sms", PHONE, "I feel dizzy", "SM-waiting", app.clock.now())
    app.service.receive(message)  # stored, not acted on yet (it may be a safety report)
    with pytest.raises(ErasureError, match="not handled yet"):
        erase_participant(app, participant.code, "staff:dana", "asked by phone")
    app.service.process(participant.id)
    report = erase_participant(app, participant.code, "staff:dana", "asked by phone")
    assert report.inbound_kept == 1  # the possible adverse event stays with its escalation


def test_erasure_clears_the_prescreen_answers_of_someone_never_enrolled(app: App) -> None:
    patient = _Patient(app, address="+15550400010")
    patient.send("Hi")
    participant = patient.participant()
    with app.database.write() as connection:
        repos = Repositories(connection)
        repos.outcomes.record_prescreen(
            participant_id=participant.id, study_id="sunrise-demo", outcome="ineligible", reasons=["INC-01-AGE"],
            review=[], answers={"age": 15}, at=app.clock.now(),
        )  # fmt: skip
    report = erase_participant(app, participant.code, "staff:dana", "asked by text")
    assert report.prescreen_answers_cleared == 1
    assert not report.enrolled
    with app.database.read() as connection:
        row = connection.execute(select(outcome_t).where(outcome_t.c.participant_id == participant.id)).one()
        recontact = Repositories(connection).outcomes.latest_recontact(participant.id)
    assert (row.outcome, row.reasons, row.answers) == ("ineligible", ["INC-01-AGE"], {})  # reason codes stay
    assert recontact is not None
    assert (recontact.granted, recontact.scope) == (False, "future_studies_same_team")


def test_after_erasure_nothing_is_sent_and_the_number_is_a_stranger(app: App, clock: SettableClock) -> None:
    patient = _enrolled(app)
    _book(app, patient, "week_4", "2026-12-22 09:30")
    participant = patient.participant()
    erase_participant(app, participant.code, "staff:dana", "asked by phone")
    report = build_scheduler(app).sweep(datetime.fromisoformat("2026-11-25T15:00:00+00:00"))
    assert report.sent == 0
    # Staff can still book a visit (the trial goes on); nothing is planned for a person we cannot reach.
    _later(clock)
    with app.database.write() as connection:
        repos = Repositories(connection)
        booked = app.planner.book(repos, repos.participants.get(participant.id), "week_8_video",
                                  datetime(2027, 1, 19, 10, 0), app.clock.now(), "staff:test")  # fmt: skip
    assert booked.planned == 0
    # A text from the old number is a new person's first contact.
    turn = patient.send("Hi")
    assert patient.participant().id != participant.id
    assert turn.state == "onboarding.agree"


# -- the command ---------------------------------------------------------------------------------


def test_the_erase_command(app: App, database_url: str) -> None:
    patient = _enrolled(app)
    patient.send("settings")
    code = patient.participant().code
    runner = CliRunner()
    args = ["participant", "erase", code, "--reason", "asked by phone", "--by", "dana", "--db", database_url]

    declined = runner.invoke(main, args, input="n\n")
    assert declined.exit_code == 1
    assert "Aborted" in declined.output
    assert patient.participant().erased_at is None

    done = runner.invoke(main, [*args, "--yes"])
    assert done.exit_code == 0, done.output
    assert done.output.startswith(f"{code}: erased what is outside the trial record.")
    assert "Erasing is not leaving the study: nobody was withdrawn" in done.output
    with app.database.read() as connection:
        erased = connection.execute(select(participant_t.c.erased_at).where(participant_t.c.code == code)).scalar()
        actors = {e.actor for e in connection.execute(select(audit_t).where(audit_t.c.action == "erased"))}
    assert erased is not None
    assert actors == {"staff:dana"}

    again = runner.invoke(main, [*args, "--yes"])
    assert again.exit_code == 1
    assert again.output.strip().count("\n") == 0
    assert "already erased" in again.output

    shown = runner.invoke(main, ["participant", "show", code, "--json", "--db", database_url])
    view = json.loads(shown.output)
    assert view["erased_at"] is not None
    assert view["opted_out"] is True
    assert view["channels"][0]["address"].startswith("erased:")
