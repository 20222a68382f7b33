"""Consent comprehension by teach-back (PL-05, CON-04..07): the study's key points, one at a time.

For each point of the study's `consent.points`, in order: say its summary and ask its check question.
Right first time is "understood_first_time". A wrong answer (or "not sure") gets the point explained
again and the same question once more: right then is "understood_after_explaining", wrong again is
"needs_discussion", and the check goes on (CON-05: a tool, never a gate). Every attempt is recorded
with the exact text the patient saw (CON-08). The bot never records consent: the check ends with one
escalation so the study team goes over the form with the person and completes it (CON-06/07).

The flow's shape is in flows/consent.yaml; the text of the points is the study's own (bot/study.py).
"""

from __future__ import annotations

from bot.behaviour.parsers import MAX_ANSWER_CHARS, NO, UNCLEAR, YES, read_choice, read_yes_no
from bot.domain import Choice, ConsentCheckCompleted, ConsentPointAnswered, MessageCreated, Part, StaffRequested
from bot.engine.registry import REGISTRY, Answer, ParseResult, Prompt, Turn
from bot.study import ConsentPoint
from bot.text import fold

FIRST_TIME = "understood_first_time"
AFTER_EXPLAINING = "understood_after_explaining"
NEEDS_DISCUSSION = "needs_discussion"
RESULTS = (FIRST_TIME, AFTER_EXPLAINING, NEEDS_DISCUSSION)
RIGHT, WRONG = "right", "wrong"
NOT_SURE = "not_sure"
EXPLAIN_AGAIN = "consent.explain_again"
ESCALATION = "consent_ready"

REGISTRY.uses(EXPLAIN_AGAIN)


def point_key(point_id: str, part: str) -> str:
    """The message id of a point's text: summary, question, explain, or a choice id."""
    return f"study.consent.{point_id}.{part}"


def point_choices(point: ConsentPoint) -> tuple[Choice, ...]:
    """The answers offered: the point's own choices, or Yes and No."""
    if not point.choices:
        return (YES, NO)
    return tuple(Choice(c.id, point_key(point.id, c.id)) for c in point.choices)


def _points(turn: Turn) -> tuple[ConsentPoint, ...]:
    consent = turn.context.study.consent
    return consent.points if consent is not None else ()


def _current(turn: Turn) -> ConsentPoint:
    point_id = str(turn.data["point"])
    for point in _points(turn):
        if point.id == point_id:
            return point
    raise KeyError(f"consent point {point_id!r} is not in the study")


def point_ids(turn: Turn) -> set[str]:
    """The ids of the study's consent points."""
    return {p.id for p in _points(turn)}


def _form_version(turn: Turn) -> str:
    consent = turn.context.study.consent
    return consent.form_version if consent is not None else ""


@REGISTRY.guard("consent_check_available")
def consent_check_available(turn: Turn) -> bool:
    """True when the study has consent points to check (a flow hands over to the check only then)."""
    return bool(_points(turn))


@REGISTRY.action("start_consent")
def start_consent(turn: Turn) -> None:
    """Set up the check. The form version is kept from here, so every answer names the one it began with."""
    turn.data.update(form_version=_form_version(turn), index=-1, point=None, attempt=0, results={}, shown=[])


@REGISTRY.action("select_next_point")
def select_next_point(turn: Turn) -> None:
    """Move to the next key point, or to none when all are checked."""
    points = _points(turn)
    index = int(turn.data["index"]) + 1
    turn.data["index"] = index
    turn.data["point"] = points[index].id if index < len(points) else None
    turn.data["attempt"] = 0


@REGISTRY.guard("has_consent_point")
def has_consent_point(turn: Turn) -> bool:
    """True while a key point is left to check."""
    return turn.data.get("point") is not None


def _say(turn: Turn, parts: tuple[Part, ...], attempt: int) -> None:
    # The study's text cannot be a `say:` in the flow file, so it is said from here; its ids are kept
    # so the answer's audit entry can hold the exact words shown.
    turn.data["attempt"] = attempt
    turn.data["shown"] = [p.key for p in parts]
    turn.emit(MessageCreated(parts))


@REGISTRY.action("say_consent_summary")
def say_consent_summary(turn: Turn) -> None:
    """Say the current point in one plain sentence: the first attempt begins."""
    _say(turn, (Part(point_key(_current(turn).id, "summary")),), 1)


