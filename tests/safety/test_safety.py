"""The safety check (bot.safety.assess) on its own: normalisation, word boundaries, softeners, levels and
categories, the lexicon loader's errors, speed, and the property that it never raises. REQUIREMENTS
SAF-01..08, RELIABILITY §4.1 and §6 T9. The corpus recall and precision are in test_safety_corpus.py."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.safety import (
    ADVERSE_EVENT,
    CRISIS,
    ER_OR_HOSPITAL,
    HIGH,
    MEDICATION_ERROR,
    PREGNANCY,
    RED_FLAG,
    URGENT,
    SafetyLexiconError,
    SafetyMatch,
    assess,
    load_safety_lexicon,
    safety_lexicon_path,
    shipped_safety_lexicon,
)

FAST = settings(max_examples=200, deadline=None)
# Every code point, lone surrogates included (st.characters leaves out category Cs by default).
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=80)
# Characters that reach the matcher's corners: lexicon letters, leet digits and symbols, separators,
# format characters, marks, look-alikes, emoji.
TRICKY_TEXT = st.text(
    alphabet=st.sampled_from(
        "kilmysefwantodiesucvrqépñ0134578$@!|.,;?…- \n\u200b\u200d\u202e\u00a0\u0301\ufe0fКіІ"
        "ｋｉｌ🔫😵\u200d💫🤮🏽\x00\ud800"
    ),
    max_size=60,
)


def level(text: str) -> str | None:
    match = assess(text)
    return match.level if match else None


def severity(text: str) -> str | None:
    match = assess(text)
    return match.severity if match else None


def shipped_entries() -> set[str]:
    """Every string in flows/safety.yaml: what SafetyMatch.matched may contain."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, str):
            found.add(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load(safety_lexicon_path().read_text(encoding="utf-8")))
    return found


ENTRIES = shipped_entries()


# ---------------------------------------------------------------------------------------------
# Normalisation: the same crisis phrase however it is typed (RELIABILITY §4.1.1)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I want to die",
        "I WANT TO DIE",  # case
        "Í wánt tó díé",  # accents
        "I want to die".replace("e", "e\u0301"),  # NFD combining accents
        "i want to diiiie",  # repeated letters
        "I want... to die!!!",  # punctuation, and a hesitation across the "..."
        "I-want-to-die",
        "i_want_to_die",
        "I\u00a0want\u00a0to\u00a0die",  # NBSP
        "I\nwant\nto\ndie",
        "i want\u200b to die",  # zero-width space (Cf)
        "kill\u200bmyself",  # ZWSP inside: "killmyself", one word
        "\u202ekill myself",  # bidi override
        "ｋｉｌｌ ｍｙｓｅｌｆ",  # fullwidth
        "kіll myself",  # Cyrillic і
        "КILL MYSELF",  # Cyrillic К
        "k1ll mys3lf",  # leetspeak digits
        "su1c1de",
        "i want to d13",
        "$uicide",  # symbols as letters
        "k!ll myself",
        "k i l l m y s e l f",  # letters typed apart
        "s.u.i.c.i.d.e",
        "i w a n t t o d i e",
        "killmyself",  # a phrase typed as one word
        "#killmyself",
        "kil myself",  # doubled letters ignored
        "suicdie",  # one typo in a long word (fuzzy)
        "suiicide",
        "SUCIDE",  # a listed misspelling
        "i wanna kms",  # rewrites ("wanna" = "want to") and slang
        "I do not want to live",  # "do not" = "dont"
        "Quiero quitarme la vida",
        "quiero quitarme la vida".replace("a", "a\u0301"),
        "NO AGUANTO MÁS",
        "no aguanto mas",
        "qitarme la vida",  # fuzzy, Spanish
        "k1ero m0rir",
        "kiero morir",
        "m a t a r m e",
    ],
)
def test_crisis_is_found_however_it_is_typed(text: str) -> None:
    assert level(text) == CRISIS


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("0verdose", MEDICATION_ERROR),  # leetspeak in an adverse-event word
        ("FEVERRRR", ADVERSE_EVENT),
        ("ｆｅｖｅｒ", ADVERSE_EVENT),
        ("I'm pregnánt", PREGNANCY),
        ("chest\u200b pain", RED_FLAG),
        ("Fui a URGENCIAS", ER_OR_HOSPITAL),
        ("me equivoqué de pastilla", MEDICATION_ERROR),
        ("me equivoque de pastilla", MEDICATION_ERROR),
    ],
)
def test_adverse_events_are_found_however_they_are_typed(text: str, category: str) -> None:
    match = assess(text)
    assert match is not None
    assert (match.level, match.category) == (ADVERSE_EVENT, category)


