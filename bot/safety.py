"""Spot crisis and adverse-event language in any inbound message: deterministic, in every shipped language.

This is the lexicon tier of RELIABILITY §4.1 (SAF-05). It runs on every message before anything else,
so it never raises, never reads the participant's language setting (a Spanish speaker may be set to
English), and takes time linear in the message. The word lists live in flows/safety.yaml; this module
only normalises text and matches it. It decides nothing about seriousness (SAF-04): it says which
lexicon entries matched, at which level and severity, and the caller alerts staff.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.text import fold, squeeze
from bot.yaml_files import load_yaml

# Levels, severities and categories of a SafetyMatch.
CRISIS = "crisis"
ADVERSE_EVENT = "adverse_event"
URGENT = "urgent"
HIGH = "high"
RED_FLAG = "red_flag"
ER_OR_HOSPITAL = "er_or_hospital"
PREGNANCY = "pregnancy"
MEDICATION_ERROR = "medication_error"

# When one message matches several adverse-event lists, the category is the first of these: a red flag
# changes the reply ("call 911 first"), a hospital stay is a possible SAE, the rest are reported alike.
_AE_PRIORITY = (RED_FLAG, ER_OR_HOSPITAL, MEDICATION_ERROR, PREGNANCY, ADVERSE_EVENT)
# YAML list name -> category.
_AE_LISTS = {
    "symptoms": ADVERSE_EVENT,
    "er_or_hospital": ER_OR_HOSPITAL,
    "pregnancy": PREGNANCY,
    "medication_error": MEDICATION_ERROR,
    "red_flags": RED_FLAG,
}

# How many words may stand between a "before" softener and the crisis phrase it softens. Three covers
# "the survey asked [if I] want to die" and "no [estoy pensando en] suicidarme"; more would let a stray
# "not" soften a real crisis further along the sentence.
_SOFTENER_GAP = 3
# Fuzzy words must be long: one typo away from a short word is another ordinary word.
_FUZZY_MIN_LENGTH = 7
# Letters typed apart ("k i l l m y s e l f") are joined when at least this many single letters follow
# each other; "a", "i", "y", "o" and "e" are words, so two in a row are ordinary text.
_SPREAD_MIN_LETTERS = 3
# Inside joined letters, only entries at least this long are searched for as substrings.
_SPREAD_MIN_ENTRY = 5
# At most this many spellings of one entry (each word with or without its doubled letters).
_MAX_VARIANTS = 16

# Placeholders in lexicon entries. They cannot collide with message words: folding drops "<" and ">".
_NUMBER = "<number>"
_END = "<end>"
_PLACEHOLDER = re.compile(r"(<number>|<end>)")

# Clauses end at sentence punctuation and line breaks, so "No. I want to die" is not softened by "No".
# A full stop or colon only counts after a word of 2+ characters followed by a space, so "k.i.l.l" and
# "3.5" stay whole; a comma counts unless it sits inside a number ("1,000").
_CLAUSE_END = re.compile(
    r"[!?;¡¿…\n\r\u2028\u2029。！？；，]+"
    r"|\.{2,}"
    r"|(?<!\d),|,(?!\d)"
    r"|(?<=\w\w)[.:]+(?=\s|$)"
)
# Symbols used as letters inside a word ("k!ll", "$uicide", "h@ng myself"): fold would turn them into
# word breaks, so the lenient pass swaps them for letters first.
_SYMBOL_LETTERS = {"@": "a", "$": "s", "!": "i", "|": "l"}
_SYMBOL_IN_WORD = re.compile(r"(?<=[^\W\d_])[@$!|](?=[^\W\d_])|(?<![^\W_])[$@](?=[^\W\d_]{2})")
# Digits used as letters inside a word ("k1ll", "su1cide", "0verdose", "d13").
_DIGIT_LETTERS = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b"})
# Emoji are matched on the raw text, where variation selectors and skin tones would get in the way.
_EMOJI_NOISE = re.compile("[\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]")

# Roles a lexicon phrase can play.
_CRISIS_ROLE = "crisis"
_AE_ROLE = "adverse_event"
_BEFORE = "before"
_SAME_CLAUSE = "same_clause"
_FIGURATIVE = "figurative"
_CANCEL = "cancel"
_EXCLUSION = "exclusion"


class SafetyLexiconError(Exception):
    """The safety lexicon file is missing or malformed; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class SafetyMatch:
    """What the safety check found in one message.

    `matched` holds lexicon entries as written in flows/safety.yaml, never the participant's own words,
    so it can go into an alert without copying what they wrote (RELIABILITY §3.5). It is still health
    information about a person: keep it away from logs that identify them.
    """

    level: str  # "crisis" | "adverse_event"
    severity: str  # "urgent" | "high"
    category: str  # "crisis", "adverse_event", "red_flag", "er_or_hospital", "pregnancy", "medication_error"
    matched: tuple[str, ...]