@REGISTRY.action("explain_consent_point")
def explain_consent_point(turn: Turn) -> None:
    """After a wrong answer, say the point again more simply: the second attempt begins."""
    _say(turn, (Part(EXPLAIN_AGAIN), Part(point_key(_current(turn).id, "explain"))), 2)


@REGISTRY.prompt("consent_question")
def consent_question(turn: Turn) -> Prompt:
    """The current point's check question with its answers."""
    point = _current(turn)
    return Prompt((Part(point_key(point.id, "question")),), point_choices(point))


def _read_label_words(answer: Answer) -> Choice | None:
    """The one choice whose label holds every word of the reply: "study team" for "The study team"."""
    fillers = answer.turn.context.vocabulary.fillers
    words = {w for w in answer.folded.split() if w not in fillers}
    if not words or all(w.isdecimal() for w in words):
        return None  # a bare number is a choice's number or nothing, as in read_choice
    holders = [
        c
        for c in answer.choices
        if any(words <= set(fold(t).split()) for t in answer.turn.context.label_texts(c.label))
    ]
    return holders[0] if len(holders) == 1 else None


@REGISTRY.parser("consent_answer", outcomes=frozenset({RIGHT, WRONG}))
def parse_consent_answer(answer: Answer) -> ParseResult:
    """Right or wrong against the point's answer, by number or label in any language.

    "Not sure" is not offered, but typed it counts as not understood: explaining again helps more
    than "Sorry, I didn't catch that".
    """
    if len(answer.text) > MAX_ANSWER_CHARS:
        return UNCLEAR
    point = _current(answer.turn)
    value: str | None
    if point.choices:
        if read_yes_no(answer, (NOT_SURE,)) == NOT_SURE:
            value = NOT_SURE
        else:
            choice = read_choice(answer) or _read_label_words(answer)
            value = choice.value if choice is not None else None
    else:
        value = read_yes_no(answer, ("yes", "no", NOT_SURE))
    if value is None:
        return UNCLEAR
    return ParseResult(RIGHT if value == point.answer else WRONG, value)


@REGISTRY.guard("consent_first_attempt")
def consent_first_attempt(turn: Turn) -> bool:
    """True before the point has been explained again."""
    return int(turn.data.get("attempt", 1)) < 2


@REGISTRY.action("record_consent_answer")
def record_consent_answer(turn: Turn) -> None:
    """Keep the attempt with what was shown; settle the point unless it is a first wrong answer."""
    point = _current(turn)
    attempt = int(turn.data["attempt"])
    correct = turn.answer == point.answer
    result: str | None
    if correct:
        result = FIRST_TIME if attempt < 2 else AFTER_EXPLAINING
    else:
        result = NEEDS_DISCUSSION if attempt >= 2 else None
    if result is not None:
        turn.data["results"][point.id] = result
    asked = consent_question(turn)
    shown = (*turn.data.get("shown", []), *(p.key for p in asked.parts), *(c.label for c in asked.choices))
    version = str(turn.data.get("form_version") or _form_version(turn))
    turn.emit(ConsentPointAnswered(version, point.id, attempt, str(turn.answer), correct, result, tuple(shown)))


@REGISTRY.action("complete_consent")
def complete_consent(turn: Turn) -> None:
    """Keep every point's result, and ask the study team to go over the form with the person: once."""
    version = str(turn.data.get("form_version") or _form_version(turn))
    saved = {str(k): str(v) for k, v in dict(turn.data.get("results", {})).items()}
    # In the form's order: the stored data may come back with its keys reordered (JSONB sorts them).
    order = [p.id for p in _points(turn) if p.id in saved] + sorted(k for k in saved if k not in point_ids(turn))
    results = {point: saved[point] for point in order}
    turn.emit(ConsentCheckCompleted(version, results))
    details = {
        "check": "completed",
        "form_version": version,
        "needs_discussion": [p for p, r in results.items() if r == NEEDS_DISCUSSION],
        "understood_after_explaining": [p for p, r in results.items() if r == AFTER_EXPLAINING],
    }
    turn.emit(StaffRequested(ESCALATION, details=details))


@REGISTRY.action("consent_check_declined")
def consent_check_declined(turn: Turn) -> None:
    """Not now: the study team still goes over the whole form with the person (the check is only a tool)."""
    turn.emit(StaffRequested(ESCALATION, details={"check": "declined", "form_version": _form_version(turn)}))
