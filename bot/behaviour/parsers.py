"""Answer parsers: read a patient's reply leniently, in any shipped language, and never raise.

Each returns an outcome for the flow's routes, or "unclear" with a hint for the re-ask. Parsers accept
the number of an offered choice ("1"), its label in any language ("Sí"), common synonyms ("yeah"),
and a few emoji; anything ambiguous ("yes no", "five or six", "3/4" where it matters) is unclear.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import MAXYEAR, MINYEAR, date
from functools import cache, lru_cache

from babel.dates import get_month_names

from bot.domain import JSON, Choice, Part
from bot.engine.registry import REGISTRY, Answer, ParseResult
from bot.engine.spec import AskSpec
from bot.text import fold, squeeze
from bot.vocabulary import Vocabulary

YES = Choice("yes", "common.choice.yes")
NO = Choice("no", "common.choice.no")
NOT_SURE = Choice("not_sure", "common.choice.not_sure")
UNCLEAR = ParseResult(None)
MAX_ANSWER_CHARS = 200  # an answer is short; longer text is a story and goes to the unclear path
_SKIN_TONES = frozenset(map(chr, range(0x1F3FB, 0x1F400)))  # emoji modifiers: Fitzpatrick types 1-2 to 6


def _core(folded: str, vocabulary: Vocabulary) -> str:
    """The reply without politeness words, or the whole reply if that is all it is ("ok" is a yes)."""
    return " ".join(w for w in folded.split() if w not in vocabulary.fillers) or folded


def _only_symbols(text: str, symbols: frozenset[str]) -> bool:
    """True if the text is made only of the given emoji (ignoring spaces, variation selectors and skin
    tones, so "👍🏽" is "👍")."""
    stripped = "".join(
        ch for ch in text if not ch.isspace() and ch not in _SKIN_TONES and unicodedata.category(ch) not in ("Mn", "Cf")
    )
    if not stripped:
        return False
    rest = stripped
    for symbol in sorted(symbols, key=len, reverse=True):
        rest = rest.replace(symbol.replace("\ufe0f", ""), "")
    return rest == ""


def _singular(words: list[str]) -> list[str]:
    """ "evenings" → "evening": a plural of a label word still names it."""
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words]


@lru_cache(maxsize=1024)
def _folded(texts: tuple[str, ...]) -> frozenset[str]:
    """Texts folded for matching; a choice's labels in every language are the same at every turn."""
    return frozenset(fold(t) for t in texts)


def read_choice(answer: Answer, *, fuzzy: bool = True) -> Choice | None:
    """Match a reply to one of the offered choices: by its number or by its label in any language.

    With `fuzzy`, a label inside a longer reply ("in the evening") or one distinctive word of one
    label ("hour" for "More than 1 hour") also counts, as long as only one choice fits.
    """
    choices = answer.choices
    folded = answer.folded
    # isdecimal, not isdigit: "᧚" (a digit with no decimal value) is a digit that int() rejects.
    if folded.isdecimal() and 1 <= int(folded) <= len(choices):
        return choices[int(folded) - 1]
    labels = {c.value: _folded(answer.turn.context.label_texts(c.label)) for c in choices}
    exact = [c for c in choices if folded in labels[c.value] or folded in _folded(tuple(c.keys))]
    if len(exact) == 1:
        return exact[0]
    if not fuzzy or not folded:
        return None
    words = folded.split()
    forms = {f" {folded} ", f" {' '.join(_singular(words))} "}
    inside = [c for c in choices if any(f" {label} " in form for label in labels[c.value] if label for form in forms)]
    if len(inside) == 1:
        return inside[0]
    # One distinctive word of one label, but never a word shared by labels, and never a bare number.
    if len(words) == 1 and not words[0].isdigit():
        word = _singular(words)[0]
        holders = [c for c in choices if any(word in label.split() for label in labels[c.value])]
        if len(holders) == 1:
            return holders[0]
    return None


@lru_cache(maxsize=64)
def _squeezed(words: frozenset[str]) -> frozenset[str]:
    """The answer words with repeated letters collapsed, made once per vocabulary, not once per reply."""
    return frozenset(squeeze(w) for w in words)


def _means(core: str, words: frozenset[str]) -> bool:
    """True if the whole reply is one of these answer words, allowing repeated letters ("noo")."""
    return core in words or squeeze(core) in _squeezed(words)


