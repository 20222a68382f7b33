"""Readability scores for patient text: Flesch–Kincaid grade (English), Fernández-Huerta ease (Spanish).

Pure functions with no I/O and nothing to download (PL-02..PL-04). The scores are only as good as the
syllable counts, and these are heuristics: good enough to compare whole scripts with a threshold,
not to judge one SMS (formulas are unreliable on short text, PL-02), and never a substitute for a
human reading the text.

Before counting, text is normalised so that what the patient reads is what is scored: a
`{placeholder}`, a URL, an e-mail address or a phone number counts as one short word (like "it"), a
number, date or time ("9:30 AM", "3/2024", "12:00 p. m.") as one one-syllable word. Sentences end at
`.`, `!`, `?`, `…` and line breaks; Spanish `¿` and `¡` are ignored.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["Readability", "count_syllables_en", "count_syllables_es", "ease_to_grade", "grade", "measure"]

# ---------------------------------------------------------------------------------------------
# English syllables
# ---------------------------------------------------------------------------------------------

# Common words the rules below get wrong, with their usual (CMU dictionary) counts. Keep it small:
# a rule that fixes a family of words is better than a list of them.
_EN_EXCEPTIONS: dict[str, int] = {
    "area": 3, "areas": 3, "behavior": 3, "behaviour": 3, "business": 2, "businesses": 3,
    "caregiver": 3, "caregivers": 3, "create": 2, "created": 3, "creates": 2, "creating": 3, "elsewhere": 2,
    "evening": 2, "evenings": 2, "every": 2, "idea": 3, "ideas": 3, "lifetime": 2, "maybe": 2, "ok": 2,
    "okay": 2, "poem": 2, "poems": 2, "real": 1, "recipe": 3, "reimburse": 3, "reimbursed": 3,
    "reimbursement": 4, "science": 2, "scientist": 3, "scientists": 3, "therefore": 2, "wednesday": 2,
    "wednesdays": 2, "homework": 2, "safeguard": 2, "diabetes": 4,
}  # fmt: skip

# "anyone" is any + one, not a-ny-o-ne: the heads' vowels would otherwise run into the tails'.
_EN_COMPOUND_HEADS = ("every", "any", "some")
_EN_COMPOUND_TAILS = frozenset(
    {"one", "ones", "thing", "things", "body", "where", "time", "times", "way", "ways", "how", "day", "days", "what"}
)

_EN_VOWELS = frozenset("aeiou")
_SUFFIXES = "(?:ly|ty|ful|fully|ment|ments|ness|less)"
_SILENT_E_SUFFIX = re.compile(rf"[^aeiou]e{_SUFFIXES}$")
_SOUNDED_E_SUFFIX = re.compile(rf"(?:[^aeiouy][lr]e{_SUFFIXES}|lements?)$")
_NOT_LETTERS = re.compile(r"[^a-z']+")
_FINAL_E_ACUTE = re.compile(r"é(?![^\W\d_])")

# Syllables a vowel group hides: mostly two vowels said apart (tri-al, ra-di-o, u-su-al, qui-et), and
# "didnt" typed without its apostrophe. Each match adds one syllable to the vowel-group count.
_EN_EXTRA = tuple(
    re.compile(pattern)
    for pattern in (
        r"(?<![ctg])ia(?!ge)",  # trial, media, diabetes; not social, initial, Belgian, marriage
        r"io$|(?<![tscgxln])io",  # radio, period, serious; not nation, vision, religion, million
        r"iu",  # premium, medium
        r"(?<!g)ua",  # usual, actual, January; not language, guard
        r"(?<!g)ue[lnt]",  # fluent, influence, cruel; not guest
        r"uo",  # continuous
        r"(?<![gct])eo(?!p)",  # video, theory, spontaneous; not people, surgeon, gorgeous
        r"[^aeiou]ie(?:r|st)$",  # earlier, easiest
        r"iet",  # quiet, diet, society
        r"(?<![tc])ien(?:t|ts|ce|ces|cy)$",  # client, experience; not patient, efficient
        r"[aeiou]ings?$",  # going, doing, continuing
        r"[ia]sm$",  # tourism, spasm
        r"^coo[rp]",  # coordinator, cooperate
        r"[ds]nt$",  # didnt, doesnt, isnt
    )
)


def _en_groups(word: str) -> int:
    """Vowel groups. y is a vowel except before a vowel at the start or after a vowel ("yes", "player"),
    or before any vowel but i and e ("canyon"); a vowel y and the i after it are two ("study-ing")."""
    groups = 0
    previous_vowel = False
    for index, letter in enumerate(word):
        after = word[index + 1 : index + 2]
        if letter == "y" and after in _EN_VOWELS:
            vowel = index > 0 and not previous_vowel and after in "ie"
        else:
            vowel = letter == "y" or letter in _EN_VOWELS
        if vowel and (not previous_vowel or (letter == "i" and word[index - 1] == "y")):
            groups += 1
        previous_vowel = vowel
    return groups


def _consonant(word: str, index: int) -> bool:
    """True if there is a letter at `index` and it is not a, e, i, o or u (y counts as a consonant)."""
    return -len(word) <= index < len(word) and word[index] not in _EN_VOWELS


def _own_syllable(word: str, end: int) -> bool:
    """True when the l or r at `end`, after another consonant, keeps a syllable of its own before a
    final e, es or ed: "ta-ble", "ta-bles", "set-tled", "a-cre" (but "called", "whole", "style")."""
    before = word[end - 1] if -len(word) < end else ""
    return word[end] in "lr" and before != "" and before not in "aeiouy" and before != word[end]


def _silent_ending(word: str) -> bool:
    """True when a final e, es or ed is not a syllable of its own."""
    if word.endswith("e"):
        # "time", "medicine"; but not after consonant + l/r ("table", "acre"), nor when it shares a
        # group with a vowel y ("goodbye").
        vowel_y = word[-2:-1] == "y" and _consonant(word, -3)
        return _consonant(word, -2) and not vowel_y and not _own_syllable(word, -2)
    if word.endswith("es"):
        if not _consonant(word, -3):
            return False
        # "times", "makes"; but not after a hissing sound ("places", "changes", "boxes", "wishes").
        hissing = word[-3] in "sxzcg" or word[-4:-2] in ("ch", "sh")
        return not hissing and not _own_syllable(word, -3)
    if word.endswith("ed"):
        # "asked", "called"; but not after t or d ("wanted", "needed").
        return _consonant(word, -3) and word[-3] not in "td" and not _own_syllable(word, -3)
    return False


def _en_simple(word: str) -> int:
    """Syllables of a lowercase English word of letters only."""
    if word in _EN_EXCEPTIONS:
        return _EN_EXCEPTIONS[word]
    for head in _EN_COMPOUND_HEADS:
        tail = word[len(head) :]
        if word.startswith(head) and tail in _EN_COMPOUND_TAILS:
            return _en_simple(head) + _en_simple(tail)
    # The u of "qu" is a consonant sound: "question" has two syllables, not three.
    spelled = word.replace("qu", "q")
    count = _en_groups(spelled)
    if count > 1:
        if _silent_ending(spelled):
            count -= 1
        # A stem's silent e before a suffix: "lately", "careful", "statement" (not "element").
        if _SILENT_E_SUFFIX.search(spelled) and not _SOUNDED_E_SUFFIX.search(spelled):
            count -= 1
    count += sum(len(pattern.findall(spelled)) for pattern in _EN_EXTRA)
    return max(count, 1)


def _en_part(part: str) -> int:
    """Syllables of one apostrophe-joined piece: "didn't" is did + n't, "you're" is one syllable."""
    if part.endswith("n't"):
        base = part[:-3]
        # "didn't", "haven't" add a syllable; "don't", "can't", "aren't" do not.
        extra = 1 if base and (_consonant(base, -1) or base.endswith("ve")) else 0
        return (_en_simple(base.replace("'", "")) if base else 0) + extra
    return _en_simple(part.replace("'", ""))