# ---------------------------------------------------------------------------------------------
# The file
# ---------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    # Not pydantic's strict mode (it would refuse YAML lists for tuples), but no coercion to str happens
    # anyway: an unquoted no / yes / 911 in the file is a bool or an int, and is rejected.
    model_config = ConfigDict(extra="forbid", frozen=True)


class _SoftenerFile(_Strict):
    before: tuple[str, ...] = ()
    same_clause: tuple[str, ...] = ()
    figurative: tuple[str, ...] = ()
    cancelled_by: tuple[str, ...] = ()


class _CrisisFile(_Strict):
    explicit: tuple[str, ...] = ()
    implicit: tuple[str, ...] = ()
    misspelled: tuple[str, ...] = ()
    fuzzy: tuple[str, ...] = ()
    softeners: _SoftenerFile = _SoftenerFile()


class _AdverseEventFile(_Strict):
    symptoms: tuple[str, ...] = ()
    er_or_hospital: tuple[str, ...] = ()
    pregnancy: tuple[str, ...] = ()
    medication_error: tuple[str, ...] = ()
    red_flags: tuple[str, ...] = ()
    exclusions: tuple[str, ...] = ()


class _LocaleFile(_Strict):
    rewrites: dict[str, str] = {}
    clause_breaks: tuple[str, ...] = ()
    crisis: _CrisisFile
    adverse_event: _AdverseEventFile = _AdverseEventFile()


class _EmojiAdverseEventFile(_Strict):
    symptoms: tuple[str, ...] = ()
    er_or_hospital: tuple[str, ...] = ()
    pregnancy: tuple[str, ...] = ()
    medication_error: tuple[str, ...] = ()
    red_flags: tuple[str, ...] = ()


class _EmojiFile(_Strict):
    crisis: tuple[str, ...] = ()
    adverse_event: _EmojiAdverseEventFile = _EmojiAdverseEventFile()


class _SafetyFile(_Strict):
    locales: dict[str, _LocaleFile] = Field(min_length=1)
    emoji: _EmojiFile = _EmojiFile()


# ---------------------------------------------------------------------------------------------
# Compiled form
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Role:
    """What one lexicon entry does when it matches."""

    kind: str  # one of the _*_ROLE / softener kinds above
    category: str  # the SafetyMatch category for crisis and adverse-event entries, else ""
    entry: str  # as written in the file
    locale: str  # "" for emoji


@dataclass(frozen=True, slots=True)
class _Hit:
    start: int  # token index
    end: int  # exclusive
    role: _Role


@dataclass(frozen=True, slots=True)
class _Tokens:
    words: list[str]
    clause: list[int]  # clause number of each word
    ends: frozenset[int]  # i such that a clause ends just before words[i] (len(words) included)
    spread: frozenset[int]  # indexes of words joined from letters typed apart


@dataclass(frozen=True, slots=True)
class _Table:
    """Phrases in one token form (exact, or lenient), ready for an n-gram scan."""

    lenient: bool
    phrases: dict[tuple[str, ...], tuple[_Role, ...]]
    prefixes: frozenset[tuple[str, ...]]  # every prefix of every phrase: the scan stops at a dead end
    numbered: dict[tuple[str, ...], tuple[_Role, ...]]  # phrases with <number>
    numbered_prefixes: frozenset[tuple[str, ...]]
    joined: dict[str, tuple[_Role, ...]]  # "killmyself" typed as one word
    spread: tuple[tuple[str, tuple[_Role, ...]], ...]  # searched inside letters typed apart
    rewrites: dict[tuple[str, ...], tuple[str, ...]]
    rewrite_longest: int
    clause_breaks: frozenset[str]
    fuzzy: dict[str, str]  # a word with one letter deleted -> the fuzzy word
    fuzzy_lengths: frozenset[int]


