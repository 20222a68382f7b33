"""Consent comprehension by teach-back (PL-05, CON-05..08, CON-12): the check, its audit trail, its report.

Through the real pipeline and database: staff send the check, the sweep sends its first message, the
patient answers. The audit trail must hold every answer with its time, the form version and the
exact words shown; the check ends with one escalation; the report names who answered an older form.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from bot.behaviour.consent import point_choices, point_key
from bot.behaviour.parsers import NO, YES
from bot.bootstrap import App, Core, build_app, build_core, build_scheduler, core_for
from bot.channels.rendering import ChoiceStyle
from bot.channels.segments import count_segments
from bot.cli import main
from bot.clock import SettableClock
from bot.consent import ConsentError, consent_report, send_consent_check
from bot.domain import Choice, InboundMessage, MessageCreated, Part
from bot.engine import Answer, Turn
from bot.ids import SequentialIds
from bot.planning import OPENER_REPLY_WINDOW
from bot.study import LoadedStudy
from bot.text import fold
from storage.repositories import Repositories, audit_t
from tests.helpers import Patient

CURRENT = "v1.2 (2026-10-15)"
OLDER = "v1.1 (2026-06-01)"
# Right answers to the demo study's 8 points, in order: purpose, voluntary, leaving, risks, visits,
# costs, privacy, contact.
ALL_RIGHT = ["no", "no", "yes", "yes", "2", "no", "no", "1"]
CLEAN_ENV: dict[str, str | None] = {"TRIALBOT_DATABASE_URL": None, "TRIALBOT_STUDY": None, "TRIALBOT_LOG_LEVEL": None}


def _app(database_url: str, clock: SettableClock, form_version: str = CURRENT) -> App:
    """The demo study, with its consent form at another version if asked."""
    loaded = build_core().loaded
    assert loaded.study.consent is not None
    consent = loaded.study.consent.model_copy(update={"form_version": form_version})
    study = loaded.study.model_copy(update={"consent": consent})
    return build_app(
        database_url, core=core_for(LoadedStudy(study=study, path=loaded.path)), clock=clock, ids=SequentialIds()
    )


@pytest.fixture
def older(database_url: str, clock: SettableClock) -> Iterator[App]:
    """trialbot on the same database, before the consent form changed."""
    app = _app(database_url, clock, OLDER)
    yield app
    app.database.dispose()


def _joined(app: App, address: str, locale: str = "en", channel: str = "sms") -> Patient:
    """Someone who already agreed to texts (onboarding is tested on its own)."""
    now = app.clock.now()
    with app.database.write() as connection:
        repos = Repositories(connection)
        hint = InboundMessage(channel, address, "", "", now, locale_hint=locale)
        participant = app.service.enrol_address(repos, hint, now)
        repos.participants.update(participant.id, now, opted_in_at=now)
    return Patient(app, address=address, channel=channel, locale=locale)


def _start(app: App, patient: Patient) -> list[str]:
    """Staff send the check and the sweep sends its first message; return what went out."""
    send_consent_check(app, f"{patient.channel}:{patient.address}", "staff:test")
    assert build_scheduler(app).sweep().sent == 1
    with app.database.read() as connection:
        rows = Repositories(connection).schedule.for_participant(patient.participant().id, ("sent",))
    return [str(row.body) for row in rows]


def _answer(app: App, clock: SettableClock, patient: Patient, answers: list[str]) -> list[str]:
    """Reply once a minute; return every reply sent."""
    replies: list[str] = []
    for text in answers:
        clock.advance(timedelta(minutes=1))
        replies += patient.send(text).replies
    return replies


def _entries(app: App, patient: Patient, action: str) -> list[Any]:
    with app.database.read() as connection:
        return list(
            connection.execute(
                select(audit_t)
                .where(audit_t.c.participant_id == patient.participant().id, audit_t.c.action == action)
                .order_by(audit_t.c.id)
            )
        )


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _escalations(app: App, patient: Patient) -> list[Any]:
    with app.database.read() as connection:
        return Repositories(connection).escalations.for_participant(patient.participant().id)


# -- the check, and what the audit trail keeps -------------------------------------------------


def test_the_audit_trail_holds_every_answer_with_its_time_version_and_the_exact_english_shown(
    app: App, clock: SettableClock
) -> None:
    patient = _joined(app, "+15550400001")
    opener = _start(app, patient)
    assert opener == [
        "Before you talk with the study team about joining, I will check some key points of the study with you. "
        "It takes a few minutes. Reply AGENT at any time to talk to a person.\n\n"
        "Are you ready to start? Reply YES or NO."
    ]
    # purpose: wrong, then right; the rest right first time.
    replies = _answer(app, clock, patient, ["yes", "yes", *ALL_RIGHT])
    assert replies[:2] == [
        "This study tests a study medicine. It is still being tested, so no one knows yet if it works.",
        "Do we already know that the study medicine works?\nReply 1 for Yes, 2 for No.",
    ]
    assert replies[2] == (
        "Thank you. I may not have explained that well. "
        "No one knows yet if the study medicine works. Finding that out is why we do the study."
    )
    assert replies[-1] == (
        "Thank you. The study team will go over the consent form with you and answer your questions. "
        "Only they can complete your consent with you."
    )

    entries = _entries(app, patient, "consent_point_answered")
    assert len(entries) == 9  # every attempt, the wrong one included
    start = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    assert [_utc(e.at) for e in entries] == [start + timedelta(minutes=n) for n in range(2, 11)]
    assert {e.new["form_version"] for e in entries} == {CURRENT}
    first, second = entries[0].new, entries[1].new
    assert (first["point"], first["attempt"], first["answer"], first["correct"], first["result"]) == (
        "purpose", 1, "yes", False, None,
    )  # fmt: skip
    assert first["shown_text"] == [
        "This study tests a study medicine. It is still being tested, so no one knows yet if it works.",
        "Do we already know that the study medicine works?",
        "Yes",
        "No",
    ]
    assert (second["attempt"], second["answer"], second["correct"], second["result"]) == (
        2, "no", True, "understood_after_explaining",
    )  # fmt: skip
    assert second["shown"][:2] == ["consent.explain_again", "study.consent.purpose.explain"]
    assert second["shown_text"][:3] == [
        "Thank you. I may not have explained that well.",
        "No one knows yet if the study medicine works. Finding that out is why we do the study.",
        "Do we already know that the study medicine works?",
    ]
    contact = entries[-1].new
    assert contact["shown_text"] == [
        "If you have questions or feel unwell, call the study team.",
        "Who should you call with questions about the study?",
        "The study team",
        "My pharmacy",
        "No one",
    ]
    assert all(e.actor == "participant" and e.new["locale"] == "en" for e in entries)


def test_the_audit_trail_keeps_the_spanish_words_the_patient_saw(app: App, clock: SettableClock) -> None:
    patient = _joined(app, "+15550400002", locale="es")
    assert _start(app, patient)[0].endswith("¿Podemos empezar? Responda SÍ o NO.")
    replies = _answer(app, clock, patient, ["sí", "no", "sí"])
    assert replies[-2:] == [
        "Gracias. Quizás no lo expliqué bien. Está bien decir que no. "
        "Su atención médica habitual sigue igual en cualquier caso.",
        "Si dice que no, ¿cambiará su atención médica habitual?\nResponda 1 para Sí, 2 para No.",
    ]
    purpose, voluntary = (e.new for e in _entries(app, patient, "consent_point_answered"))
    assert purpose["locale"] == "es"
    assert purpose["shown_text"] == [
        "Este estudio prueba un medicamento del estudio. Todavía se está probando, así que nadie sabe aún si funciona.",
        "¿Ya sabemos que el medicamento del estudio funciona?",
        "Sí",
        "No",
    ]
    assert (voluntary["point"], voluntary["answer"], voluntary["correct"]) == ("voluntary", "yes", False)
    assert (
        voluntary["shown_text"][0]
        == "Participar es su decisión. Su atención médica habitual seguirá igual si dice que no."
    )


def test_results_per_point_and_one_escalation_that_lists_what_to_discuss(app: App, clock: SettableClock) -> None:
    patient = _joined(app, "+15550400003")
    _start(app, patient)
    # purpose right; voluntary wrong twice; leaving "not sure" then right; visits wrong twice; rest right.
    _answer(app, clock, patient, ["yes", "no", "yes", "yes", "not sure", "yes", "yes", "1 year", "2 weeks"])
    replies = _answer(app, clock, patient, ["2", "no", "study team"])
    assert replies[-1].startswith("Thank you. The study team will go over the consent form with you")

    completed = _entries(app, patient, "consent_check_completed")
    assert len(completed) == 1
    assert completed[0].new == {
        "form_version": CURRENT,
        "results": {
            "purpose": "understood_first_time", "voluntary": "needs_discussion",
            "leaving": "understood_after_explaining", "risks": "understood_first_time",
            "visits": "needs_discussion", "costs": "understood_first_time", "privacy": "understood_first_time",
            "contact": "understood_first_time",
        },
    }  # fmt: skip
    escalations = _escalations(app, patient)
    assert [(e.category, e.severity) for e in escalations] == [("consent_ready", "normal")]
    assert escalations[0].details == {
        "check": "completed", "form_version": CURRENT, "needs_discussion": ["voluntary", "visits"],
        "understood_after_explaining": ["leaving"],
    }  # fmt: skip
    # The bot never records consent: nothing says "consented", only how the check went.
    assert not any("consented" in json.dumps(e.new) for e in _entries(app, patient, "consent_check_completed"))


def test_asking_for_a_person_mid_check_keeps_the_question_and_raises_only_that_request(
    app: App, clock: SettableClock
) -> None:
    patient = _joined(app, "+15550400004")
    _start(app, patient)
    _answer(app, clock, patient, ["yes", "no"])
    turn = patient.send("AGENT")
    assert turn.replies[-1] == "If you say no, will your regular care change?\nReply 1 for Yes, 2 for No."
    assert turn.state == "consent.check"
    assert [e.category for e in _escalations(app, patient)] == ["talk_to_person"]
    _answer(app, clock, patient, ALL_RIGHT[1:])
    assert [e.category for e in _escalations(app, patient)] == ["talk_to_person", "consent_ready"]


def test_not_ready_asks_no_questions_and_still_gets_the_study_team(app: App, clock: SettableClock) -> None:
    patient = _joined(app, "+15550400005")
    _start(app, patient)
    assert _answer(app, clock, patient, ["no"]) == [
        "No problem. The study team will go over the consent form with you and answer your questions."
    ]
    assert _entries(app, patient, "consent_point_answered") == []
    assert [(e.category, e.details) for e in _escalations(app, patient)] == [
        ("consent_ready", {"check": "declined", "form_version": CURRENT})
    ]


def test_unclear_answers_are_asked_again_then_a_person_is_offered(app: App, clock: SettableClock) -> None:
    patient = _joined(app, "+15550400006")
    _start(app, patient)
    _answer(app, clock, patient, ["yes"])
    again = patient.send("purple")
    assert again.replies == [
        "Sorry, I didn't catch that. Do we already know that the study medicine works?\nReply 1 for Yes, 2 for No."
    ]
    patient.send("purple")
    offered = patient.send("purple")
    assert offered.state == "offer_person.offer"
    assert _entries(app, patient, "consent_point_answered") == []


# -- answers by number or label, in either language -------------------------------------------


@pytest.fixture(scope="module")
def parse(core: Core) -> Any:
    """Read a reply to one point's question, as the flow would, in a language."""
    from bot.behaviour.consent import parse_consent_answer

    def read(point_id: str, text: str, locale: str = "en") -> tuple[str | None, Any]:
        study = core.loaded.study
        assert study.consent is not None
        point = next(p for p in study.consent.points if p.id == point_id)
        context = core.conversations.context(locale, datetime(2026, 11, 23, 15, 0, tzinfo=UTC))
        turn = Turn("consent", "check", {"point": point_id, "attempt": 1}, context, locale=locale)
        result = parse_consent_answer(Answer(text, fold(text), point_choices(point), turn))
        return result.outcome, result.value

    return read


