"""Global keywords (bot.keywords.classify) with the shipped vocabulary: STOP, START, HELP, a person and
language, in English and Spanish. RELIABILITY §5 items 13-17 and 32-38, and §6 T5 (the STOP family is
stable under case, width, NBSP and ZWSP perturbations)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.keywords import Intent, KeywordMatch, classify
from bot.vocabulary import shipped_vocabulary

VOCABULARY = shipped_vocabulary()
FAST = settings(max_examples=200, deadline=None)


def intent(text: str, *, opted_out: bool = False) -> Intent | None:
    match = classify(text, VOCABULARY, opted_out=opted_out)
    return match.intent if match else None


# ---------------------------------------------------------------------------------------------
# STOP (SMS-01/02)
# ---------------------------------------------------------------------------------------------

STOP_FAMILY = [
    # §5 #32
    "STOP",
    "stop",
    " Stop ",
    "STOP.",
    "STOP!!!",
    "Stop 🛑",
    "STOP STOP",
    "stop, stop!",
    "Stop\n",
    # §5 #33: Twilio's defaults
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "STOPALL",
    "STOP ALL",
    "REVOKE",
    "OPTOUT",
    "OPT OUT",
    "opt-out",
    # Spanish
    "parar",
    "baja",
    "Darme de baja",
    "Cancelar",
    "Basta!",
    "No más",
    "ya no más",
    # §5 #13-17: the same word in disguise
    "ＳＴＯＰ",
    "ｓｔｏｐ！",
    "S\u200bTOP",
    "S\u200dT\u200cOP",
    "\ufeffSTOP",
    "\u00a0stop\u00a0",
    "\u3000STOP\u3000",
    "SТОР",  # Cyrillic Т, О, Р
    "ЅТОР",  # all Cyrillic
    "stop\u0301",
]


@pytest.mark.parametrize("opted_out", [False, True])
@pytest.mark.parametrize("text", STOP_FAMILY)
def test_stop_family(text: str, opted_out: bool) -> None:
    assert intent(text, opted_out=opted_out) is Intent.STOP


@pytest.mark.parametrize(
    ("text", "matched"),
    [
        ("STOP", "stop"),
        ("STOP STOP", "stop stop"),
        ("Stop please", "stop"),  # §5 #34: politeness words do not change the keyword
        ("stop thanks", "stop"),
        ("Stop, thank you", "stop"),
        ("ok stop", "stop"),
        ("Alto por favor", "alto"),
        ("please stop texting me", "stop texting"),
        ("please\nstop texting me", "stop texting"),  # a new line separates words too
        ("PLEASE STOP SENDING ME THESE", "stop sending"),
        ("Don't text me again", "dont text me"),
        ("Do not contact me.", "do not contact me"),
        ("remove me from your list", "remove me from"),
        ("leave me alone!!", "leave me alone"),
        ("no more texts please", "no more texts"),
        ("no más mensajes", "no mas mensajes"),
        ("dejen de escribirme", "dejen de escribirme"),
        ("Por favor no me escriban más", "no me escriban"),
        ("Ya no quiero mensajes, gracias", "ya no quiero mensajes"),
        ("Quítenme de la lista", "quitenme de la lista"),
    ],
)
def test_opt_out_says_what_matched(text: str, matched: str) -> None:
    assert classify(text, VOCABULARY) == KeywordMatch(Intent.STOP, matched)


@pytest.mark.parametrize(
    "text",
    [
        # §5 #35: the word inside an answer is not an opt-out
        "don't stop",
        "I can't stop coughing",
        "when do the visits stop?",
        "does it stop after a year?",
        "the end",
        "end of story",
        "cancel my appointment",  # a request to staff, not to stop texts
        "no",
        "No.",
        "no, never",
        # §5 #13: a right-to-left override shows "STOP" on screen, but the letters are P-O-T-S
        "\u202ePOTS",
        "pots",
        "spot",
        "tops",
        # §5 #36: near misses are not read as STOP (they are asked about: test_a_near_miss_of_stop_is_asked_about)
        "stopp",
        "S T O P",
        "st0p",
        "stop it",  # debatable: not in the vocabulary, so it goes to the flow as an answer
        "",
        "   ",
        "🛑",
    ],
)
def test_not_an_opt_out(text: str) -> None:
    assert intent(text) is not Intent.STOP
    assert intent(text, opted_out=True) is not Intent.STOP


@pytest.mark.parametrize(
    "text",
    ["stopp", "S T O P", "st0p", "s.t.o.p", "5top", "sstop", "unsubscribee", "paraar", "4lto", "P A R A R",
     "cancell", "stopp please"],
)  # fmt: skip
def test_a_near_miss_of_stop_is_asked_about(text: str) -> None:
    """RELIABILITY §5 #36: not an opt-out, not an answer either: "Did you mean STOP?"."""
    assert intent(text) is Intent.MAYBE_STOP
    assert intent(text, opted_out=True) is None, "already stopped: nothing to ask"


