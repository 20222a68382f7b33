"""Onboarding behaviour: who someone is when they first write, and their agreement to get texts."""

from __future__ import annotations

from bot.domain import TextsAgreed
from bot.engine.registry import REGISTRY, Turn

# What the person saw before saying YES: kept word for word, with the disclosure's version (SMS-09).
DISCLOSURE = ("onboarding.disclosure", "onboarding.privacy", "onboarding.agree", "onboarding.agree.reply")


@REGISTRY.action("start_onboarding")
def start_onboarding(turn: Turn) -> None:
    """Note where the person came from (an advertisement's keyword, a deep link) if the turn knows it."""
    source = turn.context.facts.get("source")
    if source and "source" not in turn.data:
        turn.data["source"] = source


@REGISTRY.action("record_opt_in")
def record_opt_in(turn: Turn) -> None:
    """They said YES to texts: the opt-in, with the disclosure they saw (SMS-09) and PRIV-01's warning."""
    version = turn.context.study.onboarding.disclosure_version
    turn.emit(TextsAgreed(True, version, DISCLOSURE, str(turn.data.get("source") or "")))


@REGISTRY.action("record_opt_in_declined")
def record_opt_in_declined(turn: Turn) -> None:
    """They said NO: nothing is sent to them unless they write again."""
    version = turn.context.study.onboarding.disclosure_version
    turn.emit(TextsAgreed(False, version, DISCLOSURE, str(turn.data.get("source") or "")))


@REGISTRY.guard("already_enrolled")
def already_enrolled(turn: Turn) -> bool:
    """True for people the study team enrolled: they are in the study already, no prescreen."""
    return bool(turn.context.facts.get("enrolled"))
