"""Visit behaviour: the reminder's question, confirming, asking staff for help, the missed-visit note.

A reminder's data (set by the scheduler when it planned it) holds the visit id, whether it is a
booking note or a reminder, the visit type, the site's message id and the time. The time is
formatted in the participant's zone and language when the message is rendered.
"""

from __future__ import annotations

from bot.behaviour.parsers import UNCLEAR, read_number
from bot.domain import CheckinAnswered, CheckinCompleted, Part, StaffRequested, VisitConfirmed
from bot.engine.registry import REGISTRY, Answer, ParseResult, Prompt, Turn
from bot.text import fold

MAX_FREE_TEXT = 500

REGISTRY.uses(
    *(f"visit_reminder.{kind}.{visit_type}" for kind in ("booking", "reminder")
      for visit_type in ("on_site", "telehealth", "home", "phone")),
    "missed_visit.missed", "missed_visit.question",
)  # fmt: skip


def visit_part(data: dict[str, object]) -> Part:
    """The sentence that names the visit: where (a site's message) and when (formatted when rendered)."""
    kind = "booking" if data.get("kind") == "booking" else "reminder"
    key = f"visit_reminder.{kind}.{data.get('visit_type', 'on_site')}"
    params: dict[str, object] = {"when": {"datetime": data["when"]}}
    if data.get("site"):
        params["site"] = {"message": data["site"]}
    return Part(key, params)


@REGISTRY.prompt("visit_reminder")
def visit_reminder_prompt(turn: Turn) -> Prompt:
    """A booking note or a reminder for the visit in the flow's data."""
    return Prompt((visit_part(turn.data),))


@REGISTRY.prompt("missed_visit")
def missed_visit_prompt(turn: Turn) -> Prompt:
    """We missed you at your visit on <day>; would you like help to find a new time?"""
    return Prompt((Part("missed_visit.missed", {"day": {"day": turn.data["when"]}}), Part("missed_visit.question")))


@REGISTRY.action("confirm_visit")
def confirm_visit(turn: Turn) -> None:
    """The patient confirmed the visit."""
    turn.emit(VisitConfirmed(int(str(turn.data["visit_id"]))))


@REGISTRY.action("request_visit_help", takes_argument=True)
def request_visit_help(turn: Turn, category: str) -> None:
    """Ask staff to follow up about this visit; a free-text answer (preferred times) goes with it."""
    details: dict[str, object] = {"visit_id": turn.data.get("visit_id")}
    if category == "reschedule" and turn.state == "preferred_times" and isinstance(turn.answer, str):
        details["preferred_times"] = turn.answer
    turn.emit(StaffRequested(category, details=details))


@REGISTRY.parser("free_text", outcomes=frozenset({"answered"}))
def parse_free_text(answer: Answer) -> ParseResult:
    """Any words at all (kept, up to 500 characters, for a person to read)."""
    text = " ".join(answer.text.split())
    if not fold(text):
        return UNCLEAR
    return ParseResult("answered", text[:MAX_FREE_TEXT])


@REGISTRY.parser("scale_1_to_5", outcomes=frozenset({"answered"}))
def parse_scale_1_to_5(answer: Answer) -> ParseResult:
    """A whole number from 1 to 5."""
    if len(answer.text) > 200:
        return UNCLEAR
    number = read_number(answer)
    if isinstance(number, int) and 1 <= number <= 5:
        return ParseResult("answered", number)
    return ParseResult(None, hint=Part("common.hint.number", {"min": 1, "max": 5}))


@REGISTRY.action("record_checkin", takes_argument=True)
def record_checkin(turn: Turn, question: str) -> None:
    """Keep a check-in answer."""
    turn.data[question] = turn.answer
    turn.emit(CheckinAnswered(question, turn.answer))


# -- check-ins --------------------------------------------------------------------------------

# Which flags need a person how soon, most serious first; the escalation is named after the most
# serious flag and takes the highest severity (SAF-01/03).
CHECKIN_FLAGS = {
    "er_or_hospital": "high", "severe_problems": "high", "new_problems": "high",
    "low_wellbeing": "normal", "medicine_not_as_told": "normal", "note": "normal",
}  # fmt: skip
_SEVERITY_ORDER = ("urgent", "high", "normal")
_NOTHING = frozenset(
    {"nothing", "nada", "none", "no nothing", "no thanks", "no gracias", "nope", "no", "n", "nothing else"}
)


@REGISTRY.guard("low_wellbeing")
def low_wellbeing(turn: Turn) -> bool:
    """True when the wellbeing score is at or below the study's threshold."""
    return isinstance(turn.answer, int) and turn.answer <= turn.context.study.checkin_thresholds.wellbeing_at_most


@REGISTRY.action("flag_checkin", takes_argument=True)
def flag_checkin(turn: Turn, flag: str) -> None:
    """Note an answer that needs the study team; one escalation is raised when the check-in ends."""
    flags = list(turn.data.get("flags", []))
    if flag not in flags:
        flags.append(flag)
    turn.data["flags"] = flags


@REGISTRY.guard("checkin_flagged")
def checkin_flagged(turn: Turn) -> bool:
    """True when some answer needs the study team."""
    return bool(turn.data.get("flags"))


@REGISTRY.action("complete_checkin")
def complete_checkin(turn: Turn) -> None:
    """Keep the whole check-in for reporting, and raise one escalation for what needs a person."""
    answers = {k: v for k, v in turn.data.items() if k not in ("flags",)}
    flags = [str(f) for f in turn.data.get("flags", [])]
    turn.emit(CheckinCompleted(answers, tuple(flags)))
    if flags:
        severity = min((CHECKIN_FLAGS.get(f, "normal") for f in flags), key=_SEVERITY_ORDER.index)
        primary = next((f for f in CHECKIN_FLAGS if f in flags), flags[0])
        turn.emit(StaffRequested(f"checkin_{primary}", severity, details={"flags": flags}))


@REGISTRY.parser("anything_else", outcomes=frozenset({"nothing", "told"}))
def parse_anything_else(answer: Answer) -> ParseResult:
    """ "No" or "nothing" means nothing more; any other words are kept for the study team."""
    text = " ".join(answer.text.split())
    if not fold(text):
        return UNCLEAR
    if fold(text) in _NOTHING:
        return ParseResult("nothing", None)
    return ParseResult("told", text[:MAX_FREE_TEXT])