def read_yes_no(answer: Answer, allowed: tuple[str, ...]) -> str | None:
    """Return "yes", "no" or "not_sure" (if allowed) for a reply, or None if it is unclear."""
    vocabulary = answer.turn.context.vocabulary
    for value in ("yes", "no"):
        if _only_symbols(answer.text, vocabulary.emoji.get(value, frozenset())):
            return value
    # Exact forms only: a fuzzy label match would read "sure" as the "Not sure" choice.
    choice = read_choice(answer, fuzzy=False)
    if choice is not None and choice.value in allowed:
        return choice.value
    core = _core(answer.folded, vocabulary)
    if not core:
        return None
    every = {value: vocabulary.answer_words(value) for value in ("yes", "no", "not_sure")}
    classes = {value: every[value] for value in allowed}
    for value, words in classes.items():
        if _means(core, words):
            return value
    # A reply that means an answer not offered ("no sé" when only yes or no is allowed) is unclear;
    # it must not be read as its leading word ("no").
    if any(_means(core, words) for value, words in every.items() if value not in allowed):
        return None
    # "yeah I think so", "no, never": a leading answer word and nothing that contradicts it, offered
    # or not ("no, I'm not sure" is not a no).
    tokens = core.split()
    first = tokens[0]
    leading = [v for v, words in classes.items() if first in words or squeeze(first) in words]
    if len(leading) != 1:
        return None
    rest = " ".join(tokens[1:])
    for other, words in every.items():
        if other == leading[0]:
            continue
        if any(f" {w} " in f" {rest} " for w in words if len(w) > 1):
            return None
    return leading[0]


def _plain_digits(text: str) -> str:
    """Fullwidth, Arabic-Indic and keycap digits become ASCII; punctuation is kept."""
    out = []
    for ch in unicodedata.normalize("NFKC", text):
        category = unicodedata.category(ch)
        if category == "Nd":
            out.append(str(unicodedata.decimal(ch)))
        elif category not in ("Mn", "Me", "Cf"):
            out.append(ch)
    return "".join(out)


_DIGIT_RUN = re.compile(r"\d+(?:[.,]\d+)*")


def _words_number(folded: str, vocabulary: Vocabulary) -> list[int]:
    """Numbers written as words, one per contiguous run ("seventy two" → [72])."""
    found: list[int] = []
    current: int | None = None
    for word in folded.split():
        if word in vocabulary.numbers:
            value = vocabulary.numbers[word]
            current = (current or 1) * 100 if value == 100 else (current or 0) + value
        elif word in vocabulary.number_joiners and current is not None:
            continue
        elif current is not None:
            found.append(current)
            current = None
    if current is not None:
        found.append(current)
    return found


def read_number(answer: Answer) -> float | int | None:
    """Return the one number in a reply, or None when there is none or more than one."""
    text = _plain_digits(answer.text)
    runs = list(_DIGIT_RUN.finditer(text))
    spelled = _words_number(answer.folded, answer.turn.context.vocabulary)
    if len(runs) + len(spelled) != 1:
        return None  # nothing, or "2-3", "five or six", "1e3"
    if spelled:
        return spelled[0]
    run = runs[0]
    written = run.group(0)
    marks = written.count(",") + written.count(".")
    if marks > 1 or re.search(r"[.,]\d{3}$", written):
        return None  # "1,000" or "1.000": a thousands mark or a decimal? Ask again.
    value = float(written.replace(",", "."))
    start = run.start()
    if start > 0 and text[start - 1] == "-" and (start == 1 or not text[start - 2].isalnum()):
        value = -value
    return int(value) if value.is_integer() else value


@cache
def _month_words() -> dict[str, int]:
    # Built at the first date answer, not at import: babel's CLDR data for two locales is ~4.5 MB resident.
    table: dict[str, int] = {}
    for locale in ("en", "es"):
        for width in ("wide", "abbreviated"):
            for number, name in get_month_names(width, locale=locale).items():
                table[fold(name)] = number
    table["sept"] = 9
    table["setiembre"] = 9
    return table


def _valid(year: int, month: int, day: int) -> date | None:
    # `date` and `calendar` raise outside years 1..9999 ("0000-01-01", "5 march 99999").
    if not (MINYEAR <= year <= MAXYEAR) or not (1 <= month <= 12) or not (1 <= day <= 31):
        return None
    if day > calendar.monthrange(year, month)[1]:
        return None
    return date(year, month, day)