def _letters(word: str) -> str:
    """Lowercase, with accents taken off; a final é is said ("café", "résumé"), so it is spelled "ay"."""
    lowered = _FINAL_E_ACUTE.sub("ay", unicodedata.normalize("NFC", word.casefold().replace("’", "'")))
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def count_syllables_en(word: str) -> int:
    """Estimate the syllables of an English word (0 when it has no letter)."""
    parts = [p.strip("'") for p in _NOT_LETTERS.split(_letters(word))]
    return sum(_en_part(p) for p in parts if any(ch.isalpha() for ch in p))


# ---------------------------------------------------------------------------------------------
# Spanish syllables
# ---------------------------------------------------------------------------------------------

_ES_STRONG = frozenset("aeoáéó")
_ES_WEAK = frozenset("iuü")
_ES_ACCENTED_WEAK = frozenset("íú")
_ES_VOWELS = _ES_STRONG | _ES_WEAK | _ES_ACCENTED_WEAK
# The u of "que", "qui", "gue", "gui" is not said (the ü of "pingüino" is).
_ES_SILENT_U = re.compile(r"(?<=[qg])u(?=[eiéí])")
_ES_NOT_LETTERS = re.compile(r"[^a-zñáéíóúü]+")


def _es_hiatus(first: str, second: str) -> bool:
    """Two adjacent vowels in different syllables: two strong ones ("a-é-re-o"), or a strong one next
    to an accented i/u ("dí-a", "pa-ís"). Anything else is a diphthong ("ciu-dad", "Ruiz")."""
    if first in _ES_STRONG and second in _ES_STRONG:
        return True
    return (first in _ES_ACCENTED_WEAK and second in _ES_STRONG) or (
        first in _ES_STRONG and second in _ES_ACCENTED_WEAK
    )