@pytest.mark.parametrize(
    ("point", "text", "locale", "expected"),
    [
        ("purpose", "2", "en", ("right", "no")),
        ("purpose", "No", "es", ("right", "no")),
        ("purpose", "sí", "en", ("wrong", "yes")),
        ("purpose", "no sé", "es", ("wrong", "not_sure")),
        ("purpose", "not sure", "en", ("wrong", "not_sure")),
        ("purpose", "purple", "en", (None, None)),
        ("visits", "2", "en", ("right", "twelve_weeks")),
        ("visits", "12 semanas", "en", ("right", "twelve_weeks")),
        ("visits", "12 weeks", "es", ("right", "twelve_weeks")),
        ("visits", "1 año", "es", ("wrong", "one_year")),
        ("visits", "weeks", "en", (None, None)),  # two labels say weeks: ask again
        ("visits", "12", "en", (None, None)),  # not a choice number, not a label
        ("visits", "no sé", "es", ("wrong", "not_sure")),
        ("contact", "study team", "en", ("right", "study_team")),
        ("contact", "the study team please", "en", ("right", "study_team")),
        ("contact", "equipo", "es", ("right", "study_team")),
        ("contact", "a mi farmacia", "es", ("wrong", "pharmacy")),
        ("contact", "3", "es", ("wrong", "no_one")),
    ],
)
def test_answers_by_number_or_label_in_either_language(
    parse: Any, point: str, text: str, locale: str, expected: tuple[str | None, Any]
) -> None:
    assert parse(point, text, locale) == expected