@pytest.mark.parametrize(
    "text",
    ["spot", "tops", "pots", "step", "stops here", "4170", "5", "570", "don't stopp", "st", "s t", "alt", "i n f o",
     "para", "stop", "e n d s", "0"],
)  # fmt: skip
def test_what_is_not_a_near_miss_of_stop(text: str) -> None:
    """Other words, numbers (no digits alone spell a STOP word) and STOP itself are not asked about."""
    assert intent(text) is not Intent.MAYBE_STOP


def test_only_the_first_500_characters_are_searched() -> None:
    """Keywords are short: a long message is a story, and the classifier does not read all of it."""
    assert intent("x" * 480 + " please stop texting me") is Intent.STOP
    assert intent("x" * 600 + " please stop texting me") is None


# ---------------------------------------------------------------------------------------------
# START (SMS-06)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("opted_out", [False, True])
@pytest.mark.parametrize("text", ["START", "start", "Start!", "UNSTOP", "resume", "Comenzar", "reanudar", "alta"])
def test_start(text: str, opted_out: bool) -> None:
    assert intent(text, opted_out=opted_out) is Intent.START


@pytest.mark.parametrize(
    ("text", "matched"), [("YES", "yes"), ("yes please", "yes"), ("Y", "y"), ("Sí", "si"), ("SI", "si"), ("s", "s")]
)
def test_yes_restarts_only_when_opted_out(text: str, matched: str) -> None:
    """§5 #37: YES after an opt-out re-subscribes; YES at other times is a normal answer."""
    assert classify(text, VOCABULARY, opted_out=False) is None
    assert classify(text, VOCABULARY, opted_out=True) == KeywordMatch(Intent.START, matched)


@pytest.mark.parametrize("text", ["no", "yeah", "yes no", "ok"])
def test_other_answers_do_not_restart(text: str) -> None:
    assert classify(text, VOCABULARY, opted_out=True) is None


# ---------------------------------------------------------------------------------------------
# HELP (SMS-07), a person, language
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # §5 #38
        ("HELP", KeywordMatch(Intent.HELP, "help")),
        ("INFO", KeywordMatch(Intent.HELP, "info")),
        ("help!", KeywordMatch(Intent.HELP, "help")),
        ("Help me", KeywordMatch(Intent.HELP, "help me")),
        ("?", KeywordMatch(Intent.HELP, "?")),
        (" ? ", KeywordMatch(Intent.HELP, "?")),
        ("AYUDA", KeywordMatch(Intent.HELP, "ayuda")),
        ("¿Ayuda?", KeywordMatch(Intent.HELP, "ayuda")),
        ("Ayuda por favor", KeywordMatch(Intent.HELP, "ayuda")),
        ("Información", KeywordMatch(Intent.HELP, "informacion")),
        # A person, as a whole message or a phrase anywhere
        ("agent", KeywordMatch(Intent.PERSON, "agent")),
        ("Human!", KeywordMatch(Intent.PERSON, "human")),
        ("representante", KeywordMatch(Intent.PERSON, "representante")),
        ("talk to someone", KeywordMatch(Intent.PERSON, "talk to someone")),
        ("Can I talk to a real person?", KeywordMatch(Intent.PERSON, "talk to a real person")),
        ("I need a person please", KeywordMatch(Intent.PERSON, "i need a person")),
        ("hablar con una persona", KeywordMatch(Intent.PERSON, "hablar con una persona")),
        ("Quiero hablar con alguien", KeywordMatch(Intent.PERSON, "hablar con alguien")),
        # Language: the menu, or a named language
        ("language", KeywordMatch(Intent.LANGUAGE, "language")),
        ("LANGUAGE?", KeywordMatch(Intent.LANGUAGE, "language")),
        ("idioma", KeywordMatch(Intent.LANGUAGE, "idioma")),
        ("Cambiar idioma", KeywordMatch(Intent.LANGUAGE, "cambiar idioma")),
        ("español", KeywordMatch(Intent.LANGUAGE, "espanol", "es")),
        ("ESPAÑOL", KeywordMatch(Intent.LANGUAGE, "espanol", "es")),
        ("Spanish", KeywordMatch(Intent.LANGUAGE, "spanish", "es")),
        ("en español por favor", KeywordMatch(Intent.LANGUAGE, "en espanol", "es")),
        ("castellano", KeywordMatch(Intent.LANGUAGE, "castellano", "es")),
        ("english", KeywordMatch(Intent.LANGUAGE, "english", "en")),
        ("English please", KeywordMatch(Intent.LANGUAGE, "english", "en")),
        ("inglés", KeywordMatch(Intent.LANGUAGE, "ingles", "en")),
    ],
)
def test_keyword(text: str, expected: KeywordMatch) -> None:
    assert classify(text, VOCABULARY) == expected
    assert classify(text, VOCABULARY, opted_out=True) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I need help",  # debatable: only whole-message HELP counts, so this goes to the flow
        "??",  # debatable: only a single "?" is HELP
        "help stop",  # two different keywords: neither
        "Hola",
        "hello",
        "52",
        "not sure",
        "thanks",
        "please",
        "ok",
        "the person who referred me",
        "I speak english and spanish",
    ],
)
def test_ordinary_messages(text: str) -> None:
    assert classify(text, VOCABULARY) is None


