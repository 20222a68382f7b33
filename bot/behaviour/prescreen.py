"""Prescreen behaviour: ask the study's questions in order and decide an outcome (PS-01..04).

The flow's shape is in flows/prescreen.yaml; the questions and their criteria come from the study.
A hard fail stops the questions; "not sure" never fails anyone, it sends the answers to staff review.
"""

from __future__ import annotations

from datetime import date

from bot.behaviour.parsers import NO, NOT_SURE, UNCLEAR, YES, number_hint, read_choice, read_date, read_number
from bot.behaviour.parsers import read_yes_no as _read_yes_no
from bot.domain import AnswerRecorded, Choice, Part, PreferenceRecorded, PrescreenCompleted, RecontactRecorded
from bot.engine.registry import REGISTRY, Answer, ParseResult, Prompt, Turn
from bot.study import DateRule, Question

ELIGIBLE, INELIGIBLE, REVIEW = "eligible", "ineligible", "review"
FLOW = "prescreen"

REGISTRY.uses("common.hint.number", "common.hint.date", "common.hint.past_date")


def question_key(question: Question) -> str:
    """The message id of a study question."""
    return f"study.{question.id}"


def option_key(question: Question, option_id: str) -> str:
    """The message id of a choice question's option."""
    return f"study.{question.id}.{option_id}"


def _current(turn: Turn) -> Question:
    return turn.context.study.question(str(turn.data["question"]))


def question_choices(question: Question) -> tuple[Choice, ...]:
    """The choices offered for a question; every question allows "not sure" (PS-02)."""
    if question.type == "yes_no":
        return (YES, NO, NOT_SURE)
    if question.type == "choice":
        return (*(Choice(o.id, option_key(question, o.id)) for o in question.options), NOT_SURE)
    return ()


@REGISTRY.action("start_prescreen")
def start_prescreen(turn: Turn) -> None:
    """Set up the prescreen's data: no answers yet, and how many questions there are."""
    turn.data.update(
        question_count=len(turn.context.study.prescreen.questions), index=-1, question=None,
        answers={}, fails=[], review=[],
    )  # fmt: skip


@REGISTRY.action("select_next_question")
def select_next_question(turn: Turn) -> None:
    """Move to the next question, or to none when all are answered."""
    questions = turn.context.study.prescreen.questions
    index = int(turn.data["index"]) + 1
    turn.data["index"] = index
    turn.data["question"] = questions[index].id if index < len(questions) else None


@REGISTRY.guard("has_question")
def has_question(turn: Turn) -> bool:
    """True while a question is left to ask."""
    return turn.data.get("question") is not None


@REGISTRY.prompt("prescreen_question")
def prescreen_question(turn: Turn) -> Prompt:
    """The current study question with its choices."""
    question = _current(turn)
    return Prompt((Part(question_key(question)),), question_choices(question))


def _date_result(rule: DateRule, first: date, last: date, today: date) -> str:
    def passes(day: date) -> bool:
        age = (today - day).days
        if rule.at_least_days_ago is not None and age < rule.at_least_days_ago:
            return False
        return not (rule.at_most_days_ago is not None and age > rule.at_most_days_ago)

    verdicts = {passes(first), passes(last)}
    if verdicts == {True}:
        return ELIGIBLE
    if verdicts == {False}:
        return INELIGIBLE
    return REVIEW  # "March 2026" when the cut-off falls inside March: a person should ask


def _date_hint(locale: str) -> Part:
    example, month_example = ("3/15/2024", "3/2024") if locale == "en" else ("15/3/2024", "3/2024")
    return Part("common.hint.date", {"example": example, "month_example": month_example})