@dataclass(frozen=True, slots=True)
class SafetyLexicon:
    """The safety lexicon of every locale, folded and compiled, ready for `assess`."""

    source: Path
    locales: tuple[str, ...]
    _exact: _Table
    _lenient: _Table
    _emoji: tuple[tuple[str, _Role], ...]


# ---------------------------------------------------------------------------------------------
# Normalisation, shared by messages and lexicon entries so both always agree
# ---------------------------------------------------------------------------------------------


def _deleet(word: str) -> str:
    # Only words mixing letters and digits: "911", "10" and "2026" stay numbers.
    if word.isalpha() or not any(ch.isdigit() for ch in word) or not any(ch.isalpha() for ch in word):
        return word
    return word.translate(_DIGIT_LETTERS)


def _join_spread(words: list[str]) -> tuple[list[str], set[int]]:
    """Join runs of single letters ("k i l l") into one word; return the words and the joined indexes."""
    out: list[str] = []
    joined: set[int] = set()
    run: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1 and word.isalpha():
            run.append(word)
            continue
        if len(run) >= _SPREAD_MIN_LETTERS:
            joined.add(len(out))
            out.append("".join(run))
        else:
            out.extend(run)
        run = []
        if word:
            out.append(word)
    return out, joined


def _deletions(word: str) -> Iterable[str]:
    return (word[:i] + word[i + 1 :] for i in range(len(word)))


def _unfuzz(word: str, table: _Table) -> str:
    """The fuzzy word this word is one typo away from, or the word itself (symmetric-delete check)."""
    if len(word) not in table.fuzzy_lengths:
        return word
    if word in table.fuzzy:  # a letter missing ("sucide"), or the word itself
        return table.fuzzy[word]
    for shorter in _deletions(word):  # a letter extra, wrong or swapped
        if shorter in table.fuzzy:
            return table.fuzzy[shorter]
    return word


def _rewrite(words: list[str], table: _Table) -> list[str]:
    if not table.rewrites:
        return words
    out: list[str] = []
    i = 0
    while i < len(words):
        for size in range(min(table.rewrite_longest, len(words) - i), 0, -1):
            replacement = table.rewrites.get(tuple(words[i : i + size]))
            if replacement is not None:
                out.extend(replacement)
                i += size
                break
        else:
            out.append(words[i])
            i += 1
    return out


def _clause_words(clause: str, table: _Table, folder: Callable[[str], str] = fold) -> tuple[list[str], set[int]]:
    """The words of one clause in the table's form, and which of them were letters typed apart."""
    words = folder(clause).split()
    spread: set[int] = set()
    if table.lenient:
        words, spread = _join_spread([_deleet(w) for w in words])
        words = [_unfuzz(w, table) for w in words]
        if spread:  # rewrites could shift indexes; a spread-out message is rare, so skip them there
            return words, spread
    return _rewrite(words, table), spread


def _tokens(text: str, table: _Table) -> _Tokens:
    """Split a message into words, numbering the clause of each.

    Clauses only scope softeners and <end>: phrases match across them, so "I want to... die" and
    "kill—myself" still match.
    """
    if table.lenient:
        text = _SYMBOL_IN_WORD.sub(lambda m: _SYMBOL_LETTERS[m.group()], text)
    words: list[str] = []
    clause: list[int] = []
    ends: set[int] = set()
    spread: set[int] = set()
    number = 0
    for part in _CLAUSE_END.split(text):
        part_words, part_spread = _clause_words(part, table)
        for index, word in enumerate(part_words):
            if index and word in table.clause_breaks:
                # "but", "pero"...: the clause before ends here, and the break word opens the next one.
                ends.add(len(words))
                number += 1
            if index in part_spread:
                spread.add(len(words))
            words.append(word)
            clause.append(number)
        if part_words:
            ends.add(len(words))
            number += 1
    return _Tokens(words, clause, frozenset(ends), frozenset(spread))


@lru_cache(maxsize=16384)
def _fold_entry(entry: str) -> str:
    """`fold` for lexicon entries, remembered: both tables fold the same few thousand entries at start-up.
    (Never used for messages, which are not kept in memory.)"""
    return fold(entry)


def _entry_words(entry: str, table: _Table) -> tuple[str, ...]:
    """An entry in the table's token form, with <number> and <end> kept as placeholders."""
    out: list[str] = []
    for piece in _PLACEHOLDER.split(entry):
        if piece in (_NUMBER, _END):
            out.append(piece)
        elif piece.strip():
            out.extend(_clause_words(piece, table, _fold_entry)[0])
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------------------------