# -- every consent SMS fits (SMS-18/19) ----------------------------------------------------------


def test_every_consent_sms_fits_in_three_segments_and_english_stays_gsm7(core: Core) -> None:
    study = core.loaded.study
    assert study.consent is not None
    messages: dict[str, MessageCreated] = {
        "opener": MessageCreated((Part("consent.intro"),)),
        "ready": MessageCreated((Part("consent.ready"),), (YES, NO), instruction=Part("consent.ready.reply")),
    }
    for key in ("consent.right", "consent.discuss", "consent.done", "consent.later"):
        messages[key] = MessageCreated((Part(key),))
    for point in study.consent.points:
        question: tuple[Part, ...] = (Part(point_key(point.id, "question")),)
        choices: tuple[Choice, ...] = point_choices(point)
        messages[f"{point.id} summary"] = MessageCreated((Part(point_key(point.id, "summary")),))
        messages[f"{point.id} explained"] = MessageCreated(
            (Part("consent.explain_again"), Part(point_key(point.id, "explain")))
        )
        messages[f"{point.id} asked"] = MessageCreated(question, choices)
        messages[f"{point.id} asked again"] = MessageCreated((Part("common.unclear"), *question), choices)
    too_long: list[str] = []
    for locale in study.languages:
        bodies = {k: core.renderer.render(m, locale, ChoiceStyle.NUMBERED).body for k, m in messages.items()}
        # The scheduled first message is the intro and the question in one SMS (bot/planning.py).
        bodies["opener"] = f"{bodies['opener']}\n\n{bodies.pop('ready')}"
        for where, body in bodies.items():
            counted = count_segments(body)
            if counted.segments > 3 or (locale == "en" and counted.encoding != "GSM-7"):
                too_long.append(f"{locale} {where}: {counted.segments} segments ({counted.encoding}): {body!r}")
    assert too_long == []


