"""Text hygiene: make inbound text safe to store, and fold it into a form for matching words.

`sanitize` is applied once at ingress so every backend stores the same thing (PostgreSQL rejects NUL
bytes, and no database accepts lone surrogates). `fold` is only for matching: it never replaces what
the patient wrote.
"""

from __future__ import annotations

import re
import unicodedata

# Letters from other scripts that look like Latin ones, so "SТОР" written with Cyrillic letters still
# reads as "stop" (RELIABILITY §5 #14). Applied after casefolding.
_CONFUSABLES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d", "ո": "n",
        "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",
    }
)  # fmt: skip
_DROPPED_CATEGORIES = frozenset({"Mn", "Me", "Cf", "Cc", "Cs", "Co", "Cn"})
_RUN_OF_THREE = re.compile(r"([a-z])\1{2,}")
_ANY_RUN = re.compile(r"([a-z])\1+")
_SPACES = re.compile(r"\s+")


def sanitize(text: str) -> str:
    """Return text that every database can store: NUL and lone surrogates become U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (e.g. from a JSON "\ud800" escape) cannot be encoded; pairs are kept.
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _fold_char(ch: str) -> str:
    if ch.isspace():  # before the category check: tab, CR and LF are controls (Cc) but separate words
        return " "
    category = unicodedata.category(ch)
    if category in _DROPPED_CATEGORIES:
        return ""
    if category == "Nd":
        return str(unicodedata.decimal(ch))
    if ch.isalnum():
        return ch
    if ch in "'’`":  # "don't" and "dont" should match the same word
        return ""
    return " "


_ASCII_FOLD = {code: _fold_char(chr(code)) for code in range(128)}


def fold(text: str) -> str:
    """Fold text for matching: no case, accents, format characters, punctuation or symbols.

    Idempotent. Letters repeated three or more times are collapsed ("yesss" → "yes"), and digits of
    any script become ASCII digits.
    """
    if text.isascii():  # most messages: one table lookup per character gives the same result
        folded = text.translate(_ASCII_FOLD).lower().translate(_CONFUSABLES)
        return _SPACES.sub(" ", _RUN_OF_THREE.sub(r"\1", folded)).strip()
    return fold_any(text)


def fold_any(text: str) -> str:
    """`fold` without the ASCII shortcut: the reference the shortcut is tested against."""
    decomposed = unicodedata.normalize("NFKD", text)
    folded = "".join(_fold_char(ch) for ch in decomposed).casefold()
    # Casefolding can itself produce combining marks (e.g. "İ"); decompose and drop them again.
    folded = "".join(
        ch for ch in unicodedata.normalize("NFKD", folded) if unicodedata.category(ch) not in _DROPPED_CATEGORIES
    )
    folded = folded.translate(_CONFUSABLES)
    folded = _RUN_OF_THREE.sub(r"\1", folded)
    return _SPACES.sub(" ", folded).strip()


def squeeze(folded: str) -> str:
    """Collapse every run of a repeated letter, for lenient matching of short answers ("noo")."""
    return _ANY_RUN.sub(r"\1", folded)


def words(text: str) -> list[str]:
    """Return the folded words of a text."""
    return fold(text).split()
