"""Travel requests (TRV-01..04): a confirmed request becomes a row, an escalation and an audit entry; staff
move it through its statuses; the patient only ever hears a neutral sentence; `trialbot travel`.

The flow itself is read turn by turn in tests/flows/transcripts/travel_*.yaml; here are the records it
leaves, the flow started with no data (as the TRAVEL keyword does), the parsers, and the staff side.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from bot import staff_actions
from bot.bootstrap import App, Core, build_scheduler
from bot.channels.rendering import ChoiceStyle
from bot.channels.segments import count_segments
from bot.cli import main
from bot.clock import SettableClock
from bot.domain import MessageCreated, Part, StaffRequested, TravelRequested
from bot.engine.registry import REGISTRY, Answer, ParseResult, Turn
from bot.text import fold
from bot.travel import TravelError, update_travel_request
from storage.repositories import Repositories, escalation_t, outbox_t
from storage.travel import travel_t
from tests.helpers import Patient, agree_to_texts

REMINDER_DAY = datetime(2026, 12, 15, 15, 0, tzinfo=UTC)  # 10:00 in New York, 7 days before week 4
POSTAL = "11375"
OWN_WORDS = "I use a walker and need a ramp"  # nothing the safety check reacts to
# Wheelchair-free answers to every question, from the reminder's T to the summary's "yes".
ANSWERS = (POSTAL, "round trip", "taxi", "yes", "2", "yes", "yes", "3", "other help", OWN_WORDS, "yes")
EXPECTED = {
    "origin": POSTAL, "trip": "round_trip", "mode": "taxi", "companions": 2, "caregiver": True, "nights": 3,
    "assistance": "other", "assistance_note": OWN_WORDS,
}  # fmt: skip
STATUS_TEXTS = {
    "approved": "Your travel request is approved. The study team will call you with the details.",
    "booked": "Your travel is booked. The study team will send you the details.",
    "denied": "We could not arrange travel this time. A study coordinator will call you to talk about it.",
}
# Words an itinerary, a place or an amount would need; none belongs in a status message (TRV-02, PRIV-03).
ITINERARY_WORDS = frozenset(
    fold(w) for w in (
        "flight", "airport", "hotel", "pickup", "address", "station", "train", "bus", "taxi", "car", "cab",
        "riverside", "clinic", "dollar", "dollars", "usd", "pay", "paid", "mileage", "reimbursement", "amount",
        "money", "am", "pm", "vuelo", "aeropuerto", "dirección", "estación", "pago", "dinero", "reembolso",
    )
)  # fmt: skip
# Settings from whoever runs the tests must not leak into the commands.
CLEAN_ENV: dict[str, str | None] = {
    "TRIALBOT_DATABASE_URL": None, "TRIALBOT_STUDY": None, "TRIALBOT_SWEEP_BATCH": None, "TRIALBOT_LOG_LEVEL": None,
}  # fmt: skip


# -- helpers -----------------------------------------------------------------------------------


def book_week_4(app: App, patient: Patient) -> None:
    """Enrol the patient (day 1 on 2026-11-24) and book week 4 at Riverside on 2026-12-22 09:30."""
    reference = f"{patient.channel}:{patient.address}"
    staff_actions.enrol(app, reference, date(2026, 11, 24), "staff:test", locale=patient.locale)
    agree_to_texts(app, reference)
    staff_actions.book(app, reference, "week_4", staff_actions.parse_local("2026-12-22", "09:30"), "staff:test")


def submit(app: App, clock: SettableClock, patient: Patient, answers: tuple[str, ...] = ANSWERS) -> int:
    """From the 7-day reminder's T to a confirmed request; the request's id."""
    book_week_4(app, patient)
    clock.set(REMINDER_DAY)
    build_scheduler(app).sweep()
    patient.send("T")
    for answer in answers:
        patient.send(answer)
    with app.database.read() as connection:
        return int(connection.execute(select(travel_t.c.id).order_by(travel_t.c.id.desc())).scalars().first())


def row(app: App, request_id: int) -> Any:
    with app.database.read() as connection:
        return connection.execute(select(travel_t).where(travel_t.c.id == request_id)).one()


def audit(app: App, *actions: str) -> list[Any]:
    with app.database.read() as connection:
        return list(Repositories(connection).audit.actions(actions))


def bodies(app: App) -> list[str]:
    with app.database.read() as connection:
        return list(connection.execute(select(outbox_t.c.body).order_by(outbox_t.c.id)).scalars())


def context(core: Core, visits: list[dict[str, Any]], locale: str = "en") -> Any:
    return core.conversations.context(locale, REMINDER_DAY, "America/New_York", {"upcoming_visits": visits})


def visit(visit_id: int, when: str, visit_type: str = "on_site") -> dict[str, Any]:
    site = "study.site.riverside" if visit_type == "on_site" else None
    return {"visit_id": visit_id, "visit_type": visit_type, "when": when, "site": site}


def rendered(core: Core, message: MessageCreated, locale: str = "en") -> str:
    return core.renderer.render(message, locale, ChoiceStyle.NUMBERED, "America/New_York").body


def messages(events: list[Any]) -> list[MessageCreated]:
    return [e for e in events if isinstance(e, MessageCreated)]


# -- the request's records ---------------------------------------------------------------------


def test_a_confirmed_request_is_a_row_an_escalation_and_an_audit_entry(app: App, clock: SettableClock) -> None:
    patient = Patient(app)
    request_id = submit(app, clock, patient)
    request = row(app, request_id)
    assert (request.status, request.visit_id, request.note) == ("submitted", 1, None)
    assert request.details == EXPECTED
    with app.database.read() as connection:
        escalations = connection.execute(select(escalation_t)).all()
    # One escalation: the reminder's T no longer asks for staff by itself; the confirmed request does.
    assert len(escalations) == 1
    [escalation] = escalations
    assert (escalation.id, escalation.category, escalation.severity, escalation.status) == (
        request.escalation_id, "travel", "normal", "open",
    )  # fmt: skip
    assert escalation.details == {"travel_request_id": request_id}
    confirming = patient.inbound_rows()[-1]
    assert (confirming.text, escalation.inbound_id) == ("yes", confirming.id)

    [submitted] = audit(app, "travel_request_submitted")
    assert (submitted.actor, submitted.participant_id, submitted.inbound_id) == ("participant", 1, confirming.id)
    assert submitted.new == EXPECTED
    [requested] = audit(app, "travel_requested")
    assert requested.new == {"visit_id": 1, "travel_request_id": request_id}  # the details are written once


def test_no_message_repeats_the_postal_code_or_the_patients_own_words(app: App, clock: SettableClock) -> None:
    submit(app, clock, Patient(app))
    sent = bodies(app)
    summaries = [b for b in sent if "Is this right?" in b]
    assert summaries == [
        "Round trip by taxi or car service. 2 people with you, one a caregiver. A stay of 3 nights. "
        "Other help needed. Is this right?\nReply 1 for Yes, 2 for No."
    ]
    assert sent[-1] == "Thank you. Your request is with the study team. They will contact you to plan your travel."
    for body in sent:
        assert POSTAL not in body
        assert "walker" not in body
        assert "ramp" not in body


def test_a_correction_goes_back_to_the_question_then_to_the_summary(app: App, clock: SettableClock) -> None:
    patient = Patient(app)
    answers = (POSTAL, "1", "1", "no", "no", "wheelchair", "no", "nights", "yes", "2", "yes")
    request_id = submit(app, clock, patient, answers)
    assert row(app, request_id).details == {
        "origin": POSTAL, "trip": "round_trip", "mode": "own_car", "companions": 0, "caregiver": False,
        "nights": 2, "assistance": "wheelchair", "assistance_note": None,
    }  # fmt: skip
    summaries = [b.split("\n")[0] for b in bodies(app) if "Is this right?" in b]
    assert summaries == [
        "Round trip in your own car. No one with you. No overnight stay. Wheelchair needed. Is this right?",
        "Round trip in your own car. No one with you. A stay of 2 nights. Wheelchair needed. Is this right?",
    ]


# -- started with no data (the TRAVEL keyword) -------------------------------------------------


def test_with_no_visit_ahead_a_coordinator_calls(core: Core) -> None:
    phone_only = [visit(7, "2026-12-20T16:00:00+00:00", "phone")]  # nobody travels to a phone call
    for visits in ([], phone_only):
        result = core.conversations.engine.start("travel", context(core, visits))
        assert not result.active
        [staff] = [e for e in result.events if isinstance(e, StaffRequested)]
        assert (staff.category, staff.details) == ("travel", {"reason": "no_upcoming_visit"})
        assert [rendered(core, m) for m in messages(result.events)] == [
            "I do not see a clinic visit booked for you. A study coordinator will call you about travel."
        ]
        assert [rendered(core, m, "es") for m in messages(result.events)] == [
            "No veo una visita a la clínica reservada para usted. Un coordinador del estudio le llamará sobre "
            "el transporte."
        ]


def test_with_one_clinic_visit_ahead_it_is_the_one(core: Core) -> None:
    visits = [visit(3, "2026-12-22T14:30:00+00:00"), visit(4, "2026-12-29T16:00:00+00:00", "telehealth")]
    result = core.conversations.engine.start("travel", context(core, visits))
    assert core.conversations.engine.waiting(result.snapshot) == ("travel", "where_from")
    assert result.snapshot["frames"][-1]["data"]["visit_id"] == 3


def test_with_several_clinic_visits_the_patient_picks_one_by_its_day(core: Core) -> None:
    visits = [
        visit(5, "2027-01-19T14:30:00+00:00"), visit(2, "2026-12-22T14:30:00+00:00"),
        visit(9, "2026-12-23T16:00:00+00:00", "phone"), visit(6, "2027-02-16T14:30:00+00:00"),
        visit(8, "2027-03-16T13:30:00+00:00"),
    ]  # fmt: skip
    engine = core.conversations.engine
    started = engine.start("travel", context(core, visits))
    asked = messages(started.events)[-1]
    assert [c.value for c in asked.choices] == ["2", "5"]  # the two soonest clinic visits
    assert rendered(core, asked) == (
        "Which visit do you need travel help for?\nReply 1 for Tuesday, December 22 at 9:30 AM, "
        "2 for Tuesday, January 19 at 9:30 AM."
    )
    assert rendered(core, asked, "es") == (
        "¿Para qué visita necesita ayuda con el transporte?\nResponda 1 para martes, 22 de diciembre a las "
        "9:30 a.m., 2 para martes, 19 de enero a las 9:30 a.m."
    )
    buttons = core.renderer.render(asked, "en", ChoiceStyle.BUTTONS, "America/New_York").buttons
    assert [b.label for b in buttons] == [
        "Tuesday, December 22 at 9:30 AM", "Tuesday, January 19 at 9:30 AM",
    ]  # fmt: skip
    for text, locale, picked in [("2", "en", 5), ("january 19", "en", 5), ("22 de diciembre", "es", 2),
                                 ("dec 22", "en", 2), ("12/22", "en", 2), ("enero", "es", 5)]:  # fmt: skip
        answered = engine.resume(started.snapshot, text, context(core, visits, locale))
        assert engine.waiting(answered.snapshot) == ("travel", "where_from"), text
        assert answered.snapshot["frames"][-1]["data"]["visit_id"] == picked, text
    # Every offered visit is on a Tuesday: the weekday alone picks none of them.
    unclear = engine.resume(started.snapshot, "Tuesday", context(core, visits))
    assert engine.waiting(unclear.snapshot) == ("travel", "which_visit")


def test_the_offered_visits_stay_fixed_while_the_question_waits(core: Core) -> None:
    engine = core.conversations.engine
    before = [visit(2, "2026-12-22T14:30:00+00:00"), visit(5, "2027-01-19T14:30:00+00:00")]
    started = engine.start("travel", context(core, before))
    # A visit booked before the answer would otherwise shift "2" to another visit.
    after = [visit(4, "2026-12-18T14:30:00+00:00"), *before]
    answered = engine.resume(started.snapshot, "2", context(core, after))
    assert answered.snapshot["frames"][-1]["data"]["visit_id"] == 5


def test_the_request_event_carries_only_what_staff_need(core: Core) -> None:
    engine = core.conversations.engine
    result = engine.start("travel", context(core, [visit(2, "2026-12-22T14:30:00+00:00")]))
    for text in ("10001", "2", "4", "no", "no", "no", "yes"):
        result = engine.resume(result.snapshot, text, context(core, []))
    [requested] = [e for e in result.events if isinstance(e, TravelRequested)]
    assert requested.visit_id == 2
    assert requested.details == {
        "origin": "10001", "trip": "one_way", "mode": "plane", "companions": 0, "caregiver": False, "nights": 0,
        "assistance": "none", "assistance_note": None,
    }  # fmt: skip
    assert not result.active


# -- what the patient reads --------------------------------------------------------------------


def _turn(core: Core, data: dict[str, Any], locale: str) -> Turn:
    return Turn(flow="travel", state="summary", data=data, context=context(core, [], locale), locale=locale)


def test_every_summary_and_visit_question_fits_three_sms_segments(core: Core) -> None:
    summary = REGISTRY.prompts["travel_summary"]
    too_long: list[str] = []
    for locale in core.loaded.study.languages:
        combos = itertools.product(
            ("round_trip", "one_way"), ("own_car", "taxi", "transit", "plane"), (0, 1, 2, 4), (False, True),
            (0, 1, 14), ("none", "wheelchair", "oxygen", "other"),
        )  # fmt: skip
        for trip, mode, companions, caregiver, nights, assistance in combos:
            data = {"trip": trip, "mode": mode, "companions": companions, "caregiver": caregiver and companions > 0,
                    "nights": nights, "assistance": assistance}  # fmt: skip
            prompt = summary(_turn(core, data, locale))
            for parts in (prompt.parts, (Part("common.unclear"), *prompt.parts)):
                body = rendered(core, MessageCreated(parts, prompt.choices), locale)
                if count_segments(body).segments > 3 or (locale == "en" and count_segments(body).encoding != "GSM-7"):
                    too_long.append(f"{locale}: {body!r}")
        visits = [visit(n, f"2026-12-{20 + n}T14:30:00+00:00") for n in range(1, 4)]
        started = core.conversations.engine.start("travel", context(core, visits, locale))
        asked = messages(started.events)[-1]
        for parts in (asked.parts, (Part("common.unclear"), *asked.parts)):
            body = rendered(core, MessageCreated(parts, asked.choices), locale)
            if count_segments(body).segments > 3:
                too_long.append(f"{locale}: {body!r}")
    assert too_long == []


@pytest.mark.parametrize(
    ("data", "english"),
    [
        ({"trip": "one_way", "mode": "own_car", "companions": 1, "caregiver": False, "nights": 1,
          "assistance": "oxygen"},
         "One way in your own car. 1 person with you. A stay of 1 night. Oxygen needed. Is this right?"),
        ({"trip": "round_trip", "mode": "plane", "companions": 1, "caregiver": True, "nights": 0,
          "assistance": "none"},
         "Round trip by plane. 1 person with you: a caregiver. No overnight stay. No help getting around. "
         "Is this right?"),
        ({"trip": "round_trip", "mode": "transit", "companions": 4, "caregiver": False, "nights": 14,
          "assistance": "wheelchair", "origin": POSTAL, "assistance_note": "my heart"},
         "Round trip by bus or train. 4 people with you. A stay of 14 nights. Wheelchair needed. Is this right?"),
    ],
)  # fmt: skip
def test_the_summary_says_the_answers_and_nothing_else(core: Core, data: dict[str, Any], english: str) -> None:
    prompt = REGISTRY.prompts["travel_summary"](_turn(core, data, "en"))
    assert rendered(core, MessageCreated(prompt.parts)) == english


# -- parsers -----------------------------------------------------------------------------------


def _answer(core: Core, text: str, locale: str = "en") -> Answer:
    turn = Turn(flow="travel", state="where_from", data={}, context=context(core, [], locale), locale=locale)
    return Answer(text=text, folded=fold(text), choices=(), turn=turn)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("10001", "10001"), (" 10001-1234 ", "10001-1234"), ("sw1a 1aa", "SW1A 1AA"), ("K1A 0B1", "K1A 0B1"),
        ("28013", "28013"), ("１０００１", "10001"), ("my zip is 10001", "10001"), ("it's 11375, thanks", "11375"),
        ("mi código es 10452", "10452"), ("123", "123"), ("10001 😀", "10001"),
    ],
)  # fmt: skip
def test_postal_codes_are_read(core: Core, text: str, value: str) -> None:
    assert REGISTRY.parsers["postal_code"].parse(_answer(core, text)) == ParseResult("answered", value)


@pytest.mark.parametrize(
    "text", ["Queens", "yes", "12", "", "10001 or 10002", "12345678901", "a" * 300, "no sé", "1/2/3/4"]
)
def test_anything_else_gets_the_postal_code_hint(core: Core, text: str) -> None:
    result = REGISTRY.parsers["postal_code"].parse(_answer(core, text))
    assert result == ParseResult(None, hint=Part("travel.hint.postal_code"))


@pytest.mark.parametrize(
    ("parser", "text", "value"),
    [("count_1_to_4", "2", 2), ("count_1_to_4", "two", 2), ("count_1_to_4", "dos", 2), ("count_1_to_4", "4 people", 4),
     ("count_1_to_4", "0", None), ("count_1_to_4", "5", None), ("count_1_to_4", "2 or 3", None),
     ("count_1_to_14", "14", 14), ("count_1_to_14", "3 noches", 3), ("count_1_to_14", "15", None),
     ("count_1_to_14", "1.5", None)],
)  # fmt: skip
def test_counts_are_whole_numbers_in_range(core: Core, parser: str, text: str, value: int | None) -> None:
    result = REGISTRY.parsers[parser].parse(_answer(core, text))
    if value is None:
        high = 4 if parser == "count_1_to_4" else 14
        assert result == ParseResult(None, hint=Part("common.hint.number", {"min": 1, "max": high}))
    else:
        assert result == ParseResult("answered", value)


# -- staff decisions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [("approved", "booked"), ("approved", "denied"), ("booked",), ("denied",)],
)
def test_allowed_transitions(app: App, clock: SettableClock, path: tuple[str, ...]) -> None:
    request_id = submit(app, clock, Patient(app))
    before = len(bodies(app))
    for status in path:
        view = update_travel_request(app, request_id, status, None, "staff:kim")
        assert (view["status"], view["messaged"]) == (status, True)
    assert row(app, request_id).status == path[-1]
    assert bodies(app)[before:] == [STATUS_TEXTS[s] for s in path]
    entries = audit(app, "travel_request_updated")
    old = ["submitted", *path[:-1]]
    assert [(e.actor, e.old, e.new) for e in entries] == [
        ("staff:kim", {"status": o}, {"travel_request_id": request_id, "status": n})
        for o, n in zip(old, path, strict=True)
    ]


@pytest.mark.parametrize(
    ("path", "refused", "message"),
    [
        (("booked",), "denied", "travel request {id} is booked (it is final); it cannot become denied"),
        (("denied",), "approved", "travel request {id} is denied (it is final); it cannot become approved"),
        (("denied",), "booked", "travel request {id} is denied (it is final); it cannot become booked"),
        (("approved",), "approved", "travel request {id} is approved; it cannot become approved"),
        (("approved", "booked"), "booked", "travel request {id} is booked (it is final); it cannot become booked"),
        ((), "submitted", "status 'submitted' is not one of approved, booked, denied"),
        ((), "cancelled", "status 'cancelled' is not one of approved, booked, denied"),
    ],
)  # fmt: skip
def test_refused_transitions_change_nothing(
    app: App, clock: SettableClock, path: tuple[str, ...], refused: str, message: str
) -> None:
    request_id = submit(app, clock, Patient(app))
    for status in path:
        update_travel_request(app, request_id, status, None, "staff:kim")
    sent, entries, status_now = len(bodies(app)), len(audit(app, "travel_request_updated")), row(app, request_id)
    with pytest.raises(TravelError) as refusal:
        update_travel_request(app, request_id, refused, "a note", "staff:kim")
    assert str(refusal.value) == message.format(id=request_id)
    assert len(bodies(app)) == sent
    assert len(audit(app, "travel_request_updated")) == entries
    assert (row(app, request_id).status, row(app, request_id).note) == (status_now.status, status_now.note)


def test_an_unknown_request_is_refused(app: App) -> None:
    with pytest.raises(TravelError, match=r"^no travel request 42$"):
        update_travel_request(app, 42, "approved", None, "staff:kim")


def test_the_note_is_kept_and_audited_but_never_sent(app: App, clock: SettableClock) -> None:
    request_id = submit(app, clock, Patient(app))
    note = "Booked  Yellow Cab, pickup 7:45 AM at home; hotel Marriott 2 nights ($180)"
    update_travel_request(app, request_id, "booked", note, "staff:dr.ames")
    assert row(app, request_id).note == "Booked Yellow Cab, pickup 7:45 AM at home; hotel Marriott 2 nights ($180)"
    [entry] = audit(app, "travel_request_updated")
    assert entry.actor == "staff:dr.ames"
    assert entry.new["note"] == row(app, request_id).note
    assert bodies(app)[-1] == STATUS_TEXTS["booked"]


@pytest.mark.parametrize(("locale", "status"), [(loc, s) for loc in ("en", "es") for s in STATUS_TEXTS])
def test_the_status_message_is_neutral(app: App, clock: SettableClock, locale: str, status: str) -> None:
    patient = Patient(app, locale=locale)
    request_id = submit(app, clock, patient, ANSWERS if locale == "en" else
                        (POSTAL, "1", "2", "sí", "2", "sí", "sí", "3", "4", "Uso un andador", "sí"))  # fmt: skip
    update_travel_request(app, request_id, status, "pickup 7:45 at 12 Main St, $40", "staff:kim")
    with app.database.read() as connection:
        last = connection.execute(select(outbox_t).order_by(outbox_t.c.id.desc())).first()
    assert last is not None
    assert (last.channel, last.address, last.purpose, last.buttons) == ("sms", patient.address, "travel", None)
    body = last.body
    if locale == "en":
        assert body == STATUS_TEXTS[status]
    assert not re.search(r"\d", body), body  # no postal code, time, date or amount
    assert "$" not in body
    assert POSTAL not in body
    assert not set(fold(body).split()) & ITINERARY_WORDS, body
    assert "pick up" not in fold(body)
    assert count_segments(body).segments <= 2


def test_a_participant_who_said_stop_gets_no_text(app: App, clock: SettableClock) -> None:
    patient = Patient(app)
    request_id = submit(app, clock, patient)
    patient.send("STOP")
    sent = len(bodies(app))
    view = update_travel_request(app, request_id, "approved", None, "staff:kim")
    assert (view["status"], view["messaged"]) == ("approved", False)
    assert len(bodies(app)) == sent
    assert row(app, request_id).status == "approved"


def test_the_message_goes_to_the_channel_they_last_wrote_from(app: App, clock: SettableClock) -> None:
    telegram = Patient(app, channel="telegram", address="700100")
    request_id = submit(app, clock, telegram)
    update_travel_request(app, request_id, "approved", None, "staff:kim")
    with app.database.read() as connection:
        last = connection.execute(select(outbox_t).order_by(outbox_t.c.id.desc())).first()
    assert last is not None
    assert (last.channel, last.address, last.body) == ("telegram", "700100", STATUS_TEXTS["approved"])


# -- the CLI -----------------------------------------------------------------------------------


def cli(database_url: str, *args: str) -> Result:
    result = CliRunner().invoke(main, ["travel", *args, "--db", database_url], env=CLEAN_ENV)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_cli_list_show_and_update(app: App, clock: SettableClock, database_url: str) -> None:
    request_id = submit(app, clock, Patient(app))
    listed = ok(cli(database_url, "list")).stdout
    assert (
        listed
        == f"#{request_id} submitted P-000001 week_4 on 2026-12-22T09:30:00-05:00, submitted {REMINDER_DAY.isoformat()}\n"
    )
    assert POSTAL not in listed
    items = json.loads(ok(cli(database_url, "list", "--json")).stdout)
    assert [(i["id"], i["participant"], i["status"], i["visit"]["visit"]) for i in items] == [
        (request_id, "P-000001", "submitted", "week_4")
    ]
    assert "details" not in items[0]
    assert ok(cli(database_url, "list", "--status", "approved")).stdout == "No travel requests.\n"

    shown = json.loads(ok(cli(database_url, "show", str(request_id), "--json")).stdout)
    assert shown["details"] == EXPECTED
    assert shown["visit"] == {
        "id": 1, "visit": "week_4", "status": "booked", "site": "riverside",
        "scheduled_local": "2026-12-22T09:30:00-05:00",
    }  # fmt: skip
    assert (shown["status"], shown["note"]) == ("submitted", None)
    text = ok(cli(database_url, "show", str(request_id))).stdout
    assert f"origin: {POSTAL}" in text
    assert f"assistance_note: {OWN_WORDS}" in text
    assert "note: -" in text

    updated = ok(
        cli(database_url, "update", str(request_id), "--status", "approved", "--note", "cab ok", "--by", "kim")
    )
    assert updated.stdout == f"travel request #{request_id}: approved; the participant gets a text\n"
    assert row(app, request_id).note == "cab ok"
    [entry] = audit(app, "travel_request_updated")
    assert (entry.actor, entry.old, entry.new) == (
        "staff:kim", {"status": "submitted"}, {"travel_request_id": request_id, "status": "approved", "note": "cab ok"},
    )  # fmt: skip
    assert bodies(app)[-1] == STATUS_TEXTS["approved"]
    assert [i["id"] for i in json.loads(ok(cli(database_url, "list", "--status", "approved", "--json")).stdout)] == [
        request_id
    ]


def test_cli_errors_are_one_line(app: App, clock: SettableClock, database_url: str) -> None:
    assert ok(cli(database_url, "list")).stdout == "No travel requests.\n"
    assert one_error_line(cli(database_url, "show", "7")) == "trialbot: no travel request 7"
    assert one_error_line(cli(database_url, "update", "7", "--status", "booked")) == "trialbot: no travel request 7"
    request_id = submit(app, clock, Patient(app))
    ok(cli(database_url, "update", str(request_id), "--status", "denied"))
    refused = cli(database_url, "update", str(request_id), "--status", "booked", "--by", "kim")
    assert one_error_line(refused) == (
        f"trialbot: travel request {request_id} is denied (it is final); it cannot become booked"
    )
    assert row(app, request_id).status == "denied"
    bad = cli(database_url, "update", str(request_id), "--status", "lost")
    assert bad.exit_code == 2
    assert "Invalid value for '--status'" in bad.stderr
    [entry] = audit(app, "travel_request_updated")
    assert entry.actor.startswith("staff:")  # the login, when --by is not given


def test_the_status_message_waits_for_no_reply(app: App, clock: SettableClock) -> None:
    """A status message asks nothing: the conversation is not changed by it."""
    patient = Patient(app)
    request_id = submit(app, clock, patient)
    clock.set(REMINDER_DAY + timedelta(hours=2))
    update_travel_request(app, request_id, "approved", None, "staff:kim")
    assert patient.turn(None).state is None