def _scan(
    words: list[str],
    ends: frozenset[int],
    phrases: Mapping[tuple[str, ...], tuple[_Role, ...]],
    prefixes: frozenset[tuple[str, ...]],
    hits: list[_Hit],
) -> None:
    """Append every phrase occurrence; each start costs at most one step per word of the longest phrase."""
    for start in range(len(words)):
        key: tuple[str, ...] = ()
        for stop in range(start, len(words)):
            key = (*key, words[stop])
            if key not in prefixes:
                break
            for role in phrases.get(key, ()):
                hits.append(_Hit(start, stop + 1, role))
            if stop + 1 in ends:  # "cant go on <end>"
                for role in phrases.get((*key, _END), ()):
                    hits.append(_Hit(start, stop + 1, role))


def _hits(text: str, table: _Table) -> tuple[_Tokens, list[_Hit]]:
    tokens = _tokens(text, table)
    words = tokens.words
    hits: list[_Hit] = []
    _scan(words, tokens.ends, table.phrases, table.prefixes, hits)
    if table.numbered and any(w.isascii() and w.isdigit() for w in words):
        numbered = [_NUMBER if w.isascii() and w.isdigit() else w for w in words]
        _scan(numbered, tokens.ends, table.numbered, table.numbered_prefixes, hits)
    for index, word in enumerate(words):
        for role in table.joined.get(word, ()):
            hits.append(_Hit(index, index + 1, role))
    for index in tokens.spread:
        letters = words[index]
        for key, roles in table.spread:
            if key in letters:
                hits.extend(_Hit(index, index + 1, role) for role in roles)
    return tokens, hits


def _overlaps(a: _Hit, b: _Hit) -> bool:
    return a.start < b.end and b.start < a.end


def _covered(hits: Iterable[_Hit]) -> set[int]:
    return {i for h in hits for i in range(h.start, h.end)}


@dataclass(frozen=True, slots=True)
class _Context:
    """Where the softeners and exclusions of one pass are, indexed so each check is O(phrase length)."""

    tokens: _Tokens
    figurative: set[int]  # token indexes inside a figurative phrase
    excluded: set[int]  # token indexes inside an exclusion
    laughing: set[int]  # clauses with a same-clause softener
    before: set[tuple[str, int]]  # (locale, end index) of every "before" softener

    @classmethod
    def of(cls, tokens: _Tokens, hits: list[_Hit]) -> _Context:
        """Index the softeners and exclusions among one pass's hits."""
        return cls(
            tokens=tokens,
            figurative=_covered(h for h in hits if h.role.kind == _FIGURATIVE),
            excluded=_covered(h for h in hits if h.role.kind == _EXCLUSION),
            laughing={tokens.clause[h.start] for h in hits if h.role.kind == _SAME_CLAUSE},
            before={(h.role.locale, h.end) for h in hits if h.role.kind == _BEFORE},
        )

    def softened(self, hit: _Hit, locales: frozenset[str]) -> bool:
        """Whether a crisis hit reads as negated, quoted or figurative (it still escalates, at "high").

        `locales` are the languages of every crisis entry found on the same words: "suicida" (es) and
        "suicidal" (en) are one word apart, so both match "suicidal" in the lenient pass.
        """
        if any(i in self.figurative for i in range(hit.start, hit.end)):
            return True
        clause = self.tokens.clause
        if clause[hit.start] in self.laughing:
            return True  # laughter is not tied to a language: "jaja" softens English too
        # Negation is: a Spanish "no" before an English phrase ("No I want to die") is not a negation.
        for end in range(hit.start, max(hit.start - _SOFTENER_GAP, 1) - 1, -1):
            if clause[end - 1] == clause[hit.start] and any((locale, end) in self.before for locale in locales):
                return True
        return False

    def excludes(self, hit: _Hit) -> bool:
        """Whether an adverse-event hit overlaps an exclusion ("Saturday Night Fever")."""
        return any(i in self.excluded for i in range(hit.start, hit.end))


