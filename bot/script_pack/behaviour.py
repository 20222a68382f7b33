"""The messages that trialbot's Python code sends for a flow (prompts, actions, hints) or outside any flow.

Flow files say most of what a state sends; registered prompts and actions add the study's own text
(prescreen questions, consent points, site names) and composed messages (reminders, the travel
summary). This table says which messages each of them sends, so the script pack can place them. A
message it does not know is still listed, under its own flow, as "sent by the flow's code".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.behaviour.consent import point_choices, point_key
from bot.behaviour.parsers import NO, YES
from bot.behaviour.prescreen import question_choices, question_key
from bot.bootstrap import Core
from bot.domain import Choice, MessageCreated, Part

VISIT_TYPES = ("on_site", "telehealth", "home", "phone")
SUMMARY_LINES = {
    "people": ("none", "one", "one_caregiver", "many", "many_caregiver"),
    "nights": ("none", "one", "many"),
    "help": ("none", "wheelchair", "oxygen", "other"),
}
EXAMPLE_VISITS = (datetime(2026, 12, 2, 9, 30), datetime(2026, 12, 9, 14, 0))  # in the study's time zone


@dataclass(frozen=True, slots=True)
class Sends:
    """A message a prompt or action sends, its role, and (for a question) the whole SMS it goes out in."""

    key: str
    role: str
    sent: MessageCreated | None = None
    sent_title: str = ""


Handler = Callable[[Core], Iterator[Sends]]


def example_when(core: Core, index: int = 0) -> str:
    """An example visit time (ISO, in the study's time zone), as the planner stores one."""
    return EXAMPLE_VISITS[index].replace(tzinfo=ZoneInfo(core.loaded.study.timezone)).isoformat()


def _labels(choices: tuple[Choice, ...]) -> Iterator[Sends]:
    for choice in choices:
        yield Sends(choice.label, "choice label")


def _question(key: str, choices: tuple[Choice, ...], role: str = "ask") -> Iterator[Sends]:
    yield Sends(key, role, MessageCreated((Part(key),), choices), "The question as sent by SMS")
    yield from _labels(choices)


def _prescreen_question(core: Core) -> Iterator[Sends]:
    for question in core.loaded.study.prescreen.questions:
        yield from _question(question_key(question), question_choices(question), f"ask ({question.criterion})")
        if question.type == "number":
            yield Sends("common.hint.number", "hint")
        if question.type == "date":
            yield Sends("common.hint.date", "hint")
            yield Sends("common.hint.past_date", "hint")


def _points(core: Core) -> tuple[str, ...]:
    consent = core.loaded.study.consent
    return tuple(p.id for p in consent.points) if consent is not None else ()


def _consent_question(core: Core) -> Iterator[Sends]:
    consent = core.loaded.study.consent
    for point in consent.points if consent is not None else ():
        yield from _question(point_key(point.id, "question"), point_choices(point))


def _consent_summary(core: Core) -> Iterator[Sends]:
    for point in _points(core):
        yield Sends(point_key(point, "summary"), "say")


def _consent_explain(core: Core) -> Iterator[Sends]:
    yield Sends("consent.explain_again", "say")
    for point in _points(core):
        yield Sends(point_key(point, "explain"), "say")


def visit_data(core: Core, kind: str, visit_type: str) -> dict[str, object]:
    """Example data of a scheduled visit message, as the planner stores it."""
    sites = core.loaded.study.sites
    site = f"study.site.{sites[0].id}" if visit_type == "on_site" and sites else None
    return {"visit_id": 1, "kind": kind, "visit_type": visit_type, "when": example_when(core), "site": site}


def _visit_reminder(core: Core) -> Iterator[Sends]:
    for kind, what in (("booking", "booking note"), ("reminder", "reminder")):
        for visit_type in VISIT_TYPES:
            yield Sends(f"visit_reminder.{kind}.{visit_type}", f"ask (scheduled {what}, {visit_type} visit)")
    for site in core.loaded.study.sites:
        yield Sends(f"study.site.{site.id}", "value of {site}")
    yield Sends("common.when", "value of {when}")


def _missed_visit(core: Core) -> Iterator[Sends]:
    yield Sends("missed_visit.missed", "ask (scheduled after a missed visit)")
    yield Sends("missed_visit.question", "ask (scheduled after a missed visit)")


def _language_menu(core: Core) -> Iterator[Sends]:
    choices = tuple(Choice(lang, f"common.language.{lang}") for lang in core.loaded.study.languages)
    yield from _question("language.choose", choices)


def _travel_which_visit(core: Core) -> Iterator[Sends]:
    choices = tuple(
        Choice(str(n + 1), "travel.visit", params={"when": {"datetime": example_when(core, n)}})
        for n in range(len(EXAMPLE_VISITS))
    )
    yield Sends("travel.which_visit", "ask", MessageCreated((Part("travel.which_visit"),), choices), "As sent by SMS")
    yield Sends("travel.visit", "choice label")


def _travel_caregiver(core: Core) -> Iterator[Sends]:
    yield from _question("travel.caregiver.one", (YES, NO))
    yield from _question("travel.caregiver.many", (YES, NO))


def _travel_summary(core: Core) -> Iterator[Sends]:
    example = MessageCreated(
        (Part("travel.summary.round_trip", {"mode": {"message": "travel.summary.mode.transit"}}),
         Part("travel.summary.people.one_caregiver"), Part("travel.summary.nights.none"),
         Part("travel.summary.help.wheelchair"), Part("travel.summary.question")),
        (YES, NO),
    )  # fmt: skip
    yield Sends("travel.summary.round_trip", "ask (summary)", example, "An example summary as sent by SMS")
    yield Sends("travel.summary.one_way", "ask (summary)")
    for mode in ("own_car", "taxi", "transit", "plane"):
        yield Sends(f"travel.summary.mode.{mode}", "value of {mode}")
    for group, names in SUMMARY_LINES.items():
        for name in names:
            yield Sends(f"travel.summary.{group}.{name}", "ask (summary)")
    yield Sends("travel.summary.question", "ask (summary)")
    yield from _labels((YES, NO))


PROMPTS: dict[str, Handler] = {
    "prescreen_question": _prescreen_question,
    "consent_question": _consent_question,
    "visit_reminder": _visit_reminder,
    "missed_visit": _missed_visit,
    "language_menu": _language_menu,
    "travel_which_visit": _travel_which_visit,
    "travel_caregiver": _travel_caregiver,
    "travel_summary": _travel_summary,
}
ACTIONS: dict[str, Handler] = {
    "say_consent_summary": _consent_summary,
    "explain_consent_point": _consent_explain,
}
PARSER_HINTS: dict[str, tuple[str, ...]] = {
    "scale_1_to_5": ("common.hint.number",),
    "count_1_to_4": ("common.hint.number",),
    "count_1_to_14": ("common.hint.number",),
    "postal_code": ("travel.hint.postal_code",),
    "first_name": ("settings.first_name.hint",),
}
SCHEDULED_FLOWS = {"visit_reminder": "reminder", "missed_visit": "missed visit", "checkin": "check-in"}
"""Flows whose first question the scheduler sends (bot/planning.py); their opener is shown as sent."""

ELSEWHERE: dict[str, tuple[str, str]] = {
    "common.unclear": ("every question", "an unclear answer: said before the question (or a hint) again"),
    "common.choices.reply": ("every question with choices", "SMS: the numbered choices"),
    "common.choices.option": ("every question with choices", "SMS: one numbered choice"),
    "common.help": ("HELP / AYUDA at any time", "keyword reply"),
    "common.stopped": ("STOP at any time", "keyword reply (the only message after STOP)"),
    "common.started": ("START after STOP", "keyword reply"),
    "common.person": ("AGENT (talk to a person) at any time", "keyword reply"),
    "common.leave_study": ("'I want to leave the study' at any time", "keyword reply"),
    "common.language_changed": ("a language keyword (ENGLISH, ESPAÑOL) at any time", "keyword reply"),
    "common.idle": ("a message when no question is waiting", "reply"),
    "common.media": ("a picture or file", "reply"),
    "common.edited": ("an edited message (Telegram)", "reply"),
    "common.forwarded": ("a forwarded message (Telegram)", "reply"),
    "common.stale_button": ("a button of an earlier question (Telegram)", "reply"),
    "common.nudge": ("a question left unanswered for a day", "scheduled nudge, before the question"),
    "common.crisis": ("safety check on every message: crisis words", "safety reply"),
    "common.adverse_event": ("safety check on every message: a possible adverse event", "safety reply"),
    "common.red_flag": ("safety check on every message: red-flag symptoms", "safety reply"),
    "common.staff_reply": ("trialbot escalation reply (staff)", "staff message"),
    "common.greeting": ("scheduled messages, with permission to use the first name", "greeting"),
    "common.hours.days": ("{contact_hours}", "value"),
    "common.hours.week": ("{contact_hours}", "value"),
}
"""Messages sent outside the flows' states (bot/conversation.py, the scheduler, staff commands)."""

ELSEWHERE_PREFIXES: dict[str, tuple[str, str]] = {
    "travel.status.": ("trialbot travel update (staff)", "status message"),
}


def scheduled_examples(core: Core) -> Iterator[tuple[str, str, dict[str, object]]]:
    """(flow, what it is, example data) of each kind of message the scheduler sends to open a flow."""
    for kind, what in (("booking", "booking note"), ("reminder", "reminder")):
        for visit_type in VISIT_TYPES:
            yield "visit_reminder", f"{what}, {visit_type} visit", visit_data(core, kind, visit_type)
    yield "missed_visit", "after a missed visit", {"visit_id": 1, "when": example_when(core)}
    checkins = core.loaded.study.checkins
    yield (
        "checkin",
        "check-in",
        {"checkin": checkins[0].id if checkins else "weekly", "planned_for": example_when(core)},
    )