# ---------------------------------------------------------------------------------------------
# Word boundaries: whole words only
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "therapist",  # contains "rapist"; "rape" is a crisis entry
        "my therapist called",
        "grape juice",  # contains "rape"
        "I need to skill myself up on the app",  # "skill myself" is not "kill myself"
        "skillet",
        "I'll be there",  # "I'll" folds to "ill"; "ill" alone is deliberately not an entry
        "dieting",
        "studied",
        "soldier",
        "Kill Bill is on TV",  # "kill" alone is not an entry
        "un momento embarazoso",  # "embarazoso" (embarrassing) is not "embarazo" (pregnancy)
        "la enfermera",  # "enfermera" (nurse) is not "enferma" (ill)
        "20km",
        "I can't go on Tuesday",  # "cant go on" only at the end of a clause
        "I won't be around on Friday",
        "No puedo más tarde de las 5",
        "voy a cortarme el pelo",
        "a lump sum",
        "I fell asleep",
        "Saturday Night Fever",
        "Do I need the flu shot?",
        "I feel great today",  # the lenient pass must not read "feel" as "fell" (doubled letters)
        "I feel fine",
    ],
)
def test_whole_words_only(text: str) -> None:
    assert assess(text) is None


# ---------------------------------------------------------------------------------------------
# Softeners lower the severity and never suppress (RELIABILITY §4.1.4)
# ---------------------------------------------------------------------------------------------

SOFTENED = [
    "I'm not suicidal",
    "I'm not suicidal but…",
    "I would never kill myself",
    "I don't want to die",
    "the survey asked if I want to die",
    "this form is killing me",
    "the wait is killing me",
    "I want to die lol",
    "lol i want to die",
    "kmsl",
    "I'm dying to know when my visit is",
    "im dying of laughter",
    "no estoy pensando en suicidarme",
    "nunca me haría daño",
    "La encuesta preguntaba si quiero morir",
    "Este formulario me está matando",
    "Me muero de ganas de ir",
    "me quiero morir jaja",
    "queda a 20 kms",  # "kms" after a number is a distance
]


@pytest.mark.parametrize("text", SOFTENED)
def test_softeners_lower_a_crisis_to_high(text: str) -> None:
    match = assess(text)
    assert match is not None
    assert (match.level, match.severity, match.category) == (CRISIS, HIGH, CRISIS)


@pytest.mark.parametrize(
    "text",
    [
        "No. I want to die.",  # the "No" is another sentence
        "No, I want to die",
        "No I want to die",  # "no" is a Spanish softener; it does not negate English
        "I'm not okay and I want to die",  # "and" ends the negation's reach
        "I'm not suicidal but I can't go on",  # the "but" resets, and the second phrase is urgent
        "I'm not joking, I want to die lol",  # "not joking" cancels every softener
        "No es broma, quiero morir jaja",
        "lol. I want to die",  # laughter in another sentence
        "I'm not sure what to do. I want to kill myself",
        "this form is killing me. I want to die",  # one unsoftened phrase makes it urgent
        "lol 🔫",  # a crisis emoji is never softened
        "I am not okay, I want to end it all",
    ],
)
def test_softeners_have_a_limited_reach(text: str) -> None:
    assert (level(text), severity(text)) == (CRISIS, URGENT)


@FAST
@given(
    st.sampled_from(["I want to die", "kill myself", "kms", "quiero morir", "suicidarme", "no aguanto más"]),
    st.lists(
        st.sampled_from(
            ["not", "never", "don't", "lol", "jk", "survey", "no", "nunca", "jaja", "the form", "dying to", "20"]
        ),
        max_size=4,
    ),
    st.lists(st.sampled_from(["lol", "jaja", "haha", "kidding", "es broma", "de risa", "to know"]), max_size=3),
)
def test_no_softener_ever_removes_a_crisis(phrase: str, before: list[str], after: list[str]) -> None:
    assert level(" ".join([*before, phrase, *after])) == CRISIS


@FAST
@given(ANY_TEXT, ANY_TEXT)
def test_a_crisis_phrase_survives_any_surroundings(prefix: str, suffix: str) -> None:
    assert level(f"{prefix} I want to kill myself. {suffix}") == CRISIS
    assert level(f"{prefix}\nquiero morir\n{suffix}") == CRISIS


