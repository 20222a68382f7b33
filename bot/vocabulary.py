"""The words trialbot recognises: global keywords, answer synonyms and number words, per language.

They live in flows/vocabulary.yaml so a study team or translator can add a word without touching
Python. Every entry is folded on load (see bot.text.fold), so "Sí", "si" and "SÍ" are one entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from bot.text import fold
from bot.yaml_files import load_yaml


class VocabularyError(Exception):
    """The vocabulary file is malformed."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _KeywordFile(_Strict):
    exact: tuple[str, ...] = ()
    phrases: dict[str, tuple[str, ...]] = {}
    when_opted_out: tuple[str, ...] = ()


class _LanguageFile(_Strict):
    menu: tuple[str, ...]
    choose: dict[str, tuple[str, ...]]


class _VocabularyFile(_Strict):
    fillers: tuple[str, ...]
    keywords: dict[str, _KeywordFile]
    language: _LanguageFile
    answers: dict[str, tuple[str, ...]]
    emoji: dict[str, tuple[str, ...]]
    numbers: dict[str, dict[str, int]]
    number_joiners: tuple[str, ...]
    greetings: dict[str, tuple[str, ...]] = {}
    start_flow: dict[str, tuple[str, ...]] = {}


def _folded(entries: tuple[str, ...] | list[str]) -> frozenset[str]:
    return frozenset(f for f in (fold(e) for e in entries) if f)


@dataclass(frozen=True, slots=True)
class Keyword:
    """One global keyword family: whole-message forms and phrases that may appear inside a message."""

    exact: frozenset[str]
    phrases: tuple[tuple[str, ...], ...]
    when_opted_out: frozenset[str]


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Folded word lists, ready for matching."""

    fillers: frozenset[str]
    keywords: dict[str, Keyword]
    language_menu: frozenset[str]
    language_choices: dict[str, frozenset[str]]
    answers: dict[str, frozenset[str]]
    emoji: dict[str, frozenset[str]]
    numbers: dict[str, int]
    number_joiners: frozenset[str]
    greetings: dict[str, frozenset[str]]
    start_flow: dict[str, frozenset[str]]

    def answer_words(self, answer: str) -> frozenset[str]:
        """All folded words that mean an answer ("yes", "no", "not_sure") in any language."""
        return self.answers.get(answer, frozenset())


def vocabulary_path() -> Path:
    """Where the shipped vocabulary lives."""
    return Path(str(resources.files("flows") / "vocabulary.yaml"))


def load_vocabulary(path: Path) -> Vocabulary:
    """Load and fold a vocabulary file."""
    try:
        raw = _VocabularyFile.model_validate(load_yaml(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise VocabularyError(f"{path}: {exc}") from None
    keywords = {
        name: Keyword(
            exact=_folded(k.exact),
            phrases=tuple(tuple(fold(p).split()) for phrases in k.phrases.values() for p in phrases if fold(p)),
            when_opted_out=_folded(k.when_opted_out),
        )
        for name, k in raw.keywords.items()
    }
    for required in ("stop", "start", "help", "person"):
        if required not in keywords:
            raise VocabularyError(f"{path}: keywords.{required} is missing")
    return Vocabulary(
        fillers=_folded(raw.fillers),
        keywords=keywords,
        language_menu=_folded(raw.language.menu),
        language_choices={locale: _folded(words) for locale, words in raw.language.choose.items()},
        answers={answer: _folded(words) for answer, words in raw.answers.items()},
        emoji={answer: frozenset(symbols) for answer, symbols in raw.emoji.items()},
        numbers={fold(word): value for by_locale in raw.numbers.values() for word, value in by_locale.items()},
        number_joiners=_folded(raw.number_joiners),
        greetings={locale: _folded(words) for locale, words in raw.greetings.items()},
        start_flow={flow: _folded(words) for flow, words in raw.start_flow.items()},
    )


@cache
def shipped_vocabulary() -> Vocabulary:
    """The vocabulary shipped with trialbot, loaded once."""
    return load_vocabulary(vocabulary_path())