# -- how the check starts ---------------------------------------------------------------------


def test_started_by_another_flow_it_says_the_intro_and_asks_if_ready(core: Core) -> None:
    """What a final state with `next_flow: consent` (the end of an eligible prescreen) leads to."""
    engine = core.conversations.engine
    context = core.conversations.context("en", datetime(2026, 11, 23, 15, 0, tzinfo=UTC))
    result = engine.start("consent", context)
    said = [e for e in result.events if isinstance(e, MessageCreated)]
    assert [[p.key for p in m.parts] for m in said] == [["consent.intro"], ["consent.ready"]]
    assert engine.waiting(result.snapshot) == ("consent", "intro")
    assert core.flows.flows["consent"].states["intro"].ask is not None  # an opener's first state must ask


def test_a_consent_opener_is_due_now_uncapped_and_waits_a_week(app: App, clock: SettableClock) -> None:
    patient = _joined(app, "+15550400007")
    send_consent_check(app, "sms:+15550400007", "staff:dana")
    with app.database.read() as connection:
        (row,) = Repositories(connection).schedule.for_participant(patient.participant().id)
    assert (row.kind, row.flow, row.purpose, row.capped) == ("consent", "consent", "consent", False)
    assert row.key == f"consent:{patient.participant().id}:20261123T150000"
    assert _utc(row.due_at) == clock.now()
    assert _utc(row.reply_until) == clock.now() + OPENER_REPLY_WINDOW
    (sent,) = _entries(app, patient, "consent_check_sent")
    assert (sent.actor, sent.new) == ("staff:dana", {"form_version": CURRENT})