# ---------------------------------------------------------------------------------------------
# Levels and categories
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "I have chest pain and I want to die",
        "I went to the ER because I tried to kill myself",
        "Estoy embarazada y quiero morir",
        "🤮🔫",
    ],
)
def test_crisis_beats_adverse_event(text: str) -> None:
    match = assess(text)
    assert match is not None
    assert (match.level, match.category, match.severity) == (CRISIS, CRISIS, URGENT)
    assert "chest pain" not in match.matched  # only the entries of the winning level


@pytest.mark.parametrize(
    ("text", "category", "expected_severity"),
    [
        ("I have a fever", ADVERSE_EVENT, HIGH),
        ("I have chest pain", RED_FLAG, URGENT),  # SAF-04: "call 911 first"
        ("I went to the ER with chest pain", RED_FLAG, URGENT),  # a red flag outranks every category
        ("I went to the ER last night", ER_OR_HOSPITAL, HIGH),
        ("I'm pregnant and took a double dose", MEDICATION_ERROR, HIGH),
        ("I'm pregnant", PREGNANCY, HIGH),
        ("I feel sick", ADVERSE_EVENT, HIGH),
        ("I can't stop coughing", ADVERSE_EVENT, HIGH),  # RELIABILITY §5 #35
        ("Me desmayé", RED_FLAG, URGENT),
        ("🚑", ER_OR_HOSPITAL, HIGH),
        ("😵\u200d💫", ADVERSE_EVENT, HIGH),  # dizzy, without the gun
        ("🤰🏽", PREGNANCY, HIGH),  # skin tone ignored
    ],
)
def test_adverse_event_categories_and_severity(text: str, category: str, expected_severity: str) -> None:
    match = assess(text)
    assert match is not None
    assert (match.level, match.category, match.severity) == (ADVERSE_EVENT, category, expected_severity)


def test_exclusions_only_remove_the_excluded_words() -> None:
    assert assess("I have cabin fever") is None
    match = assess("cabin fever aside, I also have a fever")
    assert match is not None
    assert match.matched == ("fever",)
    assert level("Do I need the flu shot? I think I have the flu") == ADVERSE_EVENT


def test_matched_holds_lexicon_entries_not_the_patients_words() -> None:
    match = assess("Ana López here, 555-0100. i wanna k1ll myslef tonite")
    assert match is not None
    assert match.matched == ("kill myself",)
    assert set(match.matched) <= ENTRIES


def test_the_gun_emoji_of_reliability_section_5() -> None:
    assert assess("😵‍💫🔫") == SafetyMatch(CRISIS, URGENT, CRISIS, ("🔫",))


@pytest.mark.parametrize("text", ["", " ", "\n\t", "ok", "👍", "\ud800", "\x00", "1234"])
def test_nothing_to_see(text: str) -> None:
    assert assess(text) is None


# ---------------------------------------------------------------------------------------------
# Never raises, and the answer is well formed (RELIABILITY §6 T5 and T11)
# ---------------------------------------------------------------------------------------------


@FAST
@given(st.one_of(ANY_TEXT, TRICKY_TEXT))
def test_never_raises_and_answers_well(text: str) -> None:
    match = assess(text)
    if match is None:
        return
    assert match.level in (CRISIS, ADVERSE_EVENT)
    assert match.severity in (URGENT, HIGH)
    if match.level == CRISIS:
        assert match.category == CRISIS
    else:
        assert match.category in (ADVERSE_EVENT, RED_FLAG, ER_OR_HOSPITAL, PREGNANCY, MEDICATION_ERROR)
        assert (match.severity == URGENT) == (match.category == RED_FLAG)
    assert match.matched
    assert set(match.matched) <= ENTRIES


@pytest.mark.parametrize(
    "text",
    [
        ("Hello, my visit is on Tuesday and I wanted to ask about parking. " * 80)[:5000],
        ("lol i want to die not kms " * 250)[:5000],  # many matches and softeners
        ("a " * 2500)[:5000],  # one long run of single letters
        "x" * 5000,  # one long word (RELIABILITY §5 #7)
        "https://example.com/" + "a1b2" * 1245,
        ("k.i.l.l." * 700)[:5000],
        ("suicidx abcdefg " * 350)[:5000],  # fuzzy candidates everywhere
        ("😵‍💫🔫🤮 " * 1200)[:5000],
        ("!?.,;" * 1000)[:5000],
        ("no no no quiero morir jaja pero no puedo mas " * 120)[:5000],
        "".join(chr(0x20 + (i * 7919) % 0x2FE0) for i in range(5000)),
    ],
)
def test_a_5000_character_message_is_fast(text: str) -> None:
    shipped_safety_lexicon()  # loading is not what is timed
    best = min(_timed(text) for _ in range(3))
    # The target is well under 50 ms (it runs on every message); the bound is generous so a slow CI
    # machine passes, while a quadratic step or a backtracking regex would still fail it.
    assert best < 0.2, f"{best * 1000:.0f} ms"


