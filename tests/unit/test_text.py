"""Text hygiene (bot.text): `sanitize` makes any text storable, `fold` makes it matchable, `squeeze`
collapses repeated letters. RELIABILITY §5 items 8-23 (Unicode) and §6 T5 (the normaliser properties)."""

from __future__ import annotations

import unicodedata
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.text import fold, sanitize, squeeze, words

# Every code point, lone surrogates included (st.characters leaves out category Cs by default).
ANY_CHARACTER = st.characters(exclude_categories=())
ANY_TEXT = st.text(alphabet=ANY_CHARACTER, max_size=60)
# Characters that exercise fold's special cases: confusables, width, format characters, marks, digits.
TRICKY_TEXT = st.text(
    alphabet=st.sampled_from(
        "aAsStToOpPyYnN eé\u0301İıßſǰŉﬀ'’`-.!?ＳＴＯＰ７٧७ТОРаеоорс\u200b\u200d\u202e\u00a0\ufe0f\u20e3"
        "\x00\x1b\t\n\r\ud800\udfff👍🏽👨\u200d👩🇺🇸½①⑳"
    ),
    max_size=30,
)
FOLD_DROPS = {"Mn", "Me", "Cf", "Cc", "Cs", "Co", "Cn"}
FAST = settings(max_examples=200, deadline=None)


# ---------------------------------------------------------------------------------------------
# sanitize
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("hello", "hello"),
        ("ab\x00cd", "ab\ufffdcd"),  # §5 #19: PostgreSQL rejects NUL, so both backends store U+FFFD
        ("\x00\x00", "\ufffd\ufffd"),
        ("\ud800", "\ufffd"),  # §5 #22: a lone high surrogate
        ("a\udfffb", "a\ufffdb"),  # a lone low surrogate
        ("\ud83d\ude00", "😀"),  # a surrogate pair (e.g. from a JSON escape) is joined, not replaced
        ("\ud83d\ude00\ud800", "😀\ufffd"),
        ("x\x00\ud800y", "x\ufffd\ufffdy"),
        ("👨\u200d👩\u200d👧\u200d👦", "👨\u200d👩\u200d👧\u200d👦"),  # §5 #9: ZWJ family kept whole
        ("e\u0301", "e\u0301"),  # §5 #11: no normalisation; what the patient wrote is stored
        ("\x1b[31mred", "\x1b[31mred"),  # §5 #20: controls are stored (escaped later, in logs and UI)
        ("ok\r\n2026-01-01 INFO staff acked", "ok\r\n2026-01-01 INFO staff acked"),
        ("\u202ePOTS", "\u202ePOTS"),
        ("'; DROP TABLE participant;--", "'; DROP TABLE participant;--"),
    ],
)
def test_sanitize(text: str, expected: str) -> None:
    assert sanitize(text) == expected


