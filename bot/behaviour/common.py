"""Behaviour shared by every flow: asking for staff, choosing a language, picking from a list."""

from __future__ import annotations

from bot.behaviour.parsers import UNCLEAR, read_choice
from bot.domain import Choice, LocaleChanged, Part, StaffRequested
from bot.engine.registry import REGISTRY, Answer, ParseResult, Prompt, Turn
from bot.engine.spec import AskSpec

REGISTRY.uses("common.language.en", "common.language.es", "common.language_changed", "language.choose")


def language_label(locale: str) -> str:
    """The message id of a language's name, written in that language."""
    return f"common.language.{locale}"


@REGISTRY.action("request_staff", takes_argument=True)
def request_staff(turn: Turn, category: str) -> None:
    """Record that someone on the study team should contact the patient, and why."""
    turn.emit(StaffRequested(category))


def _pick_outcomes(_ask: AskSpec) -> frozenset[str]:
    return frozenset({"picked"})


@REGISTRY.parser("pick", outcomes=_pick_outcomes)
def parse_pick(answer: Answer) -> ParseResult:
    """One of the offered choices, when every choice leads to the same place; the value is its id."""
    choice = read_choice(answer)
    return ParseResult("picked", choice.value) if choice else UNCLEAR


@REGISTRY.prompt("language_menu")
def language_menu(turn: Turn) -> Prompt:
    """Ask which language, offering the study's languages, each named in its own language."""
    choices = tuple(Choice(locale, language_label(locale)) for locale in turn.context.study.languages)
    return Prompt((Part("language.choose"),), choices)


@REGISTRY.action("set_language")
def set_language(turn: Turn) -> None:
    """Switch the conversation to the language picked."""
    new = str(turn.answer)
    if new != turn.locale:
        turn.emit(LocaleChanged(turn.locale, new))
        turn.locale = new
