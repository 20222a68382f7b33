"""Named behaviour the flow files refer to; importing this package registers all of it."""

from bot.behaviour import common, consent, onboarding, parsers, prescreen, settings, travel, visits

__all__ = ["common", "consent", "onboarding", "parsers", "prescreen", "settings", "travel", "visits"]