def _timed(text: str) -> float:
    start = time.perf_counter()
    assess(text)
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# The lexicon file and its loader
# ---------------------------------------------------------------------------------------------


def test_the_shipped_lexicon_is_loaded_once_and_covers_both_languages() -> None:
    lexicon = shipped_safety_lexicon()
    assert lexicon is shipped_safety_lexicon()
    assert lexicon.locales == ("en", "es")
    assert lexicon.source == safety_lexicon_path()
    assert load_safety_lexicon(safety_lexicon_path()).locales == ("en", "es")


MINIMAL = """
locales:
  en:
    crisis:
      explicit: ["want to die"]
      softeners: {before: ["not"]}
    adverse_event:
      symptoms: ["fever"]
      exclusions: ["cabin fever"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "safety.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_custom_lexicon_is_used_instead_of_the_shipped_one(tmp_path: Path) -> None:
    lexicon = load_safety_lexicon(write(tmp_path, MINIMAL))
    assert assess("I want to die", lexicon) == SafetyMatch(CRISIS, URGENT, CRISIS, ("want to die",))
    assert assess("I do not want to die", lexicon) == SafetyMatch(CRISIS, HIGH, CRISIS, ("want to die",))
    assert assess("No. I want to die", lexicon) == SafetyMatch(CRISIS, URGENT, CRISIS, ("want to die",))
    assert assess("kill myself", lexicon) is None
    assert assess("a fever", lexicon) == SafetyMatch(ADVERSE_EVENT, HIGH, ADVERSE_EVENT, ("fever",))
    assert assess("cabin fever", lexicon) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("locales: [", "cannot read it"),
        ("- a\n- b\n", "top level: Input should be a valid dictionary"),
        ("", "top level: Input should be a valid dictionary"),
        ("locales: {}\n", "locales: Dictionary should have at least 1 item"),
        (MINIMAL.replace('["want to die"]', "[no]"), "locales.en.crisis.explicit.0: Input should be a valid string"),
        (MINIMAL.replace('["fever"]', "[911]"), "locales.en.adverse_event.symptoms.0: Input should be a valid string"),
        (MINIMAL.replace("explicit:", "explict:"), "locales.en.crisis.explict: Extra inputs are not permitted"),
        (MINIMAL.replace('["fever"]', '["fever", "!!!"]'), "locales.en.adverse_event.symptoms: '!!!' has no letters"),
        (MINIMAL.replace('["want to die"]', '["want <end> to die"]'), "'want <end> to die' has <end> before its last"),
        (MINIMAL.replace('["cabin fever"]', '["cabin crew"]'), "'cabin crew' contains no adverse-event entry"),
        (
            MINIMAL.replace('{before: ["not"]}', '{figurative: ["dying to"]}'),
            "locales.en.crisis.softeners.figurative: 'dying to' contains no crisis entry",
        ),
        (MINIMAL.replace("explicit:", 'fuzzy: ["die"]\n      explicit:'), "'die' must be one word of 7+ letters"),
        (MINIMAL.replace("explicit:", 'fuzzy: ["suicide"]\n      explicit:'), "'suicide' is not a word of any crisis"),
        (MINIMAL.replace("    crisis:", '    clause_breaks: ["but then"]\n    crisis:'), "'but then' must be one word"),
        (MINIMAL + 'emoji: {crisis: ["gun"]}\n', "emoji.crisis: 'gun' must be emoji only"),
        (MINIMAL.replace("explicit:", "implicit:"), "no locale has crisis.explicit entries"),
    ],
)
def test_a_malformed_lexicon_is_rejected_naming_the_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SafetyLexiconError) as caught:
        load_safety_lexicon(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


def test_a_missing_lexicon_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SafetyLexiconError, match="cannot read it"):
        load_safety_lexicon(tmp_path / "nowhere.yaml")