def _es_simple(word: str) -> int:
    """Syllable nuclei of a lowercase Spanish word of letters only."""
    word = _ES_SILENT_U.sub("", word)
    nuclei = 0
    previous = ""  # the vowel just before, or "" after a consonant
    for index, letter in enumerate(word):
        after = word[index + 1] if index + 1 < len(word) else ""
        # y is a consonant before a vowel ("ayuda", "yo") and a weak vowel otherwise ("muy", "y", "hoy").
        vowel = "i" if letter == "y" and after not in _ES_VOWELS else letter
        if vowel not in _ES_VOWELS:
            previous = ""
            continue
        if not previous or _es_hiatus(previous, vowel):
            nuclei += 1
        previous = vowel
    return max(nuclei, 1)


def count_syllables_es(word: str) -> int:
    """Count the syllables of a Spanish word (0 when it has no letter)."""
    lowered = unicodedata.normalize("NFC", word.casefold())
    return sum(_es_simple(p) for p in _ES_NOT_LETTERS.split(lowered) if p)


# ---------------------------------------------------------------------------------------------
# Normalising and splitting text
# ---------------------------------------------------------------------------------------------

# Stands in for what is read as one short word: a placeholder, URL, address, phone number or time.
# A digit, so it is counted like the numbers it often replaces: one word, one syllable.
_SHORT_WORD = " 0 "
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"]*[^\s<>\".,;:!?)]|[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w/:.,])\+?\(?\d[\d ().-]{5,}\d(?![\w/:])")
_MIN_PHONE_DIGITS = 7
# A clock time with its AM/PM ("9:30 AM", "5 p.m.", "12:00 p. m."); the number alone is caught below.
_TIME = re.compile(r"\b\d{1,2}(?:[:.]\d{2})?\s?[ap]\.?\s?m\b\.?", re.IGNORECASE)
# Titles whose full stop does not end a sentence ("Dr. Lee", "Sra. Ruiz").
_TITLE = re.compile(r"\b(Dr|Dra|Mr|Mrs|Ms|Sr|Sra|Srta|St|Ud|Uds)\.", re.IGNORECASE)
# Full stops between digits ("3.5", "1.000") are part of the number.
_SENTENCE_END = re.compile(r"(?:(?<!\d)[.!?…]+|[.!?…]+(?!\d)|\n)")
_TOKEN = re.compile(r"\d+(?:[.,:/-]\d+)*(?:st|nd|rd|th|º|ª)?|[^\W\d_]+(?:['’-][^\W\d_]+)*")


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    return _SHORT_WORD if sum(ch.isdigit() for ch in text) >= _MIN_PHONE_DIGITS else text


def _time(match: re.Match[str]) -> str:
    text = match.group(0)
    # "at 5 p.m." ends with the abbreviation's full stop; keep it as a sentence end when a new
    # sentence follows (English writes one full stop for both), drop it inside a sentence.
    if text.endswith("."):
        rest = match.string[match.end() :].lstrip(" \t")
        if not rest or rest[0] in "\n¿¡" or rest[0].isupper():
            return _SHORT_WORD + "."
    return _SHORT_WORD


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = _URL.sub(_SHORT_WORD, text)
    text = _PLACEHOLDER.sub(_SHORT_WORD, text)
    text = _TIME.sub(_time, text)
    text = _PHONE.sub(_phone, text)
    return _TITLE.sub(r"\1", text)