def test_stop_wins_over_a_person_request() -> None:
    assert intent("stop texting me, I want to talk to someone") is Intent.STOP


# ---------------------------------------------------------------------------------------------
# The shipped vocabulary is self-consistent
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "expected"),
    [("stop", Intent.STOP), ("start", Intent.START), ("help", Intent.HELP), ("person", Intent.PERSON)],
)
def test_every_exact_form_is_recognised(family: str, expected: Intent) -> None:
    for word in sorted(VOCABULARY.keywords[family].exact):
        assert intent(word) is expected, word
        assert intent(f"{word.upper()}!!") is expected, word


@pytest.mark.parametrize(("family", "expected"), [("stop", Intent.STOP), ("person", Intent.PERSON)])
def test_every_phrase_counts_inside_a_sentence(family: str, expected: Intent) -> None:
    for phrase in VOCABULARY.keywords[family].phrases:
        sentence = f"Hi there, {' '.join(phrase)}, thank you."
        assert intent(sentence) is expected, sentence


def test_every_language_word_is_recognised() -> None:
    for word in sorted(VOCABULARY.language_menu):
        assert classify(word, VOCABULARY) == KeywordMatch(Intent.LANGUAGE, word)
    for locale, names in VOCABULARY.language_choices.items():
        for name in sorted(names):
            match = classify(name, VOCABULARY)
            assert match is not None, name
            # "english please" is reported as "english": politeness words are not part of the match.
            assert (match.intent, match.locale) == (Intent.LANGUAGE, locale), name


@pytest.mark.parametrize("answer", ["yes", "no", "not_sure"])
def test_no_answer_word_is_a_keyword(answer: str) -> None:
    """A yes, no or "not sure" reply must reach the question, never trigger STOP, HELP and the like."""
    for word in sorted(VOCABULARY.answer_words(answer)):
        assert classify(word, VOCABULARY) is None, word


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=80)
KEYWORD_TEXT = st.lists(
    st.sampled_from(
        ["stop", "STOP", "please", "don't", "texting", "me", "help", "?", "yes", "sí", "español", "agent", "talk",
         "to", "someone", "no", "más", "mensajes", "ＳＴＯＰ", "\u200b", "\u202e", "!", "🛑", "\u00a0", "\n"]
    ),
    max_size=8,
).map(" ".join)  # fmt: skip


@FAST
@given(st.one_of(ANY_TEXT, KEYWORD_TEXT), st.booleans())
def test_classify_never_raises(text: str, opted_out: bool) -> None:
    match = classify(text, VOCABULARY, opted_out=opted_out)
    if match is not None:
        assert isinstance(match.intent, Intent)
        assert match.matched
        assert match.locale is None or (match.intent is Intent.LANGUAGE and match.locale in ("en", "es"))
        if match.intent is Intent.START and not opted_out:
            assert match.matched in VOCABULARY.keywords["start"].exact


# The whole-message forms written in Latin letters; every one must survive these disguises.
STOP_WORDS = ["stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "opt out", "parar",
              "baja", "alto", "basta", "cancelar"]  # fmt: skip
PADDING = st.text(alphabet=st.sampled_from([" ", "\u00a0", "\u200b", "\ufeff", "\t", "\n", "\u3000"]), max_size=4)


@st.composite
def disguised_stop(draw: st.DrawFn) -> str:
    """A STOP word with random case and width per letter, zero-width characters inside, padding and
    trailing punctuation."""
    word = draw(st.sampled_from(STOP_WORDS))
    letters = []
    for ch in word:
        if draw(st.booleans()):
            ch = ch.upper()
        if ch != " " and draw(st.booleans()):
            ch = chr(ord(ch) + 0xFEE0)  # the fullwidth form
        letters.append(ch + draw(st.sampled_from(["", "", "\u200b", "\u200d", "\u00ad"])))
    trailing = draw(st.sampled_from(["", "!", ".", "!!!", "...", "?", " 🛑", "！"]))
    return draw(PADDING) + "".join(letters) + trailing + draw(PADDING)


@FAST
@given(disguised_stop(), st.booleans())
def test_stop_survives_disguises(text: str, opted_out: bool) -> None:
    assert intent(text, opted_out=opted_out) is Intent.STOP


@FAST
@given(
    st.text(alphabet=st.characters(exclude_categories=()), max_size=100),
    st.text(alphabet=st.characters(exclude_categories=()), max_size=100),
    st.sampled_from(sorted(VOCABULARY.keywords["stop"].phrases)),
)
def test_an_opt_out_phrase_counts_anywhere(before: str, after: str, phrase: tuple[str, ...]) -> None:
    assert intent(f"{before} {' '.join(phrase)} {after}") is Intent.STOP
