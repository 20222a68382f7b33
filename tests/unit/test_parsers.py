"""Answer parsers (bot.behaviour.parsers) and prescreen judging (bot.behaviour.prescreen.evaluate), with
the demo study and the shipped English and Spanish texts. RELIABILITY §5 items 8-12 and 39-42, and
§6 T5 (parsers never raise; they return a value inside the declared bounds or "unclear")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.behaviour.parsers import (
    NO,
    NOT_SURE,
    YES,
    read_choice,
    read_date,
    read_number,
    read_yes_no,
)
from bot.behaviour.prescreen import ELIGIBLE, INELIGIBLE, REVIEW, evaluate, question_choices
from bot.bootstrap import Core
from bot.domain import Choice, Part
from bot.engine.registry import REGISTRY, Answer, ParseResult, Turn
from bot.text import fold

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # a Monday; the 180-day cut-off is 2026-05-27
TODAY = NOW.date()
ALL = ("yes", "no", "not_sure")
YES_NO = (YES, NO)
YES_NO_UNSURE = (YES, NO, NOT_SURE)
BEST_TIME = tuple(
    Choice(value, f"prescreen.best_time.{value}") for value in ("morning", "afternoon", "evening", "any_time")
)
TRAVEL = (
    Choice("under_30", "study.travel.under_30"),  # "Less than 30 minutes" / "Menos de 30 minutos"
    Choice("under_60", "study.travel.under_60"),  # "30 to 60 minutes" / "De 30 a 60 minutos"
    Choice("over_60", "study.travel.over_60"),  # "More than 1 hour" / "Más de 1 hora"
    NOT_SURE,  # "Not sure" / "No sé"
)
CONSENT_VISITS = tuple(Choice(v, f"study.consent.visits.{v}") for v in ("two_weeks", "twelve_weeks", "one_year"))
FAST = settings(max_examples=200, deadline=None)


def make_answer(
    core: Core,
    text: str,
    *,
    choices: Sequence[Choice] = (),
    locale: str = "en",
    question: str | None = None,
) -> Answer:
    """An answer as the engine builds it (see bot.engine.runner), on the demo study at NOW."""
    turn = Turn(
        flow="prescreen",
        state="question",
        data={"question": question, "point": question},  # the prescreen reads `question`; the consent check, `point`
        context=core.conversations.context(locale, NOW),
        locale=locale,
    )
    return Answer(text=text, folded=fold(text[:1000]), choices=tuple(choices), turn=turn)


def test_choice_tables_match_the_flows(core: Core) -> None:
    """BEST_TIME and TRAVEL above are what the prescreen flow and the demo study really offer."""
    ask = core.flows.flows["prescreen"].states["best_time"].ask
    assert ask is not None
    assert tuple(Choice(c.id, f"{ask.id}.{c.id}") for c in ask.choices) == BEST_TIME
    assert question_choices(core.conversations.study.question("travel")) == TRAVEL
    assert core.translator.texts("study.travel.over_60") == ("More than 1 hour", "Más de 1 hora")


# ---------------------------------------------------------------------------------------------
# Yes / no / not sure (§5 #8, #42)
# ---------------------------------------------------------------------------------------------

YES_NO_UNSURE_CASES = [
    ("y", "yes"),
    ("ye", "yes"),
    ("yeah", "yes"),
    ("yep", "yes"),
    ("Yes!", "yes"),
    (" YES ", "yes"),
    ("YES!!!", "yes"),
    ("yesss", "yes"),
    ("yes please", "yes"),
    ("yeah I think so", "yes"),
    ("Yes, but…", "yes"),  # debatable: a leading yes with nothing that contradicts it
    ("sí", "yes"),
    ("si", "yes"),
    ("SÍ", "yes"),
    ("Sí, claro", "yes"),
    ("claro que sí", "yes"),
    ("oui", "yes"),
    ("sure", "yes"),  # not the "Not sure" choice
    ("Sure!", "yes"),
    ("ok", "yes"),  # "ok" is also a politeness word; alone it is a yes
    ("OK!", "yes"),
    ("ok thanks", "yes"),
    ("okay", "yes"),
    ("1", "yes"),  # the number of an offered choice
    ("１", "yes"),
    ("👍", "yes"),  # §5 #8
    ("👍🏽", "yes"),  # skin tones do not matter
    ("👍👍", "yes"),
    ("✔️", "yes"),
    ("✅", "yes"),
    ("🙂", "yes"),  # debatable: a smile is in the shipped yes emoji
    ("n", "no"),
    ("N", "no"),
    ("no", "no"),
    ("NO!!", "no"),
    ("noo", "no"),
    ("nope", "no"),
    ("nah", "no"),
    ("no way", "no"),
    ("no, never", "no"),
    ("no thanks", "no"),
    ("Nunca", "no"),
    ("2", "no"),
    ("👎", "no"),
    ("👎🏻", "no"),
    ("not sure", "not_sure"),
    ("Not sure", "not_sure"),
    ("I don't know", "not_sure"),
    ("I dont know", "not_sure"),
    ("idk", "not_sure"),
    ("maybe", "not_sure"),
    ("no sé", "not_sure"),
    ("No lo sé", "not_sure"),
    ("no idea", "not_sure"),
    ("tal vez", "not_sure"),
    ("No estoy segura", "not_sure"),
    ("3", "not_sure"),
    # Unclear: contradictions, nothing, noise, other languages, numbers not offered
    ("yes no", None),
    ("yes\nno", None),
    ("no yes", None),
    ("maybe yes maybe no", None),
    ("yes but no", None),
    ("yes, not sure", None),
    ("no, I'm not sure", None),
    ("nope not sure", None),
    ("👍👎", None),
    ("🙂🙃", None),
    ("🙃", None),
    ("", None),
    ("   ", None),
    ("\u200b", None),
    ("please", None),
    ("4", None),
    ("0", None),
    ("᧚", None),  # a digit without a decimal value
    ("نعم", None),  # §5 #12: Arabic is not a shipped language
    ("banana", None),
    ("x" * 5000, None),
]


@pytest.mark.parametrize(("text", "expected"), YES_NO_UNSURE_CASES)
def test_read_yes_no_unsure(core: Core, text: str, expected: str | None) -> None:
    assert read_yes_no(make_answer(core, text, choices=YES_NO_UNSURE), ALL) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("y", "yes"),
        ("Sí", "yes"),
        ("sure", "yes"),
        ("1", "yes"),
        ("👍", "yes"),
        ("no", "no"),
        ("2", "no"),
        ("nah", "no"),
        ("no, never", "no"),
        # "Not sure" is not offered: unclear, never a yes or a no
        ("not sure", None),
        ("I don't know", None),
        ("maybe", None),
        ("no sé", None),  # not its leading "no"
        ("no lo sé", None),
        ("no idea", None),
        ("no, I'm not sure", None),
        ("nope, no idea", None),  # a "not sure" that is not offered still contradicts the "no"
        ("No. Tal vez", None),
        ("3", None),
        ("yes no", None),
    ],
)
def test_read_yes_no_without_not_sure(core: Core, text: str, expected: str | None) -> None:
    assert read_yes_no(make_answer(core, text, choices=YES_NO), ("yes", "no")) == expected


@pytest.mark.parametrize("locale", ["en", "es"])
@pytest.mark.parametrize("value", ALL)
def test_every_answer_word_reads_as_itself(core: Core, value: str, locale: str) -> None:
    vocabulary = core.conversations.vocabulary
    for word in sorted(vocabulary.answer_words(value)):
        answer = make_answer(core, word, choices=YES_NO_UNSURE, locale=locale)
        assert read_yes_no(answer, ALL) == value, word


@pytest.mark.parametrize("key", ["common.choice.yes", "common.choice.no", "common.choice.not_sure"])
def test_every_label_reads_as_its_choice(core: Core, key: str) -> None:
    value = key.rsplit(".", 1)[1]
    for label in core.translator.texts(key):
        for text in (label, label.upper(), f" {label}! "):
            assert read_yes_no(make_answer(core, text, choices=YES_NO_UNSURE), ALL) == value, text


# ---------------------------------------------------------------------------------------------
# Numbers (§5 #39)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("52", 52),
        ("I'm 52", 52),
        ("I am 52 years old", 52),
        ("52-year-old", 52),
        ("fifty two", 52),
        ("Fifty-two", 52),
        ("setenta y dos", 72),
        ("seven", 7),
        ("Seven.", 7),
        ("siete", 7),
        ("a hundred and five", 105),
        ("ciento cinco", 105),
        ("７", 7),  # fullwidth
        ("٧", 7),  # Arabic-Indic
        ("७", 7),  # Devanagari
        ("7️⃣", 7),  # keycap
        ("07", 7),
        ("7.0", 7),
        ("+7", 7),
        ("~5", 5),  # debatable: "about 5" is read as 5
        ("-1", -1),  # a value; the question's range rejects it
        ("7.5", 7.5),
        ("7,5", 7.5),  # a decimal comma
        ("0", 0),
        # Unclear: none, several, or ambiguous
        ("1e3", None),
        ("five or six", None),
        ("5 or 6", None),
        ("2-3", None),
        ("52 and 53", None),
        ("1,000", None),  # a thousands mark or a decimal? Ask again.
        ("1.000", None),
        ("1.000.000", None),
        ("1.2.3", None),
        ("NaN", None),
        ("∞", None),
        ("VII", None),  # Roman numerals are not read
        ("", None),
        ("old", None),
        ("᧚", None),
    ],
)
def test_read_number(core: Core, text: str, expected: float | None) -> None:
    value = read_number(make_answer(core, text))
    assert value == expected
    if expected is not None:
        assert type(value) is type(expected)  # 7.0 is the int 7


# ---------------------------------------------------------------------------------------------
# Dates (§5 #40), with today = 2026-11-23
# ---------------------------------------------------------------------------------------------


def day(iso: str) -> tuple[str, date, date]:
    parsed = date.fromisoformat(iso)
    return (iso, parsed, parsed)


def span(label: str, first: str, last: str) -> tuple[str, date, date]:
    return (label, date.fromisoformat(first), date.fromisoformat(last))


@pytest.mark.parametrize(
    ("text", "locale", "expected"),
    [
        ("3/2024", "en", span("2024-03", "2024-03-01", "2024-03-31")),
        ("3/2024", "es", span("2024-03", "2024-03-01", "2024-03-31")),
        ("03-24", "en", span("2024-03", "2024-03-01", "2024-03-31")),
        ("2/2024", "en", span("2024-02", "2024-02-01", "2024-02-29")),
        ("12/99", "en", span("1999-12", "1999-12-01", "1999-12-31")),  # two digits: the latest past year
        ("march 2019", "en", span("2019-03", "2019-03-01", "2019-03-31")),
        ("March 2019", "es", span("2019-03", "2019-03-01", "2019-03-31")),
        ("marzo 2019", "es", span("2019-03", "2019-03-01", "2019-03-31")),
        ("Sept 2020", "en", span("2020-09", "2020-09-01", "2020-09-30")),
        ("setiembre 2020", "es", span("2020-09", "2020-09-01", "2020-09-30")),
        ("in march of 2019", "en", span("2019-03", "2019-03-01", "2019-03-31")),
        ("2019-03-05", "en", day("2019-03-05")),
        ("2019-03-05", "es", day("2019-03-05")),
        ("5/3/2020", "en", day("2020-05-03")),  # month first in English
        ("5/3/2020", "es", day("2020-03-05")),  # day first in Spanish
        ("5.3.20", "es", day("2020-03-05")),
        ("13/3/2020", "en", day("2020-03-13")),  # only one reading is a real date
        ("3/13/2020", "es", day("2020-03-13")),
        ("March 5, 2020", "en", day("2020-03-05")),
        ("5 de marzo de 2020", "es", day("2020-03-05")),
        ("29/02/2024", "es", day("2024-02-29")),
        ("٥/٣/٢٠٢٠", "es", day("2020-03-05")),  # Arabic-Indic digits
        ("2021", "en", span("2021", "2021-01-01", "2021-12-31")),
        ("9999-12-31", "en", day("9999-12-31")),  # far future: read here, refused by the prescreen
        # Not dates
        ("31/04/2020", "en", None),  # no 31 April, and no 4th month 31
        ("31/04/2020", "es", None),
        ("Feb 30 2020", "en", None),
        ("29/02/2025", "es", None),
        ("13/13/13", "en", None),
        ("0/0", "en", None),
        ("13/2020", "en", None),
        ("0/2020", "en", None),
        ("2019-13-01", "en", None),
        ("3/4", "en", None),  # no year
        ("tomorrow", "en", None),
        ("yesterday", "en", None),
        ("march april 2020", "en", None),
        ("march 2019 2020", "en", None),
        ("0000", "en", None),
        ("0999", "en", None),
        ("0000-01-01", "en", None),
        ("march 99999", "en", None),
        ("5 march 99999", "en", None),
        ("1" * 5000, "en", None),
        ("", "en", None),
    ],
)
def test_read_date(core: Core, text: str, locale: str, expected: tuple[str, date, date] | None) -> None:
    assert read_date(make_answer(core, text, locale=locale)) == expected


# ---------------------------------------------------------------------------------------------
# Choices
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", "morning"),
        ("01", "morning"),
        ("１", "morning"),
        ("4", "any_time"),
        ("Morning", "morning"),
        ("morning!", "morning"),
        ("Mañana", "morning"),  # the Spanish label, whatever the patient's language
        ("mañana", "morning"),
        ("tarde", "afternoon"),
        ("Noche", "evening"),
        ("A cualquier hora", "any_time"),
        ("any time", "any_time"),
        ("evenings", "evening"),  # a plural
        ("afternoons", "afternoon"),
        ("in the evening", "evening"),  # the label inside a sentence
        ("mornings please", "morning"),
        ("por la tarde", "afternoon"),
        ("any", "any_time"),  # one distinctive word of one label
        ("cualquier", "any_time"),
        ("0", None),
        ("5", None),
        ("1 or 2", None),
        ("4 please", None),  # debatable: only a bare number picks by number
        ("morning or evening", None),  # two choices fit: ask again
        ("mañana o tarde", None),
        ("night", None),
        ("🌅", None),
        ("", None),
        ("᧚", None),
    ],
)
def test_read_choice_best_time(core: Core, text: str, expected: str | None) -> None:
    choice = read_choice(make_answer(core, text, choices=BEST_TIME))
    assert (choice.value if choice else None) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", "under_30"),
        ("3", "over_60"),
        ("4", "not_sure"),
        ("Less than 30 minutes", "under_30"),
        ("30 to 60 minutes", "under_60"),
        ("more than 1 hour", "over_60"),
        ("Más de 1 hora", "over_60"),
        ("menos de 30 minutos", "under_30"),
        ("De 30 a 60 minutos", "under_60"),
        ("hour", "over_60"),  # one distinctive word of one label
        ("hora", "over_60"),
        ("more", "over_60"),
        ("less", "under_30"),
        ("No sé", "not_sure"),
        ("it takes more than 1 hour", "over_60"),
        ("minutes", None),  # in two labels
        ("30", None),  # a bare number is a choice number, never a word of a label
        ("60", None),
        ("30 minutes", None),  # less than 30, or 30 to 60?
        ("1 hour", None),
        ("half an hour", None),
        ("5", None),
    ],
)
def test_read_choice_travel(core: Core, text: str, expected: str | None) -> None:
    choice = read_choice(make_answer(core, text, choices=TRAVEL))
    assert (choice.value if choice else None) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2", "afternoon"), ("Evening", "evening"), ("Noche", "evening"), ("evenings", None), ("in the evening", None)],
)
def test_read_choice_exact_only(core: Core, text: str, expected: str | None) -> None:
    choice = read_choice(make_answer(core, text, choices=BEST_TIME), fuzzy=False)
    assert (choice.value if choice else None) == expected


@pytest.mark.parametrize("choices", [BEST_TIME, TRAVEL], ids=["best_time", "travel"])
def test_every_label_picks_its_choice(core: Core, choices: tuple[Choice, ...]) -> None:
    for choice in choices:
        for label in core.translator.texts(choice.label):
            for text in (label, label.lower(), f"{label}."):
                found = read_choice(make_answer(core, text, choices=choices))
                assert found == choice, text


# ---------------------------------------------------------------------------------------------
# Registered parsers
# ---------------------------------------------------------------------------------------------


def parse(core: Core, name: str, text: str, choices: Sequence[Choice] = (), question: str | None = None) -> ParseResult:
    return REGISTRY.parsers[name].parse(make_answer(core, text, choices=choices, question=question))


@pytest.mark.parametrize(
    ("name", "choices", "text", "outcome"),
    [
        ("yes_no", YES_NO, "yeah", "yes"),
        ("yes_no", YES_NO, "2", "no"),
        ("yes_no", YES_NO, "not sure", None),
        ("yes_no", YES_NO, "no sé", None),
        ("yes_no", YES_NO, "yes " * 60, None),  # longer than an answer: unclear
        ("yes_no_unsure", YES_NO_UNSURE, "Sí", "yes"),
        ("yes_no_unsure", YES_NO_UNSURE, "👎", "no"),
        ("yes_no_unsure", YES_NO_UNSURE, "no sé", "not_sure"),
        ("yes_no_unsure", YES_NO_UNSURE, "yes no", None),
        ("choice", BEST_TIME, "tarde", "afternoon"),
        ("choice", BEST_TIME, "morning or evening", None),
        ("choice", BEST_TIME, "morning " * 30, None),
        ("pick", BEST_TIME, "Noche", "picked"),
        ("pick", BEST_TIME, "9", None),
    ],
)
def test_registered_parser(core: Core, name: str, choices: tuple[Choice, ...], text: str, outcome: str | None) -> None:
    result = parse(core, name, text, choices)
    assert result.outcome == outcome
    if outcome is None:
        assert result == ParseResult(None)
    elif name == "pick":
        picked = read_choice(make_answer(core, text, choices=choices))
        assert picked is not None
        assert result.value == picked.value
    else:
        assert result.value == outcome


def test_prescreen_answer_judges_the_current_question(core: Core) -> None:
    assert parse(core, "prescreen_answer", "52", question="age") == ParseResult(ELIGIBLE, 52)
    assert parse(core, "prescreen_answer", "Sí", YES_NO_UNSURE, question="insulin") == ParseResult(INELIGIBLE, "yes")
    assert parse(core, "prescreen_answer", "52" + " " * 200, question="age") == ParseResult(None)


# ---------------------------------------------------------------------------------------------
# evaluate(): one demo-study question of each type
# ---------------------------------------------------------------------------------------------

AGE_HINT = Part("common.hint.number", {"min": 1, "max": 120})
PAST_DATE_HINT = Part("common.hint.past_date")
DATE_HINT = {
    "en": Part("common.hint.date", {"example": "3/15/2024", "month_example": "3/2024"}),
    "es": Part("common.hint.date", {"example": "15/3/2024", "month_example": "3/2024"}),
}


@pytest.mark.parametrize(
    ("question", "text", "expected"),
    [
        # number: accept 1-120, eligible 18-75
        ("age", "52", ParseResult(ELIGIBLE, 52)),
        ("age", "fifty two", ParseResult(ELIGIBLE, 52)),
        ("age", "18", ParseResult(ELIGIBLE, 18)),
        ("age", "75", ParseResult(ELIGIBLE, 75)),
        ("age", "52.5", ParseResult(ELIGIBLE, 52.5)),
        ("age", "17", ParseResult(INELIGIBLE, 17)),
        ("age", "17.9", ParseResult(INELIGIBLE, 17.9)),
        ("age", "76", ParseResult(INELIGIBLE, 76)),
        ("age", "1", ParseResult(INELIGIBLE, 1)),
        ("age", "120", ParseResult(INELIGIBLE, 120)),
        ("age", "0", ParseResult(None, hint=AGE_HINT)),  # out of the accepted range: ask again
        ("age", "121", ParseResult(None, hint=AGE_HINT)),
        ("age", "-1", ParseResult(None, hint=AGE_HINT)),
        ("age", "1e3", ParseResult(None, hint=AGE_HINT)),
        ("age", "five or six", ParseResult(None, hint=AGE_HINT)),
        ("age", "old", ParseResult(None, hint=AGE_HINT)),
        ("age", "🤷", ParseResult(None, hint=AGE_HINT)),
        ("age", "not sure", ParseResult(REVIEW, "not_sure")),
        ("age", "No sé", ParseResult(REVIEW, "not_sure")),
        ("age", "I don't know", ParseResult(REVIEW, "not_sure")),
        ("age", "maybe 50", ParseResult(REVIEW, "not_sure")),  # debatable: a hedged number goes to staff
        # yes_no: diabetes (eligible if yes), insulin (eligible if no)
        ("diabetes", "yes", ParseResult(ELIGIBLE, "yes")),
        ("diabetes", "1", ParseResult(ELIGIBLE, "yes")),
        ("diabetes", "👍", ParseResult(ELIGIBLE, "yes")),
        ("diabetes", "no", ParseResult(INELIGIBLE, "no")),
        ("diabetes", "not sure", ParseResult(REVIEW, "not_sure")),
        ("diabetes", "3", ParseResult(REVIEW, "not_sure")),
        ("diabetes", "yes no", ParseResult(None)),
        ("diabetes", "52", ParseResult(None)),
        ("insulin", "Sí", ParseResult(INELIGIBLE, "yes")),
        ("insulin", "nah", ParseResult(ELIGIBLE, "no")),
        ("insulin", "no sé", ParseResult(REVIEW, "not_sure")),
        # choice: travel
        ("travel", "1", ParseResult(ELIGIBLE, "under_30")),
        ("travel", "De 30 a 60 minutos", ParseResult(ELIGIBLE, "under_60")),
        ("travel", "more than 1 hour", ParseResult(REVIEW, "over_60")),
        ("travel", "4", ParseResult(REVIEW, "not_sure")),
        ("travel", "not sure", ParseResult(REVIEW, "not_sure")),
        ("travel", "maybe", ParseResult(REVIEW, "not_sure")),
        ("travel", "30 minutes", ParseResult(None)),
        ("travel", "9", ParseResult(None)),
        # date: at least 180 days ago, so on or before 2026-05-27
        ("diagnosed", "3/2024", ParseResult(ELIGIBLE, "2024-03")),
        ("diagnosed", "2025", ParseResult(ELIGIBLE, "2025")),
        ("diagnosed", "5/27/2026", ParseResult(ELIGIBLE, "2026-05-27")),  # exactly 180 days
        ("diagnosed", "5/28/2026", ParseResult(INELIGIBLE, "2026-05-28")),
        ("diagnosed", "6/2026", ParseResult(INELIGIBLE, "2026-06")),
        ("diagnosed", "11/2026", ParseResult(INELIGIBLE, "2026-11")),  # this month, up to today
        ("diagnosed", "11/23/2026", ParseResult(INELIGIBLE, "2026-11-23")),  # today
        ("diagnosed", "5/2026", ParseResult(REVIEW, "2026-05")),  # the cut-off falls inside May
        ("diagnosed", "2026", ParseResult(REVIEW, "2026")),
        ("diagnosed", "1906", ParseResult(ELIGIBLE, "1906")),
        ("diagnosed", "11/24/2026", ParseResult(None, hint=PAST_DATE_HINT)),  # tomorrow
        ("diagnosed", "12/2026", ParseResult(None, hint=PAST_DATE_HINT)),
        ("diagnosed", "2027", ParseResult(None, hint=PAST_DATE_HINT)),
        ("diagnosed", "9999-12-31", ParseResult(None, hint=PAST_DATE_HINT)),
        ("diagnosed", "1850", ParseResult(None, hint=DATE_HINT["en"])),  # more than 120 years ago
        ("diagnosed", "tomorrow", ParseResult(None, hint=DATE_HINT["en"])),
        ("diagnosed", "31/04/2020", ParseResult(None, hint=DATE_HINT["en"])),
        ("diagnosed", "0000", ParseResult(None, hint=DATE_HINT["en"])),
        ("diagnosed", "not sure", ParseResult(REVIEW, "not_sure")),
        ("diagnosed", "no me acuerdo", ParseResult(REVIEW, "not_sure")),
    ],
)
def test_evaluate(core: Core, question: str, text: str, expected: ParseResult) -> None:
    asked = core.conversations.study.question(question)
    answer = make_answer(core, text, choices=question_choices(asked), question=question)
    assert evaluate(asked, answer) == expected


@pytest.mark.parametrize(
    ("text", "locale", "expected"),
    [
        ("01/06/2026", "en", ParseResult(ELIGIBLE, "2026-01-06")),  # 6 January
        ("01/06/2026", "es", ParseResult(INELIGIBLE, "2026-06-01")),  # 1 June
        ("mañana", "es", ParseResult(None, hint=DATE_HINT["es"])),  # the hint's example follows the language
    ],
)
def test_evaluate_date_follows_the_language(core: Core, text: str, locale: str, expected: ParseResult) -> None:
    asked = core.conversations.study.question("diagnosed")
    assert evaluate(asked, make_answer(core, text, locale=locale, question="diagnosed")) == expected


@pytest.mark.parametrize("question", ["age", "diabetes", "insulin", "diagnosed", "travel"])
@pytest.mark.parametrize("text", ["not sure", "Not sure", "I'm not sure", "no sé", "No estoy seguro", "idk", "quizás"])
def test_not_sure_is_review_for_every_question(core: Core, question: str, text: str) -> None:
    """PS-02: "not sure" never fails anyone; it sends the answers to staff review."""
    asked = core.conversations.study.question(question)
    answer = make_answer(core, text, choices=question_choices(asked), question=question)
    assert evaluate(asked, answer) == ParseResult(REVIEW, "not_sure")


# ---------------------------------------------------------------------------------------------
# Properties (RELIABILITY §6 T5, "Parsers")
# ---------------------------------------------------------------------------------------------

ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=60)
ANSWERISH_TEXT = st.lists(
    st.sampled_from(
        ["yes", "no", "not", "sure", "sí", "no sé", "1", "2", "3", "52", "-", "/", ".", ",", "2024", "13", "march",
         "marzo", "fifty", "two", "y", "or", "morning", "evening", "hour", "👍", "👎", "🏽", "\u200b", "٧", "７",
         "᧚", "0000", "99999", "ok", "please"]
    ),
    max_size=6,
).map(" ".join)  # fmt: skip
REPLIES = st.one_of(ANY_TEXT, ANSWERISH_TEXT)
PARSER_CASES = [
    ("yes_no", YES_NO, None),
    ("yes_no_unsure", YES_NO_UNSURE, None),
    ("choice", BEST_TIME, None),
    ("pick", BEST_TIME, None),
    ("prescreen_answer", (), "age"),
    ("prescreen_answer", YES_NO_UNSURE, "diabetes"),
    ("prescreen_answer", (), "diagnosed"),
    ("prescreen_answer", TRAVEL, "travel"),
    ("free_text", (), None),
    ("scale_1_to_5", (), None),
    ("postal_code", (), None),
    ("count_1_to_4", (), None),
    ("count_1_to_14", (), None),
    ("anything_else", (), None),
    ("consent_answer", YES_NO, "purpose"),
    ("consent_answer", CONSENT_VISITS, "visits"),
    ("first_name", (), None),
]


def test_every_registered_parser_is_covered() -> None:
    assert {name for name, _, _ in PARSER_CASES} == set(REGISTRY.parsers)


@FAST
@given(REPLIES, st.sampled_from(PARSER_CASES), st.sampled_from(["en", "es"]))
def test_registered_parsers_never_raise(
    core: Core, text: str, case: tuple[str, tuple[Choice, ...], str | None], locale: str
) -> None:
    name, choices, question = case
    expected_outcomes = {
        "yes_no": {"yes", "no"},
        "yes_no_unsure": {"yes", "no", "not_sure"},
        "choice": {c.value for c in choices},
        "pick": {"picked"},
        "prescreen_answer": {ELIGIBLE, INELIGIBLE, REVIEW},
        "free_text": {"answered"},
        "anything_else": {"nothing", "told"},
        "scale_1_to_5": {"answered"},
        "postal_code": {"answered"},
        "count_1_to_4": {"answered"},
        "count_1_to_14": {"answered"},
        "consent_answer": {"right", "wrong"},
        "first_name": {"answered"},
    }[name]
    answer = make_answer(core, text, choices=choices, locale=locale, question=question)
    result = REGISTRY.parsers[name].parse(answer)
    assert result.outcome is None or result.outcome in expected_outcomes
    if result.outcome is None:
        assert result.value is None


@FAST
@given(REPLIES, st.sampled_from(["en", "es"]))
def test_read_functions_never_raise(core: Core, text: str, locale: str) -> None:
    answer = make_answer(core, text, choices=BEST_TIME, locale=locale)
    assert read_yes_no(answer, ALL) in (None, *ALL)
    assert read_choice(answer) in (None, *BEST_TIME)
    number = read_number(answer)
    assert number is None or isinstance(number, int | float)
    read = read_date(answer)
    if read is not None:
        label, first, last = read
        assert first <= last
        assert label == first.isoformat()[: len(label)]


@FAST
@given(REPLIES)
def test_evaluate_stays_inside_the_declared_bounds(core: Core, text: str) -> None:
    study = core.conversations.study
    age = study.question("age")
    assert age.accept is not None
    assert age.eligible_range is not None
    result = evaluate(age, make_answer(core, text, question="age"))
    if result.outcome == ELIGIBLE:
        assert result.value in age.eligible_range
    elif result.outcome == INELIGIBLE:
        assert result.value in age.accept
        assert result.value not in age.eligible_range
    elif result.outcome is None:
        assert result.hint == AGE_HINT
    diagnosed = study.question("diagnosed")
    result = evaluate(diagnosed, make_answer(core, text, question="diagnosed"))
    if result.outcome is not None and result.value != "not_sure":
        assert isinstance(result.value, str)
        assert date.fromisoformat(f"{result.value}-01-01"[:10]) <= TODAY
    elif result.outcome is None:
        assert result.hint in (PAST_DATE_HINT, DATE_HINT["en"])


def spell_en(n: int) -> str:
    ones = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
            "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]  # fmt: skip
    tens = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
    if n < 20:
        return ones[n]
    return tens[n // 10 - 2] + ("" if n % 10 == 0 else f" {ones[n % 10]}")


def spell_es(n: int) -> str:
    ones = ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez", "once",
            "doce", "trece", "catorce", "quince", "dieciséis", "diecisiete", "dieciocho", "diecinueve", "veinte",
            "veintiuno", "veintidós", "veintitrés", "veinticuatro", "veinticinco", "veintiséis", "veintisiete",
            "veintiocho", "veintinueve"]  # fmt: skip
    tens = ["treinta", "cuarenta", "cincuenta", "sesenta", "setenta", "ochenta", "noventa"]
    if n < 30:
        return ones[n]
    return tens[n // 10 - 3] + ("" if n % 10 == 0 else f" y {ones[n % 10]}")


@FAST
@given(st.integers(min_value=0, max_value=99), st.sampled_from([spell_en, spell_es]))
def test_spelled_numbers_round_trip(core: Core, n: int, spell: Callable[[int], str]) -> None:
    assert read_number(make_answer(core, spell(n))) == n


@FAST
@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["{}", "{}.0", "I am {}", "０{}", "{}!"]))
def test_written_numbers_round_trip(core: Core, n: int, template: str) -> None:
    text = template.format(n)
    if template == "{}" and n >= 1000:
        text = str(n)  # no thousands marks: "1,000" is ambiguous on purpose
    assert read_number(make_answer(core, text)) == n


@FAST
@given(st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31)))
def test_dates_round_trip(core: Core, when: date) -> None:
    iso = when.isoformat()
    assert read_date(make_answer(core, iso)) == (iso, when, when)
    us = f"{when.month}/{when.day}/{when.year}"
    assert read_date(make_answer(core, us, locale="en")) == (iso, when, when)
    eu = f"{when.day}/{when.month}/{when.year}"
    assert read_date(make_answer(core, eu, locale="es")) == (iso, when, when)
    month = read_date(make_answer(core, f"{when.month}/{when.year}"))
    assert month is not None
    assert month[0] == iso[:7]
    assert month[1] <= when <= month[2]
    assert month[2] - month[1] < timedelta(days=31)