# ---------------------------------------------------------------------------------------------
# fold
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("   \n\t ", ""),
        ("Yes!", "yes"),
        (" YES ", "yes"),
        ("YES!!!", "yes"),
        ("yesss", "yes"),  # three or more repeats collapse
        ("yess", "yess"),  # two are kept ("ss" is a real spelling); squeeze handles those
        ("Nooooo", "no"),
        ("aaa bbb", "a b"),
        ("1000", "1000"),  # digits never collapse
        ("Sí", "si"),
        ("SÍ", "si"),
        ("e\u0301", "e"),  # §5 #11: NFD and NFC fold alike
        ("é", "e"),
        ("Mañana", "manana"),
        ("ＳＴＯＰ", "stop"),  # §5 #15: fullwidth
        ("S\u200bTOP", "stop"),  # §5 #16: zero-width space is Cf
        ("\u00a0stop\u00a0", "stop"),  # §5 #17: NBSP is whitespace
        ("SТОР", "stop"),  # §5 #14: Cyrillic Т, О, Р
        ("ѕтор", "stop"),  # Cyrillic lower case, including ѕ
        ("\u202ePOTS", "pots"),  # §5 #13: the override is dropped; the letters stay in their order
        ("Stop 🛑", "stop"),
        ("STOP.", "stop"),
        ("don't", "dont"),
        ("don’t", "dont"),
        ("it`s", "its"),
        ("no-one", "no one"),
        ("a_b", "a b"),
        ("foo\x00bar", "foobar"),  # §5 #19: NUL is Cc
        ("\x1b[31mred", "31mred"),  # §5 #20: ESC dropped, "[" is punctuation
        ("line\r\nbreak", "line break"),  # CR and LF are controls, but they still separate words
        ("a\tb\x0bc\x1cd\x85e", "a b c d e"),
        ("İstanbul", "istanbul"),  # §5 #18: casefold makes "i̇"; the dot is dropped
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),
        ("ſtop", "stop"),  # long s
        ("ﬀ", "ff"),  # ligature
        ("７", "7"),  # §5 #39: fullwidth digit
        ("٧", "7"),  # Arabic-Indic
        ("७", "7"),  # Devanagari
        ("7️⃣", "7"),  # keycap: the variation selector and enclosing keycap are dropped
        ("½", "1 2"),  # the fraction slash is punctuation
        ("①", "1"),
        ("👍", ""),
        ("👨\u200d👩\u200d👧\u200d👦", ""),
        ("🇺🇸", ""),
        ("👍🏽 yes", "yes"),
        ("نعم", "نعم"),  # §5 #12: other scripts are kept as letters
        ("כן", "כן"),
        ("موعد 12/3", "موعد 12 3"),
        ("\ud800", ""),  # a lone surrogate is dropped
        ("setenta y dos", "setenta y dos"),
    ],
)
def test_fold(text: str, expected: str) -> None:
    assert fold(text) == expected


@pytest.mark.parametrize(
    ("folded", "expected"),
    [
        ("", ""),
        ("noo", "no"),
        ("yess", "yes"),
        ("aabbcc", "abc"),
        ("no no", "no no"),  # only runs inside a word
        ("1000", "1000"),
        ("good morning", "god morning"),  # lenient, not correct: only for matching short answers
    ],
)
def test_squeeze(folded: str, expected: str) -> None:
    assert squeeze(folded) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("Hello, World!", ["hello", "world"]),
        ("  no,\u00a0never  ", ["no", "never"]),
        ("I'm 52", ["im", "52"]),
    ],
)
def test_words(text: str, expected: list[str]) -> None:
    assert words(text) == expected


# ---------------------------------------------------------------------------------------------
# Properties (RELIABILITY §6 T5, "Normaliser")
# ---------------------------------------------------------------------------------------------


@FAST
@given(st.one_of(ANY_TEXT, TRICKY_TEXT))
def test_sanitize_always_storable(text: str) -> None:
    clean = sanitize(text)
    clean.encode("utf-8")  # raises on a lone surrogate
    assert "\x00" not in clean
    assert sanitize(clean) == clean


@FAST
@given(st.text(max_size=60).filter(lambda t: "\x00" not in t))
def test_sanitize_keeps_storable_text_unchanged(text: str) -> None:
    assert sanitize(text) == text


@FAST
@given(st.one_of(ANY_TEXT, TRICKY_TEXT))
def test_fold_is_idempotent(text: str) -> None:
    once = fold(text)
    assert fold(once) == once


@FAST
@given(st.one_of(ANY_TEXT, TRICKY_TEXT))
def test_fold_output_is_clean(text: str) -> None:
    folded = fold(text)
    assert not {unicodedata.category(ch) for ch in folded} & FOLD_DROPS
    assert folded == folded.strip()
    assert "  " not in folded
    assert all(ch == " " or not ch.isspace() for ch in folded)
    assert folded.split() == words(text)


def fullwidth(text: str) -> str:
    """ASCII punctuation, digits and letters as their fullwidth forms ("STOP" → "ＳＴＯＰ")."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


@FAST
@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30))
def test_fold_ignores_case_and_width(text: str) -> None:
    assert fold(text.upper()) == fold(text.lower()) == fold(fullwidth(text)) == fold(text)


@FAST
@given(st.text(alphabet="abcnoy s", max_size=20))
def test_squeeze_leaves_no_runs(text: str) -> None:
    squeezed = squeeze(text)
    assert squeeze(squeezed) == squeezed
    assert all(a != b or not a.isalpha() for a, b in pairwise(squeezed))
