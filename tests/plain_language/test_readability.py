"""Readability scores (bot.readability): syllable counts in English and Spanish, what counts as a word or
a sentence, and the Flesch–Kincaid and Fernández-Huerta formulas on passages of known difficulty."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.readability import Readability, count_syllables_en, count_syllables_es, ease_to_grade, grade, measure

# Counts from the CMU pronouncing dictionary; words with two usual pronunciations ("every") are left out.
ENGLISH = {
    "the": 1, "you": 1, "yes": 1, "time": 1, "times": 1, "asked": 1, "called": 1, "changed": 1, "phone": 1,
    "please": 1, "health": 1, "whole": 1,
    "study": 2, "people": 2, "table": 2, "doctor": 2, "question": 2, "questions": 2, "wanted": 2,
    "needed": 2, "places": 2, "changes": 2, "going": 2, "trial": 2, "quiet": 2, "minutes": 2, "message": 2,
    "private": 2, "goodbye": 2, "someone": 2, "didn't": 2, "lately": 2, "careful": 2, "safety": 2,
    "medicine": 3, "reminder": 3, "hospital": 3, "decision": 3, "radio": 3, "usual": 3, "studying": 3,
    "anyone": 3, "video": 3, "earlier": 3, "messages": 3, "pharmacy": 3,
    "emergency": 4, "information": 4, "participant": 4, "available": 4, "experience": 4, "diabetes": 4,
    "coordinator": 5, "immediately": 5,
}  # fmt: skip
SPANISH = {
    "y": 1, "que": 1, "hoy": 1, "muy": 1, "Ruiz": 1, "huí": 1,
    "día": 2, "ciudad": 2, "quiero": 2, "guerra": 2, "cuando": 2, "bueno": 2, "país": 2, "maíz": 2,
    "baúl": 2, "reír": 2, "también": 2, "acción": 2, "leer": 2, "ayer": 2,
    "estudio": 3, "pingüino": 3, "ayuda": 3, "Uruguay": 3, "farmacia": 3, "poeta": 3, "ahora": 3,
    "teléfono": 4, "aéreo": 4, "información": 4, "caería": 4,
    "coordinador": 5, "medicamento": 5,
}  # fmt: skip

SIMPLE_EN = "I like my dog. He is big. We run and play in the sun. It is fun."
ACADEMIC_EN = (
    "The pharmacokinetic characteristics of the investigational medicinal product were evaluated in "
    "accordance with internationally harmonized regulatory requirements and institutional governance."
)
EASY_ES = "Hola. Soy Ana. Mi casa es azul. Me gusta el sol. Mi gato come pan."
ACADEMIC_ES = (
    "La caracterización farmacocinética del medicamento en investigación fue evaluada conforme a los "
    "requisitos reglamentarios internacionalmente armonizados y a la normativa institucional vigente."
)


@pytest.mark.parametrize(("word", "syllables"), ENGLISH.items())
def test_english_syllables(word: str, syllables: int) -> None:
    assert count_syllables_en(word) == syllables


@pytest.mark.parametrize(("word", "syllables"), SPANISH.items())
def test_spanish_syllables(word: str, syllables: int) -> None:
    assert count_syllables_es(word) == syllables


def test_syllables_ignore_case_and_accents_and_need_a_letter() -> None:
    assert count_syllables_en("MEDICINE") == count_syllables_en("Medicine") == 3
    assert count_syllables_en("café") == 2  # a final é is said, unlike a final e
    assert count_syllables_en("résumé") == 3
    assert count_syllables_en("hmm") == count_syllables_en("x") == 1
    assert count_syllables_en("911") == count_syllables_en("") == count_syllables_es("¿?") == 0
    assert count_syllables_es("TELÉFONO") == 4
    assert count_syllables_en("follow-up") == 3


def test_placeholders_urls_phones_and_times_are_one_short_word() -> None:
    assert measure("Call {contact_phone} now.", "en") == measure("Call it now.", "en")
    assert measure("Call +1 555 010 0199 now.", "en").words == 3
    assert measure("See https://example.org/a.b?x=1 or mail help@example.org today.", "en").words == 6
    visit = measure("Your visit is at 9:30 AM.", "en")
    assert (visit.words, visit.syllables) == (5, 6)
    assert measure("A month and year is fine, like 3/2024.", "en").words == 8
    assert measure("Su cita es a las 9:30 a. m. del lunes.", "es").sentences == 1


def test_sentence_ends() -> None:
    assert measure("One. Two! Three? Four\nFive", "en").sentences == 5
    assert measure("¿Cómo está? ¡Bien!", "es").sentences == 2
    assert measure("¿Cómo está? ¡Bien!", "es").words == 3
    assert measure("See you at 5 p.m. on Monday.", "en").sentences == 1
    assert measure("See you at 5 p.m. Bring your card.", "en").sentences == 2
    assert measure("It costs 3.5 dollars. Dr. Lee will call.", "en").sentences == 2


def test_no_words_is_grade_0() -> None:
    for text in ("", "   ", "...", "¿?"):
        for locale in ("en", "es"):
            assert measure(text, locale) == Readability(locale, 0, 0, 0, 0.0)


def test_flesch_kincaid_formula() -> None:
    scored = measure("Medicine information is available.", "en")  # 4 words, 1 sentence, 3+4+1+4 syllables
    assert (scored.words, scored.sentences, scored.syllables) == (4, 1, 12)
    assert scored.grade == pytest.approx(0.39 * 4 + 11.8 * 12 / 4 - 15.59)
    assert scored.ease is None
    assert measure("The cat sat on the mat.", "en").grade == 0.0  # below zero is clamped


def test_fernandez_huerta_formula() -> None:
    scored = measure("La casa es bonita.", "es")  # 4 words, 1 sentence, 1+2+1+3 syllables
    assert (scored.words, scored.sentences, scored.syllables) == (4, 1, 7)
    assert scored.ease is not None
    assert scored.ease == pytest.approx(206.84 - 0.60 * (100 * 7 / 4) - 1.02 * 4)
    assert scored.grade == pytest.approx(ease_to_grade(scored.ease))


def test_known_passages() -> None:
    assert grade(SIMPLE_EN, "en") < 3
    assert grade(ACADEMIC_EN, "en") > 12
    easy, hard = measure(EASY_ES, "es"), measure(ACADEMIC_ES, "es")
    assert easy.ease is not None
    assert easy.ease > 80
    assert easy.grade < 7
    assert hard.ease is not None
    assert hard.ease < 30
    assert hard.grade > 12


def test_ease_to_grade_follows_the_table() -> None:
    assert [ease_to_grade(e) for e in (100, 90, 80, 70, 60, 50, 30, 0)] == [4, 5, 7, 8, 10, 13, 17, 20]
    assert ease_to_grade(85) == pytest.approx(6.0)
    assert ease_to_grade(200) == 0.0
    assert ease_to_grade(-10) > 20
    eases = [e / 2 for e in range(-40, 300)]
    grades = [ease_to_grade(e) for e in eases]
    assert grades == sorted(grades, reverse=True)  # harder text never gets a lower grade


def test_locales() -> None:
    assert measure("Hello there.", "en_US").locale == "en"
    assert measure("Hola.", "es-MX").locale == "es"
    assert grade(SIMPLE_EN, "en") == measure(SIMPLE_EN, "en").grade
    with pytest.raises(ValueError, match="fr"):
        measure("Bonjour.", "fr")


def test_readability_is_frozen() -> None:
    scored = measure(SIMPLE_EN, "en")
    with pytest.raises(dataclasses.FrozenInstanceError):
        scored.grade = 1.0  # type: ignore[misc]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.sampled_from(["en", "es"]))
def test_any_text_can_be_measured(text: str, locale: str) -> None:
    scored = measure(text, locale)
    assert scored.grade >= 0
    assert scored.syllables >= scored.words >= scored.sentences >= 0
    assert (scored.ease is None) == (locale == "en" or scored.words == 0)


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"[A-Za-zÁÉÍÓÚÜÑáéíóúüñ']{1,15}", fullmatch=True))
def test_every_word_with_a_letter_has_a_syllable(word: str) -> None:
    if any(ch.isalpha() for ch in word):
        assert count_syllables_en(word) >= 1
        assert count_syllables_es(word) >= 1
