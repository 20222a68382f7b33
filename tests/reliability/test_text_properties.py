"""Property tests for the text normaliser, the keyword classifier and the answer parsers (issue 8, part 1;
RELIABILITY §6 T5 and §5 items 4, 7, 13-17 and 32-33).

tests/unit/test_text.py, test_keywords.py and test_parsers.py already check, on short strings (≤100
characters, lone surrogates included): sanitize/fold never raise, fold is idempotent and clean, a list of
single-word STOPs survives case/width/zero-width disguises, and every registered parser stays inside its
declared outcomes. This module adds what they leave out:

- huge inputs (up to ~10,000 characters) of any surrogate-free code point, C0/C1 controls included, through
  every text function, the safety check and every registered parser: never raise, stay linear in time;
- fold idempotence and cleanliness on those huge inputs;
- keyword classification depends only on the folded text (so no formatting trick fold removes can hide a
  keyword or invent one);
- EVERY shipped STOP form and phrase (read from flows/vocabulary.yaml, English and Spanish, accents
  included) stays STOP under per-letter case, fullwidth and mathematical letters, Cyrillic look-alikes,
  combining marks, zero-width characters, NBSP and other spaces between and around the words, and
  surrounding punctuation and emoji; HELP and START forms likewise.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.behaviour.parsers import read_choice, read_date, read_number, read_yes_no
from bot.bootstrap import Core
from bot.engine.registry import REGISTRY
from bot.keywords import Intent, classify
from bot.safety import assess, shipped_safety_lexicon
from bot.text import fold, fold_any, sanitize, squeeze, words
from bot.vocabulary import shipped_vocabulary
from tests.unit.test_parsers import BEST_TIME, PARSER_CASES, make_answer

VOCABULARY = shipped_vocabulary()
LEXICON = shipped_safety_lexicon()
# Hypothesis' example database is not shared with fixtures, so the `core` fixture (session-scoped) is fine.
PROPERTIES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DISGUISES = settings(max_examples=200, deadline=None)

# Surrogate-free text: every code point UTF-8 can encode, controls (Cc) and format characters (Cf) included.
UNICODE = st.characters(codec="utf-8")
CONTROLS = st.sampled_from([chr(c) for c in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]])
NASTY = st.sampled_from(
    ["\u200b", "\u200d", "\u202e", "\u2066", "\ufeff", "\u00ad", "\u00a0", "\u3000", "\u0301", "\u20e3", "\ufe0f",
     "\ufdfa", "İ", "ß", "ﬀ", "👨\u200d👩\u200d👧", "🇺🇸", "٧", "７", "%", "{", "}", "\\", "'", '"', "<", "\r\n"]
)  # fmt: skip
PIECES = st.lists(st.one_of(UNICODE, CONTROLS, NASTY), max_size=400).map("".join)
# Up to ~10,000 characters: random text, or a random piece repeated (repetition is what makes a regex
# backtrack or a loop go quadratic).
HUGE_TEXT = st.one_of(
    st.lists(st.one_of(UNICODE, CONTROLS, NASTY), min_size=500, max_size=2500).map("".join),
    st.tuples(PIECES.filter(bool), st.integers(min_value=2, max_value=200)).map(lambda p: (p[0] * p[1])[:10_000]),
)
ANY_TEXT = st.one_of(PIECES, HUGE_TEXT)
# A linear pass over 10,000 characters takes milliseconds; the slowest seen is ~0.6 s for 10,000 × U+FDFA,
# which NFKD expands 18-fold. Anything quadratic on 10,000 characters takes tens of seconds; the budget leaves
# room for a loaded CI machine.
LINEAR_BUDGET = 5.0


def _timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# The normaliser on any text, huge included
# ---------------------------------------------------------------------------------------------


@PROPERTIES
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=300))
def test_folds_ascii_shortcut_gives_the_general_result(text: str) -> None:
    assert fold(text) == fold_any(text)


@given(ANY_TEXT)
def test_text_functions_never_raise_and_fold_is_idempotent(text: str) -> None:
    clean = sanitize(text)
    clean.encode("utf-8")
    assert "\x00" not in clean
    assert sanitize(clean) == clean
    folded = fold(text)
    assert fold(folded) == folded, "fold(fold(x)) == fold(x)"
    if "\x00" not in text:  # sanitize changes nothing else in surrogate-free text (NUL becomes U+FFFD)
        assert clean == text
    assert not {unicodedata.category(ch) for ch in folded} & {"Mn", "Me", "Cf", "Cc", "Cs", "Co", "Cn"}
    assert folded == folded.strip()
    assert "  " not in folded
    assert folded.split() == words(text)
    assert squeeze(squeeze(folded)) == squeeze(folded)


@PROPERTIES
@given(HUGE_TEXT, st.booleans())
def test_keywords_and_safety_never_raise_on_huge_text(text: str, opted_out: bool) -> None:
    elapsed = _timed(lambda: classify(text, VOCABULARY, opted_out=opted_out))
    elapsed += _timed(lambda: assess(text, LEXICON))
    assert elapsed < LINEAR_BUDGET


@PROPERTIES
@given(st.lists(st.one_of(UNICODE, CONTROLS, NASTY), max_size=120).map("".join), st.booleans())
def test_keywords_depend_only_on_the_folded_text(text: str, opted_out: bool) -> None:
    """What fold removes (case, width, accents, zero-width and control characters, punctuation) can neither
    hide a keyword nor make one. A bare "?" is the one form read before folding (it folds to nothing)."""
    folded = fold(text)
    assume(text.strip() != "?" and len(folded) <= 500)
    assert classify(text, VOCABULARY, opted_out=opted_out) == classify(folded, VOCABULARY, opted_out=opted_out)


@PROPERTIES
@given(ANY_TEXT, st.sampled_from(PARSER_CASES), st.sampled_from(["en", "es"]))
def test_registered_parsers_never_raise_on_any_text(
    core: Core, text: str, case: tuple[str, tuple[object, ...], str | None], locale: str
) -> None:
    name, choices, question = case
    answer = make_answer(core, text, choices=choices, locale=locale, question=question)  # type: ignore[arg-type]
    start = time.perf_counter()
    result = REGISTRY.parsers[name].parse(answer)
    assert time.perf_counter() - start < LINEAR_BUDGET
    assert result.outcome is None or isinstance(result.outcome, str)
    if result.outcome is None:
        assert result.value is None


@PROPERTIES
@given(ANY_TEXT, st.sampled_from(["en", "es"]))
def test_read_functions_never_raise_on_any_text(core: Core, text: str, locale: str) -> None:
    answer = make_answer(core, text, choices=BEST_TIME, locale=locale)
    assert read_yes_no(answer, ("yes", "no", "not_sure")) in (None, "yes", "no", "not_sure")
    assert read_choice(answer) in (None, *BEST_TIME)
    number = read_number(answer)
    assert number is None or isinstance(number, int | float)
    found = read_date(answer)
    assert found is None or found[1] <= found[2]


@pytest.mark.parametrize(
    "text",
    ["https://example.org/" + "x" * 2000, "https://example.org/?" + "a=1&" * 500, "a" * 2000, "1/" * 1000],
    ids=["long_url", "long_query", "one_long_word", "many_slashes"],
)
def test_one_very_long_token_is_handled_quickly(core: Core, text: str) -> None:
    """RELIABILITY §5 #7: a 2,000-character token costs no regex blow-up. The target is <50 ms per message for
    the keywords, the safety check and all 17 parsers together (~20-45 ms here); the assertion allows 5× that
    for a loaded CI machine, and takes the best of three runs. Backtracking would cost seconds."""

    def everything() -> None:
        classify(text, VOCABULARY)
        assess(text, LEXICON)
        for name, choices, question in PARSER_CASES:
            REGISTRY.parsers[name].parse(make_answer(core, text, choices=choices, question=question))

    assert min(_timed(everything) for _ in range(3)) < 0.25


# ---------------------------------------------------------------------------------------------
# The STOP family (and HELP, START) in disguise, from the shipped vocabulary
# ---------------------------------------------------------------------------------------------


def _shipped(family: str) -> list[str]:
    """The whole-message forms of a keyword as written in flows/vocabulary.yaml (before folding)."""
    import yaml

    from bot.vocabulary import vocabulary_path

    raw = yaml.safe_load(vocabulary_path().read_text(encoding="utf-8"))
    return [str(w) for w in raw["keywords"][family]["exact"]]


def _shipped_phrases(family: str) -> list[tuple[str, str]]:
    import yaml

    from bot.vocabulary import vocabulary_path

    raw = yaml.safe_load(vocabulary_path().read_text(encoding="utf-8"))
    return [(lang, str(p)) for lang, phrases in raw["keywords"][family]["phrases"].items() for p in phrases]


STOP_FORMS = _shipped("stop")
# The Spanish forms as people type them, accents and all (the vocabulary stores them plain).
STOP_FORMS += ["no más", "ya no más", "dárme de baja"]
STOP_PHRASES = _shipped_phrases("stop")
STOP_PHRASES += [("es", "no más mensajes"), ("es", "no me envíen"), ("es", "quítenme de la lista")]
HELP_FORMS = [*_shipped("help"), "información", "ayúdeme"]
START_FORMS = _shipped("start")

_CYRILLIC = {"a": "а", "c": "с", "e": "е", "o": "о", "p": "р", "x": "х", "y": "у", "s": "ѕ", "i": "і", "j": "ј"}
_INSIDE = ["", "", "", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]  # zero-width, soft hyphen
_BETWEEN = st.lists(st.sampled_from([" ", "\u00a0", "\u3000", "\u2009", "\t", "\u202f", "  "]), min_size=1, max_size=2)
_AROUND = st.lists(st.sampled_from([" ", "\u00a0", "\n", "\u200b", "\ufeff", "\u3000", "\t", "\r\n"]), max_size=3).map(
    "".join
)
_BEFORE = st.sampled_from(["", "", "¡", "¿", '"', "«", "(", "*", "👉 ", "- "])
_AFTER = st.sampled_from(["", "", "!", ".", "!!!", "...", "?", "！", " 🛑", "»", ")", '"', " 🙏", ":", ";"])


def _letter(draw: st.DrawFn, ch: str) -> str:
    """One letter with a random disguise that fold undoes."""
    if not ch.isascii() or not ch.isalpha():
        return ch
    style = draw(st.sampled_from(["plain", "upper", "fullwidth", "bold", "cyrillic", "accent"]))
    if style == "upper":
        ch = ch.upper()
    elif style == "fullwidth":
        ch = chr(ord(draw(st.sampled_from([ch.lower(), ch.upper()]))) + 0xFEE0)
    elif style == "bold":  # MATHEMATICAL BOLD CAPITAL/SMALL: NFKD maps them back to ASCII
        ch = chr(0x1D400 + ord(ch.upper()) - ord("A")) if draw(st.booleans()) else chr(0x1D41A + ord(ch) - ord("a"))
    elif style == "cyrillic" and ch.lower() in _CYRILLIC:
        ch = _CYRILLIC[ch.lower()]
    elif style == "accent" and ch.lower() in "aeiou":
        ch = ch + "\u0301"  # a combining accent ("ó" typed in decomposed form)
    return ch + draw(st.sampled_from(_INSIDE))


@st.composite
def disguised(draw: st.DrawFn, phrase: str) -> str:
    """The phrase with every letter disguised, any Unicode spaces between words, and punctuation, emoji
    and invisible characters around it."""
    out = []
    for index, word in enumerate(phrase.split()):
        if index:
            out.append("".join(draw(_BETWEEN)))
        out.append("".join(_letter(draw, ch) for ch in word))
    return draw(_AROUND) + draw(_BEFORE) + "".join(out) + draw(_AFTER) + draw(_AROUND)


def _intent(text: str, opted_out: bool) -> Intent | None:
    match = classify(text, VOCABULARY, opted_out=opted_out)
    return match.intent if match else None


@DISGUISES
@given(st.sampled_from(STOP_FORMS).flatmap(disguised), st.booleans())
def test_every_shipped_stop_form_survives_disguises(text: str, opted_out: bool) -> None:
    assert _intent(text, opted_out) is Intent.STOP, ascii(text)


@DISGUISES
@given(
    st.sampled_from(STOP_FORMS).flatmap(disguised),
    st.sampled_from(["", "please", "por favor", "thanks", "gracias", "ok"]),
    st.booleans(),
)
def test_a_stop_form_with_politeness_words_is_still_stop(text: str, filler: str, first: bool) -> None:
    message = f"{filler} {text}" if first else f"{text} {filler}"
    assert _intent(message, opted_out=False) is Intent.STOP, ascii(message)


@DISGUISES
@given(
    st.sampled_from(STOP_PHRASES).flatmap(lambda lp: disguised(lp[1])),
    st.sampled_from(["", "Hi, ", "Hola, ", "ok ", "I said ", "por favor "]),
    st.sampled_from(["", " thanks", " gracias", ". Bye", " ya"]),
)
def test_every_shipped_opt_out_phrase_survives_disguises_inside_a_sentence(text: str, before: str, after: str) -> None:
    message = before + text + after
    assert _intent(message, opted_out=False) is Intent.STOP, ascii(message)


@DISGUISES
@given(st.sampled_from(HELP_FORMS).flatmap(disguised), st.booleans())
def test_every_shipped_help_form_survives_disguises(text: str, opted_out: bool) -> None:
    assert _intent(text, opted_out) is Intent.HELP, ascii(text)


@DISGUISES
@given(st.sampled_from(START_FORMS).flatmap(disguised), st.booleans())
def test_every_shipped_start_form_survives_disguises(text: str, opted_out: bool) -> None:
    assert _intent(text, opted_out) is Intent.START, ascii(text)


def test_the_vocabulary_lists_are_not_empty() -> None:
    """Guard: the disguise tests read the shipped lists; an empty list would make them pass vacuously."""
    assert len(STOP_FORMS) >= 15
    assert {lang for lang, _ in STOP_PHRASES} >= {"en", "es"}
    assert "stop" in STOP_FORMS
    assert "ayuda" in HELP_FORMS
    assert "start" in START_FORMS