def evaluate(question: Question, answer: Answer) -> ParseResult:
    """Read an answer to a study question and say whether it is eligible, ineligible or for review."""
    unsure = _read_yes_no(answer, ("not_sure",)) == "not_sure"
    if question.type == "yes_no":
        value = _read_yes_no(answer, ("yes", "no", "not_sure"))
        if value is None:
            return UNCLEAR
        if value == "not_sure":
            return ParseResult(REVIEW, value)
        return ParseResult(ELIGIBLE if value == question.eligible_answer else INELIGIBLE, value)
    if unsure:
        return ParseResult(REVIEW, "not_sure")
    if question.type == "choice":
        choice = read_choice(answer)
        if choice is None:
            return UNCLEAR
        if choice.value == "not_sure":
            return ParseResult(REVIEW, "not_sure")
        option = next(o for o in question.options if o.id == choice.value)
        return ParseResult(option.result, option.id)
    if question.type == "number":
        assert question.accept is not None
        assert question.eligible_range is not None
        number = read_number(answer)
        hint = number_hint(question.accept.min, question.accept.max)
        if number is None or number not in question.accept:
            return ParseResult(None, hint=hint)
        return ParseResult(ELIGIBLE if number in question.eligible_range else INELIGIBLE, number)
    assert question.eligible_dates is not None
    read = read_date(answer)
    if read is None:
        return ParseResult(None, hint=_date_hint(answer.turn.locale))
    text, first, last = read
    today = answer.turn.context.today
    if first > today:
        return ParseResult(None, hint=Part("common.hint.past_date"))
    if today.year - first.year > 120:
        return ParseResult(None, hint=_date_hint(answer.turn.locale))
    return ParseResult(_date_result(question.eligible_dates, first, min(last, today), today), text)


@REGISTRY.parser("prescreen_answer", outcomes=frozenset({ELIGIBLE, INELIGIBLE, REVIEW}))
def parse_prescreen_answer(answer: Answer) -> ParseResult:
    """An answer to the current study question, judged against its criterion."""
    if len(answer.text) > 200:
        return UNCLEAR
    return evaluate(_current(answer.turn), answer)


@REGISTRY.action("record_answer")
def record_answer(turn: Turn) -> None:
    """Keep the answer in the conversation and the audit trail."""
    question = _current(turn)
    turn.data["answers"][question.id] = turn.answer
    turn.emit(AnswerRecorded(FLOW, question.id, turn.answer))


@REGISTRY.action("record_screen_fail")
def record_screen_fail(turn: Turn) -> None:
    """Note the criterion the answer failed; the patient never sees it (CONVERSATION-STYLE rule 9)."""
    turn.data["fails"].append(_current(turn).criterion)


@REGISTRY.action("flag_for_review")
def flag_for_review(turn: Turn) -> None:
    """Note a criterion a person must look at."""
    turn.data["review"].append(_current(turn).criterion)


@REGISTRY.action("complete_prescreen")
def complete_prescreen(turn: Turn) -> None:
    """Decide the outcome: any hard fail is ineligible; otherwise any doubt needs review."""
    fails, review = list(turn.data["fails"]), list(turn.data["review"])
    outcome = "ineligible" if fails else "needs_review" if review else "eligible"
    turn.data["outcome"] = outcome
    turn.emit(PrescreenCompleted(outcome, tuple(fails), tuple(review), dict(turn.data["answers"])))


@REGISTRY.guard("prescreen_eligible")
def prescreen_eligible(turn: Turn) -> bool:
    """True when every answer passed."""
    return turn.data.get("outcome") == "eligible"


@REGISTRY.guard("prescreen_needs_review")
def prescreen_needs_review(turn: Turn) -> bool:
    """True when no answer failed but some need a person."""
    return turn.data.get("outcome") == "needs_review"


@REGISTRY.action("record_call_time")
def record_call_time(turn: Turn) -> None:
    """Keep the best time to call."""
    turn.data["best_time_to_call"] = turn.answer
    turn.emit(PreferenceRecorded("best_time_to_call", turn.answer))


@REGISTRY.action("record_recontact")
def record_recontact(turn: Turn) -> None:
    """Keep the answer to the separate, scoped re-contact question (PRIV-14)."""
    granted = turn.answer == "yes"
    turn.data["recontact"] = granted
    turn.emit(RecontactRecorded(granted, turn.context.study.prescreen.recontact_scope))