def assess(text: str, lexicon: SafetyLexicon | None = None) -> SafetyMatch | None:
    """Return the safety signal in a message (crisis beats adverse event), or None if there is none."""
    if lexicon is None:
        lexicon = shipped_safety_lexicon()
    passes = [_hits(text, lexicon._exact), _hits(text, lexicon._lenient)]
    cancelled = any(h.role.kind == _CANCEL for _, hits in passes for h in hits)

    crisis: dict[str, bool] = {}  # entry -> softened (False wins), in order of discovery
    adverse: dict[str, str] = {}  # entry -> category
    for tokens, hits in passes:
        context = _Context.of(tokens, hits)
        span_locales: dict[tuple[int, int], set[str]] = {}
        for hit in hits:
            if hit.role.kind == _CRISIS_ROLE:
                span_locales.setdefault((hit.start, hit.end), set()).add(hit.role.locale)
        for hit in sorted(hits, key=lambda h: (h.start, -h.end)):
            role = hit.role
            if role.kind == _CRISIS_ROLE:
                soft = not cancelled and context.softened(hit, frozenset(span_locales[hit.start, hit.end]))
                crisis[role.entry] = crisis.get(role.entry, True) and soft
            elif role.kind == _AE_ROLE and not context.excludes(hit):
                adverse.setdefault(role.entry, role.category)

    # Emoji: a crisis emoji is never softened (nothing in the words can say it is a figure of speech).
    plain = _EMOJI_NOISE.sub("", text) if not text.isascii() else ""
    for emoji, role in lexicon._emoji if plain else ():
        if emoji in plain:
            if role.kind == _CRISIS_ROLE:
                crisis[role.entry] = False
            else:
                adverse.setdefault(role.entry, role.category)

    if crisis:
        severity = HIGH if all(crisis.values()) else URGENT
        return SafetyMatch(CRISIS, severity, CRISIS, tuple(crisis))
    if adverse:
        category = next(c for c in _AE_PRIORITY if c in adverse.values())
        # SAF-04 / RELIABILITY §4.2 T1: every adverse event is "high"; a red flag is "urgent" because
        # the reply must tell the participant to call 911 first and staff must see it at once.
        severity = URGENT if category == RED_FLAG else HIGH
        return SafetyMatch(ADVERSE_EVENT, severity, category, tuple(adverse))
    return None


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _distinct(roles: Iterable[_Role]) -> tuple[_Role, ...]:
    """One role per kind, category and locale: the first entry written wins.

    In the lenient form many entries become one key ("sucide", "suicde" and "suicide" are all
    "suicide"); reporting the first (the correct spelling, listed before the misspellings) is enough.
    """
    kept: dict[tuple[str, str, str], _Role] = {}
    for role in roles:
        kept.setdefault((role.kind, role.category, role.locale), role)
    return tuple(kept.values())


def _table(
    lenient: bool,
    rewrites: dict[tuple[str, ...], tuple[str, ...]],
    clause_breaks: frozenset[str],
    fuzzy: dict[str, str],
    phrases: Mapping[tuple[str, ...], list[_Role]] | None = None,
    joined: Mapping[str, list[_Role]] | None = None,
) -> _Table:
    """Freeze collected entries into a table (with no entries: a table that only normalises words)."""
    found = dict(phrases or {})
    plain = {k: _distinct(v) for k, v in found.items() if _NUMBER not in k}
    numbered = {k: _distinct(v) for k, v in found.items() if _NUMBER in k}
    spread: dict[str, list[_Role]] = {}
    for key, roles in plain.items():
        letters = "".join(w for w in key if w != _END)
        wanted = [r for r in roles if r.kind in (_CRISIS_ROLE, _AE_ROLE)]
        if len(letters) >= _SPREAD_MIN_ENTRY and wanted:
            spread.setdefault(letters, []).extend(wanted)

    def prefixes(keys: Iterable[tuple[str, ...]]) -> frozenset[tuple[str, ...]]:
        return frozenset(key[:size] for key in keys for size in range(1, len(key) + 1))

    return _Table(
        lenient=lenient,
        phrases=plain,
        prefixes=prefixes(plain),
        numbered=numbered,
        numbered_prefixes=prefixes(numbered),
        joined={word: _distinct(roles) for word, roles in (joined or {}).items()},
        spread=tuple((letters, _distinct(roles)) for letters, roles in spread.items()),
        rewrites=rewrites,
        rewrite_longest=max((len(k) for k in rewrites), default=0),
        clause_breaks=clause_breaks,
        fuzzy=fuzzy,
        fuzzy_lengths=frozenset(n for w in set(fuzzy.values()) for n in (len(w) - 1, len(w), len(w) + 1)),
    )