def _sentences(text: str) -> list[list[str]]:
    """The words of each sentence that has any."""
    found = []
    for chunk in _SENTENCE_END.split(_normalise(text)):
        words = _TOKEN.findall(chunk)
        if words:
            found.append(words)
    return found


# ---------------------------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------------------------

_LANGUAGES = ("en", "es")

# Fernández-Huerta ease → US grade equivalent, as (ease, grade) points joined by straight lines.
# The bands follow the standard interpretation table (Fernández Huerta 1959, as tabulated at
# legible.es/blog/lecturabilidad-fernandez-huerta, which follows Flesch 1948's reading-ease table):
#   90-100 very easy ≈ grade 4;  80-90 easy ≈ 5-6;  70-80 fairly easy ≈ 7;  60-70 normal ≈ 8-9;
#   50-60 fairly hard ≈ 10-12 (upper secondary);  30-50 hard ≈ 13-16 (college);  0-30 ≈ 17+.
# Each band maps onto its grades, so ease 70 is grade 8.0 (as hard as an English script at the
# PL-01 limit) and ease 60 is grade 10.0. Beyond the table the end slopes continue, with grade >= 0.
_EASE_TO_GRADE: tuple[tuple[float, float], ...] = (
    (100.0, 4.0), (90.0, 5.0), (80.0, 7.0), (70.0, 8.0), (60.0, 10.0), (50.0, 13.0), (30.0, 17.0), (0.0, 20.0),
)  # fmt: skip


@dataclass(frozen=True)
class Readability:
    """How hard a text is to read: its counts, a US grade level and, for Spanish, the reading ease.

    `locale` is the language scored ("en" or "es"). `grade` is Flesch–Kincaid for English and the
    grade equivalent of the Fernández-Huerta ease for Spanish; `ease` is None for English.
    """

    locale: str
    words: int
    sentences: int
    syllables: int
    grade: float
    ease: float | None = None


def _language(locale: str) -> str:
    language = locale.replace("-", "_").split("_")[0].lower()
    if language not in _LANGUAGES:
        raise ValueError(f"no readability formula for {locale!r}; known: {', '.join(_LANGUAGES)}")
    return language


def ease_to_grade(ease: float) -> float:
    """The US grade level equivalent of a Fernández-Huerta reading ease (see _EASE_TO_GRADE)."""
    points = _EASE_TO_GRADE
    if ease >= points[0][0]:
        (high, high_grade), (low, low_grade) = points[0], points[1]
    elif ease <= points[-1][0]:
        (high, high_grade), (low, low_grade) = points[-2], points[-1]
    else:
        index = next(i for i in range(1, len(points)) if ease >= points[i][0])
        (high, high_grade), (low, low_grade) = points[index - 1], points[index]
    slope = (low_grade - high_grade) / (low - high)
    return max(0.0, high_grade + (ease - high) * slope)


def measure(text: str, locale: str) -> Readability:
    """Count words, sentences and syllables of a text and score it for its language."""
    language = _language(locale)
    sentences = _sentences(text)
    words = [word for sentence in sentences for word in sentence]
    if not words:
        # Nothing to read is not hard to read: grade 0, and no ease (the formula would give 206.84).
        return Readability(language, 0, 0, 0, 0.0)
    counter = count_syllables_en if language == "en" else count_syllables_es
    # Numbers, dates and times (and what stands in for placeholders) are read as one short word.
    syllables = sum(1 if word[0].isdigit() else max(counter(word), 1) for word in words)
    per_sentence = len(words) / len(sentences)
    per_word = syllables / len(words)
    if language == "en":
        # Flesch–Kincaid grade level (Kincaid et al. 1975).
        kincaid = 0.39 * per_sentence + 11.8 * per_word - 15.59
        return Readability(language, len(words), len(sentences), syllables, max(0.0, kincaid))
    # Fernández-Huerta (1959) with Law's (2011) correction: the sentence term is words per sentence.
    # It is often printed as "sentences per 100 words", which would make longer sentences score
    # easier; Flesch's formula, which this one adapts, uses words per sentence with the same weight.
    ease = 206.84 - 0.60 * (100 * per_word) - 1.02 * per_sentence
    return Readability(language, len(words), len(sentences), syllables, ease_to_grade(ease), ease)


def grade(text: str, locale: str) -> float:
    """The grade level of a text: Flesch–Kincaid in English, the ease's equivalent in Spanish."""
    return measure(text, locale).grade