def test_sending_is_refused_with_a_reason(app: App, clock: SettableClock) -> None:
    with pytest.raises(ConsentError, match="no participant"):
        send_consent_check(app, "sms:+15550499999", "staff:test")
    Patient(app, address="+15550400008").send("Hi")  # first contact, not agreed to texts yet
    with pytest.raises(ConsentError, match="has not agreed to get texts"):
        send_consent_check(app, "sms:+15550400008", "staff:test")
    _joined(app, "+15550400009")
    send_consent_check(app, "sms:+15550400009", "staff:test")
    with pytest.raises(ConsentError, match="already waiting to be sent"):
        send_consent_check(app, "sms:+15550400009", "staff:test")
    build_scheduler(app).sweep()
    Patient(app, address="+15550400009").send("yes")  # ready: the check has started
    with pytest.raises(ConsentError, match="is in a consent check now"):
        send_consent_check(app, "sms:+15550400009", "staff:test")


# -- the report: who answered an older form (CON-12) --------------------------------------------


def test_the_report_lists_who_answered_an_older_version_and_counts_results_for_the_current_one(
    app: App, older: App, clock: SettableClock
) -> None:
    before = _joined(older, "+15550400010")
    _start(older, before)
    _answer(older, clock, before, ["yes", *ALL_RIGHT[:3]])  # part of the old form
    answered_at = clock.now()
    clock.advance(timedelta(days=1))
    now = _joined(app, "+15550400011")
    _start(app, now)
    _answer(app, clock, now, ["yes", "yes", "yes", *ALL_RIGHT[1:]])

    with app.database.read() as connection:
        report = consent_report(connection, app.study.study)
    assert report["form_version"] == CURRENT
    assert report["older_version"] == [
        {"participant": before.participant().code, "form_version": OLDER, "answered_at": answered_at.isoformat()}
    ]
    assert report["checked_current_version"] == 1
    assert report["results"]["purpose"] == {
        "understood_first_time": 0, "understood_after_explaining": 0, "needs_discussion": 1,
    }  # fmt: skip
    assert report["results"]["contact"] == {
        "understood_first_time": 1, "understood_after_explaining": 0, "needs_discussion": 0,
    }  # fmt: skip
    assert list(report["results"]) == [p.id for p in app.study.study.consent.points]  # type: ignore[union-attr]


# -- the commands -------------------------------------------------------------------------------


def cli(database_url: str, *args: str) -> Result:
    result = CliRunner().invoke(main, [*args, "--db", database_url], env=CLEAN_ENV)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_cli_send_and_report(app: App, older: App, clock: SettableClock, database_url: str) -> None:
    before = _joined(older, "+15550400012")
    _start(older, before)
    _answer(older, clock, before, ["yes", "no"])
    code = before.participant().code
    later = _joined(app, "+15550400013")

    sent = cli(database_url, "consent", "send", later.participant().code, "--by", "dana")
    assert sent.exit_code == 0, sent.output
    assert (
        sent.stdout
        == f"{later.participant().code}: consent check planned; `trialbot worker` sends it at its next sweep\n"
    )
    assert [e.actor for e in _entries(app, later, "consent_check_sent")] == ["staff:dana"]

    figures = json.loads(cli(database_url, "report", "consent", "--json").stdout)
    assert figures["older_version"] == [
        {"participant": code, "form_version": OLDER, "answered_at": clock.now().isoformat()}
    ]
    assert figures["checked_current_version"] == 0
    text = cli(database_url, "report", "consent").stdout
    assert f"consent form: {CURRENT}\n" in text
    assert f"  {code}  {OLDER}  last answer {clock.now().isoformat()}\n" in text
    assert "  purpose: understood_first_time 0, understood_after_explaining 0, needs_discussion 0\n" in text

    assert one_error_line(cli(database_url, "consent", "send", "P-NOBODY")).startswith("trialbot: no participant")
    assert "already waiting" in one_error_line(cli(database_url, "consent", "send", later.participant().code))
