"""Onboarding (SMS-08/09, SMS-16, SAF-07, PRIV-01): nothing is sent to anyone before their YES to texts.

Through the real pipeline and database. The golden transcripts (tests/flows/transcripts/onboarding_*)
show the conversations; these tests pin the rules around them: the welcome staff enrolment sends, who
gets one, what waits for the YES, and what the audit trail keeps.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot import staff_actions
from bot.bootstrap import App, build_scheduler
from bot.channels.segments import count_segments
from bot.clock import SettableClock
from bot.study import StudyError, load_study
from storage.repositories import Repositories, audit_t, outbox_t, scheduled_t
from tests.helpers import Patient
from tests.unit.test_study import demo_data, write_study

PHONE = "+15550100077"
REFERENCE = f"sms:{PHONE}"
WEEK_4_REMINDER = datetime.fromisoformat("2026-12-15T15:00:00+00:00")  # 7 days before, 10:00 in New York


def _enrol(app: App, reference: str = REFERENCE, locale: str | None = None) -> None:
    staff_actions.enrol(app, reference, date(2026, 11, 24), "staff:test", locale=locale)
    staff_actions.book(app, reference, "week_4", staff_actions.parse_local("2026-12-22", "09:30"), "staff:test")


def _scheduled(app: App, kind: str) -> list[Any]:
    with app.database.read() as connection:
        return list(connection.execute(select(scheduled_t).where(scheduled_t.c.kind == kind)).all())


def _bodies(app: App) -> list[str]:
    with app.database.read() as connection:
        return list(connection.execute(select(outbox_t.c.body).order_by(outbox_t.c.id)).scalars())


def _audit(app: App, action: str) -> list[Any]:
    with app.database.read() as connection:
        return list(Repositories(connection).audit.actions([action]))


# -- the welcome -------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["en", "es"])
def test_the_welcome_sms_says_everything_in_three_gsm7_segments(app: App, locale: str) -> None:
    _enrol(app, locale=locale)
    [welcome] = _scheduled(app, "welcome")
    counted = count_segments(welcome.body)
    # Spanish too: the disclosure avoids á, í, ó and ú, which would make it UCS-2 and 7 segments long.
    assert (counted.encoding, counted.segments <= 3) == ("GSM-7", True), (counted, welcome.body)
    assert welcome.purpose == "welcome"
    assert not welcome.capped
    if locale == "en":
        for needed in ("Sunrise Study", "a few times a week", "Msg & data rates may apply", "not fully private",
                       "YES", "STOP"):  # fmt: skip
            assert needed in welcome.body


def test_before_the_yes_only_the_welcome_goes_and_after_it_everything_else(app: App, clock: SettableClock) -> None:
    _enrol(app)
    build_scheduler(app).sweep()
    assert len(_bodies(app)) == 1
    assert _bodies(app)[0].startswith("Hi! This is the Sunrise Study team.")
    clock.advance(timedelta(days=2))  # the first check-in's day
    assert build_scheduler(app).sweep().sent == 0, "no booking note or check-in before the YES"
    Patient(app, address=PHONE).send("yes")
    assert build_scheduler(app).sweep().sent == 2, "the booking note and the check-in go once they agree"
    assert any(body.startswith("Your study visit at Riverside Clinic is booked") for body in _bodies(app))


def test_a_yes_after_the_welcome_expired_gets_the_disclosure_again(app: App, clock: SettableClock) -> None:
    """The welcome waits 7 days for its answer; a YES weeks later is not taken as agreement to words
    they may no longer have in front of them: they are shown them again."""
    _enrol(app)
    build_scheduler(app).sweep()
    clock.set(WEEK_4_REMINDER)
    assert build_scheduler(app).sweep().sent == 0
    patient = Patient(app, address=PHONE)
    assert patient.send("yes").replies[0].startswith("Hi! This is the Sunrise Study team.")
    assert patient.send("yes").replies[-1] == "You are all set. We will text you about your study visits."
    assert build_scheduler(app).sweep().sent == 1
    assert _bodies(app)[-1].startswith("Your study visit at Riverside Clinic is booked for Tuesday, December 22")


def test_a_no_means_nothing_is_ever_sent_until_they_write_again(app: App, clock: SettableClock) -> None:
    _enrol(app)
    build_scheduler(app).sweep()
    patient = Patient(app, address=PHONE)
    assert patient.send("no").replies == [
        "OK. We will not send you texts. If you change your mind, just text us again."
    ]
    for day in range(0, 30, 3):
        clock.set(WEEK_4_REMINDER - timedelta(days=21) + timedelta(days=day))
        assert build_scheduler(app).sweep().sent == 0
    [declined] = _audit(app, "texts_agreed")
    assert (declined.new["agreed"], declined.new["source"]) == (False, "staff_enrolment")
    assert patient.participant().opted_in_at is None
    assert patient.send("Hi").replies[-1].startswith("Do you agree to get texts from us?"), "asked again"


def test_enrolling_again_sends_no_second_welcome(app: App) -> None:
    _enrol(app)
    staff_actions.enrol(app, REFERENCE, date(2026, 11, 25), "staff:test")
    assert len(_scheduled(app, "welcome")) == 1
    build_scheduler(app).sweep()
    staff_actions.enrol(app, REFERENCE, date(2026, 11, 26), "staff:test")
    assert len(_scheduled(app, "welcome")) == 1, "a welcome was sent already: they can still answer it"


def test_someone_who_agreed_already_gets_no_welcome(app: App) -> None:
    patient = Patient(app, address=PHONE)
    patient.join()
    _enrol(app)
    assert _scheduled(app, "welcome") == []


def test_a_welcome_not_sent_yet_is_cancelled_when_they_write_first_and_agree(app: App) -> None:
    _enrol(app)
    Patient(app, address=PHONE).join()
    [welcome] = _scheduled(app, "welcome")
    assert welcome.status == "cancelled"
    build_scheduler(app).sweep()
    assert not any(body.startswith("Hi! This is the Sunrise Study team.") for body in _bodies(app)[3:])


def test_someone_who_said_stop_gets_no_welcome(app: App) -> None:
    patient = Patient(app, address=PHONE)
    patient.send("STOP")
    _enrol(app)
    assert _scheduled(app, "welcome") == []
    assert build_scheduler(app).sweep().sent == 0


def test_stop_instead_of_yes_stops_everything(app: App) -> None:
    _enrol(app)
    build_scheduler(app).sweep()
    patient = Patient(app, address=PHONE)
    assert patient.send("STOP").replies[0].startswith("You will not get any more texts")
    assert patient.participant().opted_out_at is not None
    assert _audit(app, "texts_agreed") == []


# -- the record of the opt-in (SMS-09) ---------------------------------------------------------


def test_the_opt_in_keeps_time_source_version_and_the_exact_words_in_the_patients_language(
    app: App, clock: SettableClock
) -> None:
    patient = Patient(app, address=PHONE)
    first = patient.send("sol")  # a Spanish radio advertisement's keyword, in small letters
    assert first.replies[0].startswith("¡Hola! Le escribe el equipo de Sunrise Study.")
    clock.advance(timedelta(minutes=3))
    patient.send("Sí")
    [agreed] = _audit(app, "texts_agreed")
    assert agreed.at.replace(tzinfo=None) == clock.now().replace(tzinfo=None)
    assert agreed.actor == "participant"
    assert agreed.new["agreed"] is True
    assert agreed.new["source"] == "radio_es"
    assert agreed.new["disclosure_version"] == "2026-11-01"
    assert agreed.new["channel"] == "sms"
    shown = agreed.new["shown_text"]
    assert shown == [
        first.replies[0], first.replies[1], "¿Acepta recibir mensajes de nosotros?",
        "Responda SI o NO. Puede responder STOP en cualquier momento.",
    ]  # fmt: skip
    assert first.replies[2] == " ".join(shown[2:]), "the question and its instruction went as one SMS"
    assert patient.participant().opted_in_at is not None


def test_a_keyword_for_a_language_the_study_does_not_speak_is_refused(tmp_path: Path) -> None:
    data = demo_data()
    data["languages"] = ["en"]
    data["onboarding"]["keywords"] = {"SOL": {"source": "radio_es", "language": "es"}}
    with pytest.raises(StudyError) as raised:
        load_study(write_study(tmp_path, data))
    assert "keyword 'SOL' is in 'es', not in languages" in str(raised.value)


@pytest.mark.parametrize(
    ("keywords", "problem"),
    [
        ({"S UN": "flyer"}, "use 2-20 letters or digits"),
        ({"SUNRISE": "Flyer Ad"}, "onboarding.keywords.sunrise.source"),
        ({"SUNRISE": {"source": "flyer", "language": "fr"}}, "onboarding.keywords.sunrise.language"),
    ],
)
def test_bad_keywords_are_named(tmp_path: Path, keywords: dict[str, Any], problem: str) -> None:
    data = demo_data()
    data["onboarding"]["keywords"] = keywords
    with pytest.raises(StudyError) as raised:
        load_study(write_study(tmp_path, data))
    assert problem in str(raised.value)


def test_the_audit_entry_is_append_only_evidence(app: App) -> None:
    """The opt-in is one audit row per answer: saying YES again later adds nothing, and nothing rewrites it."""
    patient = Patient(app, address=PHONE)
    patient.join()
    patient.send("yes")  # the prescreen's "ready?": an answer there, not a second opt-in
    with app.database.read() as connection:
        rows = connection.execute(select(audit_t.c.id).where(audit_t.c.action == "texts_agreed")).all()
    assert len(rows) == 1
