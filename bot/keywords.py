"""Global keywords: STOP, START, HELP, a person, and language, recognised in every state and language.

Only whole-message forms count for the short keywords, so "don't stop" or "when do the visits stop?"
are answers, not opt-outs; opt-out and person phrases ("please stop texting me") count anywhere.
A whole message that is a near miss of a STOP word ("stopp", "S T O P", "st0p") is not an opt-out, but
is not passed over either: the patient is asked whether they meant STOP (RELIABILITY §5 #36).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from bot.text import fold
from bot.vocabulary import Keyword, Vocabulary


class Intent(Enum):
    """What a global keyword asks for."""

    STOP = "stop"
    MAYBE_STOP = "maybe_stop"  # a near miss of a STOP word: ask, do not act
    START = "start"
    HELP = "help"
    PERSON = "person"
    LANGUAGE = "language"
    LEAVE = "leave"
    FLOW = "flow"


@dataclass(frozen=True, slots=True)
class KeywordMatch:
    """A recognised keyword: the intent, the folded words that matched, and a language if one was named."""

    intent: Intent
    matched: str
    locale: str | None = None
    flow: str | None = None


def _contains(words: list[str], phrase: tuple[str, ...]) -> bool:
    if phrase[0] not in words:  # most phrases fail here, without a tuple built per position
        return False
    size = len(phrase)
    return any(tuple(words[i : i + size]) == phrase for i in range(len(words) - size + 1))


def _core(words: list[str], vocabulary: Vocabulary) -> str:
    """The message without politeness words, or "" if nothing else is left."""
    kept = [w for w in words if w not in vocabulary.fillers]
    # Two-word fillers such as "por favor" and "thank you".
    text = " ".join(kept)
    for filler in sorted(vocabulary.fillers, key=len, reverse=True):
        if " " in filler:
            text = f" {text} ".replace(f" {filler} ", " ").strip()
    return text


def _exact(core: str, keyword: Keyword) -> bool:
    if core in keyword.exact:
        return True
    # "STOP STOP" or "stop, stop!" is still STOP.
    words = core.split()
    return len(words) > 1 and all(w in keyword.exact for w in words)


_LOOKALIKES = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
"""Digits and signs typed for letters. Never "1" for "l": "4170" must not read as "alto"."""


def _squeezed(word: str) -> str:
    """Runs of one letter made single: "stoppp" and "sttop" become "stop"."""
    return "".join(c for i, c in enumerate(word) if i == 0 or c != word[i - 1])


def _near_miss(core: str, keyword: Keyword) -> bool:
    """True if the whole message is a STOP word typed with spaces between letters, look-alike digits, or
    a letter held down, but is not the word itself."""
    if len(core) > 30 or not any(c.isalpha() for c in core):
        return False
    words = core.split()
    joined = "".join(words) if len(words) > 1 and all(len(w) == 1 for w in words) else core
    candidate = _squeezed(joined.translate(_LOOKALIKES))
    return any(
        candidate == _squeezed(word) for word in keyword.exact if " " not in word and len(word) >= 3 and word != core
    )


def classify(text: str, vocabulary: Vocabulary, *, opted_out: bool = False) -> KeywordMatch | None:
    """Return the global keyword in a message, or None if it is an ordinary message."""
    if text.strip() == "?":
        return KeywordMatch(Intent.HELP, "?")
    folded = fold(text[:500])  # keywords are short; a long message is an answer or a story
    words = folded.split()
    core = _core(words, vocabulary)
    if not core:
        return None
    keywords = vocabulary.keywords
    stop = keywords["stop"]
    if _exact(core, stop):
        return KeywordMatch(Intent.STOP, core)
    for phrase in stop.phrases:
        if _contains(words, phrase):
            return KeywordMatch(Intent.STOP, " ".join(phrase))
    start = keywords["start"]
    if _exact(core, start) or (opted_out and core in start.when_opted_out):
        return KeywordMatch(Intent.START, core)
    if _exact(core, keywords["help"]):
        return KeywordMatch(Intent.HELP, core)
    if core in vocabulary.language_menu:
        return KeywordMatch(Intent.LANGUAGE, core)
    for locale, names in vocabulary.language_choices.items():
        if core in names:
            return KeywordMatch(Intent.LANGUAGE, core, locale)
    for flow, flow_words in vocabulary.start_flow.items():
        if core in flow_words:
            return KeywordMatch(Intent.FLOW, core, flow=flow)
    leave = keywords.get("leave")
    if leave is not None:
        for phrase in leave.phrases:
            if _contains(words, phrase):
                return KeywordMatch(Intent.LEAVE, " ".join(phrase))
    person = keywords["person"]
    if core in person.exact:
        return KeywordMatch(Intent.PERSON, core)
    for phrase in person.phrases:
        if _contains(words, phrase):
            return KeywordMatch(Intent.PERSON, " ".join(phrase))
    if not opted_out and _near_miss(core, stop):
        return KeywordMatch(Intent.MAYBE_STOP, core)
    return None