def _full_year(year: int, today: date) -> int:
    if year >= 100:
        return year
    # Two-digit years: the most recent past year with those digits.
    candidate = 2000 + year
    return candidate if candidate <= today.year else 1900 + year


def read_date(answer: Answer) -> tuple[str, date, date] | None:
    """Read a date, a month and year, or a year; return its ISO text and the first and last day it covers.

    Day and month order follows the patient's language (3/4 is March 4 in English, 3 April in Spanish)
    unless only one reading is a real date.
    """
    if len(answer.text) > MAX_ANSWER_CHARS:
        return None  # a date is short, and int() refuses a run of more than 4,300 digits
    today = answer.turn.context.today
    text = _plain_digits(answer.text).strip().lower()
    folded = answer.folded
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    months = _month_words()
    month_named = [months[w] for w in folded.split() if w in months]
    if len(month_named) > 1:
        return None
    if month_named:
        month = month_named[0]
        years = [n for n in numbers if n >= 1000]
        days = [n for n in numbers if n < 1000]
        if len(years) != 1 or len(days) > 1:
            return None
        year = years[0]
        if days:
            day = _valid(year, month, days[0])
            return (day.isoformat(), day, day) if day else None
        return _month_span(year, month)
    if re.fullmatch(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}", text):
        year, month, day_number = numbers
        day = _valid(year, month, day_number)
        return (day.isoformat(), day, day) if day else None
    if re.fullmatch(r"\d{1,2}[-/.]\d{2}(\d{2})?", text):  # month and year: 3/2024, 03-24
        month, year = numbers[0], _full_year(numbers[1], today)
        return _month_span(year, month) if 1 <= month <= 12 else None
    if re.fullmatch(r"\d{4}", text):
        year = numbers[0]
        if year < 1000:  # "0000" is no year (and date() rejects year 0); as for a month, below
            return None
        return (str(year), date(year, 1, 1), date(year, 12, 31))
    if re.fullmatch(r"\d{1,2}[-/.]\d{1,2}[-/.]\d{2}(\d{2})?", text):
        first, second, year = numbers[0], numbers[1], _full_year(numbers[2], today)
        month_first = _valid(year, first, second)
        day_first = _valid(year, second, first)
        preferred, other = (month_first, day_first) if answer.turn.locale == "en" else (day_first, month_first)
        chosen = preferred or other
        return (chosen.isoformat(), chosen, chosen) if chosen else None
    return None


def _month_span(year: int, month: int) -> tuple[str, date, date] | None:
    if not (1 <= month <= 12) or not (1000 <= year <= MAXYEAR):
        return None
    last = calendar.monthrange(year, month)[1]
    return (f"{year:04d}-{month:02d}", date(year, month, 1), date(year, month, last))


# ---------------------------------------------------------------------------------------------
# Registered parsers for flows that ask with their own text.
# ---------------------------------------------------------------------------------------------


def _too_long(answer: Answer) -> bool:
    return len(answer.text) > MAX_ANSWER_CHARS


@REGISTRY.parser("yes_no", outcomes=frozenset({"yes", "no"}), choices=(YES, NO))
def parse_yes_no(answer: Answer) -> ParseResult:
    """Yes or no."""
    if _too_long(answer):
        return UNCLEAR
    value = read_yes_no(answer, ("yes", "no"))
    return ParseResult(value, value) if value else UNCLEAR


@REGISTRY.parser("yes_no_unsure", outcomes=frozenset({"yes", "no", "not_sure"}), choices=(YES, NO, NOT_SURE))
def parse_yes_no_unsure(answer: Answer) -> ParseResult:
    """Yes, no, or not sure."""
    if _too_long(answer):
        return UNCLEAR
    value = read_yes_no(answer, ("yes", "no", "not_sure"))
    return ParseResult(value, value) if value else UNCLEAR


def _choice_outcomes(ask: AskSpec) -> frozenset[str]:
    return frozenset(c.id for c in ask.choices)


@REGISTRY.parser("choice", outcomes=_choice_outcomes)
def parse_choice(answer: Answer) -> ParseResult:
    """One of the choices listed in the flow."""
    if _too_long(answer):
        return UNCLEAR
    choice = read_choice(answer)
    return ParseResult(choice.value, choice.value) if choice else UNCLEAR


def number_hint(low: float, high: float) -> Part:
    """The hint for a number outside the accepted range."""
    return Part("common.hint.number", {"min": _plain(low), "max": _plain(high)})


def _plain(value: float) -> JSON:
    return int(value) if float(value).is_integer() else value