def _undoubled(words: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The entry, and the entry with doubled letters typed once, word by word ("kil myself", "bleding").

    Only entries get these variants; a message is never squeezed, or "feel" and "fell" would become one
    word ("fel") and "I feel fine" would read as a fall.
    """
    variants: list[tuple[str, ...]] = [()]
    for word in words:
        forms = dict.fromkeys((word, word if word in (_NUMBER, _END) else squeeze(word)))
        variants = [(*v, form) for v in variants for form in forms][:_MAX_VARIANTS]
    return variants


def _entry_problem(words: tuple[str, ...]) -> str:
    if not [w for w in words if w not in (_NUMBER, _END)]:
        return "has no letters or digits left once folded"
    if _END in words[:-1]:
        return "has <end> before its last word"
    return ""


def _checked(path: Path, where: str, entries: Iterable[str]) -> list[str]:
    """The entries, once each is known to keep some letters or digits after folding."""
    kept = list(entries)
    for entry in kept:
        if not fold(_PLACEHOLDER.sub(" ", entry)):
            raise SafetyLexiconError(f"{path}: {where}: {entry!r} has no letters or digits left once folded")
    return kept


def _normaliser(path: Path, raw: _SafetyFile, lenient: bool) -> _Table:
    """A table with no entries: every locale's fuzzy words, rewrites and clause breaks, in one form.

    Built in steps, each normalising its words with what the previous steps built, so rewrites and
    entries are put in exactly the form a message is put in.
    """
    fuzzy: dict[str, str] = {}
    bases: set[str] = set()
    for locale, spec in raw.locales.items():
        where = f"locales.{locale}.crisis.fuzzy"
        crisis = spec.crisis
        crisis_words = {w for e in (*crisis.explicit, *crisis.implicit, *crisis.misspelled) for w in fold(e).split()}
        for word in (fold(w) for w in _checked(path, where, spec.crisis.fuzzy)):
            if " " in word or len(word) < _FUZZY_MIN_LENGTH:
                raise SafetyLexiconError(f"{path}: {where}: {word!r} must be one word of {_FUZZY_MIN_LENGTH}+ letters")
            if word not in crisis_words:
                raise SafetyLexiconError(f"{path}: {where}: {word!r} is not a word of any crisis entry")
            if lenient:
                bases.add(word)
                fuzzy.update((shorter, word) for shorter in _deletions(word))
    fuzzy.update((base, base) for base in bases)  # a fuzzy word is never "corrected" into another one
    bare = _table(lenient, {}, frozenset(), fuzzy)
    rewrites: dict[tuple[str, ...], tuple[str, ...]] = {}
    breaks: set[str] = set()
    for locale, spec in raw.locales.items():
        _checked(path, f"locales.{locale}.rewrites", [*spec.rewrites, *spec.rewrites.values()])
        for source, target in spec.rewrites.items():
            rewrites[_entry_words(source, bare)] = _entry_words(target, bare)
        for word in _checked(path, f"locales.{locale}.clause_breaks", spec.clause_breaks):
            words = _entry_words(word, bare)
            if len(words) != 1:
                raise SafetyLexiconError(f"{path}: locales.{locale}.clause_breaks: {word!r} must be one word")
            breaks.add(words[0])
    return _table(lenient, rewrites, frozenset(breaks), fuzzy)


def _compile(path: Path, raw: _SafetyFile, lenient: bool) -> _Table:
    normaliser = _normaliser(path, raw, lenient)
    phrases: dict[tuple[str, ...], list[_Role]] = {}
    joined: dict[str, list[_Role]] = {}

    def add(where: str, entry: str, role: _Role) -> None:
        words = _entry_words(entry, normaliser)
        problem = _entry_problem(words)
        if problem:
            raise SafetyLexiconError(f"{path}: {where}: {entry!r} {problem}")
        for variant in _undoubled(words) if lenient else (words,):
            phrases.setdefault(variant, []).append(role)
            plain = [w for w in variant if w != _END]
            # "killmyself", "nowayout": a multi-word entry typed as one word still matches.
            if role.kind in (_CRISIS_ROLE, _AE_ROLE) and len(plain) > 1 and _NUMBER not in plain:
                joined.setdefault("".join(plain), []).append(role)

    for locale, spec in raw.locales.items():
        where = f"locales.{locale}"
        crisis = spec.crisis
        for name in ("explicit", "implicit", "misspelled"):
            for entry in _checked(path, f"{where}.crisis.{name}", getattr(crisis, name)):
                add(f"{where}.crisis.{name}", entry, _Role(_CRISIS_ROLE, CRISIS, entry, locale))
        for name, kind in (
            ("before", _BEFORE),
            ("same_clause", _SAME_CLAUSE),
            ("figurative", _FIGURATIVE),
            ("cancelled_by", _CANCEL),
        ):
            for entry in _checked(path, f"{where}.crisis.softeners.{name}", getattr(crisis.softeners, name)):
                add(f"{where}.crisis.softeners.{name}", entry, _Role(kind, "", entry, locale))
        for name, category in _AE_LISTS.items():
            for entry in _checked(path, f"{where}.adverse_event.{name}", getattr(spec.adverse_event, name)):
                add(f"{where}.adverse_event.{name}", entry, _Role(_AE_ROLE, category, entry, locale))
        for entry in _checked(path, f"{where}.adverse_event.exclusions", spec.adverse_event.exclusions):
            add(f"{where}.adverse_event.exclusions", entry, _Role(_EXCLUSION, "", entry, locale))
    return _table(lenient, normaliser.rewrites, normaliser.clause_breaks, normaliser.fuzzy, phrases, joined)


def _check_patterns(path: Path, raw: _SafetyFile, table: _Table) -> None:
    """A figurative phrase must touch a crisis entry, and an exclusion an adverse-event entry."""
    for locale, spec in raw.locales.items():
        for where, entries, kind, needed in (
            (
                f"locales.{locale}.crisis.softeners.figurative",
                spec.crisis.softeners.figurative,
                _FIGURATIVE,
                _CRISIS_ROLE,
            ),
            (f"locales.{locale}.adverse_event.exclusions", spec.adverse_event.exclusions, _EXCLUSION, _AE_ROLE),
        ):
            for entry in entries:
                sample = _PLACEHOLDER.sub(lambda m: "12" if m.group() == _NUMBER else ".", entry)
                _, hits = _hits(sample, table)
                own = [h for h in hits if h.role.kind == kind and h.role.entry == entry]
                if not any(_overlaps(o, h) for o in own for h in hits if h.role.kind == needed):
                    what = "crisis" if needed == _CRISIS_ROLE else "adverse-event"
                    raise SafetyLexiconError(f"{path}: {where}: {entry!r} contains no {what} entry, so it does nothing")


def _emoji(path: Path, raw: _SafetyFile) -> tuple[tuple[str, _Role], ...]:
    found: list[tuple[str, _Role]] = []
    lists = [("emoji.crisis", raw.emoji.crisis, _CRISIS_ROLE, CRISIS)] + [
        (f"emoji.adverse_event.{name}", getattr(raw.emoji.adverse_event, name), _AE_ROLE, category)
        for name, category in _AE_LISTS.items()
    ]
    for where, entries, kind, category in lists:
        for entry in entries:
            plain = _EMOJI_NOISE.sub("", entry)
            if not plain.strip() or fold(plain):
                raise SafetyLexiconError(f"{path}: {where}: {entry!r} must be emoji only (words go in locales)")
            found.append((plain, _Role(kind, category, entry, "")))
    return tuple(found)


def _pydantic_problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'top level'}: {e['msg']}" for e in exc.errors())


def load_safety_lexicon(path: Path | str) -> SafetyLexicon:
    """Load, check and compile a safety lexicon file; raise SafetyLexiconError naming the file and key."""
    path = Path(path)
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SafetyLexiconError(f"{path}: cannot read it ({exc})") from None
    try:
        raw = _SafetyFile.model_validate(data)
    except ValidationError as exc:
        raise SafetyLexiconError(f"{path}: {_pydantic_problems(exc)}") from None
    if not any(s.crisis.explicit for s in raw.locales.values()):
        raise SafetyLexiconError(f"{path}: locales: no locale has crisis.explicit entries")
    exact = _compile(path, raw, lenient=False)
    _check_patterns(path, raw, exact)
    return SafetyLexicon(
        source=path,
        locales=tuple(raw.locales),
        _exact=exact,
        _lenient=_compile(path, raw, lenient=True),
        _emoji=_emoji(path, raw),
    )


def safety_lexicon_path() -> Path:
    """Where the shipped safety lexicon lives."""
    return Path(str(resources.files("flows") / "safety.yaml"))


@cache
def shipped_safety_lexicon() -> SafetyLexicon:
    """The safety lexicon shipped with trialbot, loaded once."""
    return load_safety_lexicon(safety_lexicon_path())
