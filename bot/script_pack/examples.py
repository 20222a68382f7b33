"""Example values for placeholders, so each message can be shown (and counted) as a patient would see it.

The study's own details ({study_name}, {contact_phone}, ...) come from the study file, as when sending;
the rest are plausible values a flow would put in: a visit next Wednesday at 9:30, the first site, "Maria".
"""

from __future__ import annotations

from dataclasses import replace
from datetime import time
from typing import Any

from babel.dates import get_day_names

from bot.bootstrap import Core
from bot.domain import JSON, Choice, MessageCreated, Part
from bot.engine.spec import PLACEHOLDER
from bot.i18n import babel_locale, format_value
from bot.script_pack.behaviour import example_when

STUDY_PARAMS = frozenset({"study_name", "contact_phone", "contact_hours", "emergency_number", "crisis_number"})
STAFF_WORDS = {"en": "Please call us when you can.", "es": "Por favor, llámenos cuando pueda."}
DATE_EXAMPLES = {"en": ("3/15/2024", "3/2024"), "es": ("15/3/2024", "3/2024")}  # as bot/behaviour/prescreen.py


def _time(value: time, locale: str) -> str:
    return format_value(value, locale)


def _value(core: Core, name: str, locale: str) -> JSON:
    """An example value for one placeholder, in a language."""
    study = core.loaded.study
    when = example_when(core)
    days = get_day_names("wide", locale=babel_locale(locale))
    fixed: dict[str, JSON] = {
        "min": 1, "max": 120, "number": 1, "count": 2, "name": "Maria",
        "question_count": len(study.prescreen.questions),
        "label": {"message": "common.choice.yes"},
        "mode": {"message": "travel.summary.mode.transit"},
        "when": {"datetime": when}, "day": {"day": when},
        "site": {"message": f"study.site.{study.sites[0].id}"} if study.sites else "the clinic",
        "text": STAFF_WORDS.get(locale, STAFF_WORDS["en"]),
        "first": days[0], "last": days[4],
        "time": _time(time(9, 30), locale),
        "opens": _time(study.contact.hours.opens, locale), "closes": _time(study.contact.hours.closes, locale),
    }  # fmt: skip
    if name in fixed:
        return fixed[name]
    if name in ("example", "month_example"):
        example, month = DATE_EXAMPLES.get(locale, DATE_EXAMPLES["en"])
        return example if name == "example" else month
    if name == "days":
        return core.renderer.part(Part("common.hours.days", {"first": days[0], "last": days[4]}), locale)
    if name == "options":
        labels = ("common.choice.yes", "common.choice.no")
        return ", ".join(
            core.renderer.part(Part("common.choices.option", {"number": n, "label": {"message": key}}), locale)
            for n, key in enumerate(labels, start=1)
        )
    return f"<{name}>"


def example_params(core: Core, key: str, locale: str, given: dict[str, Any] | None = None) -> dict[str, JSON]:
    """Values for the placeholders of a message that the study does not fill, keeping those given."""
    params: dict[str, JSON] = dict(given or {})
    for name in PLACEHOLDER.findall(core.translator.source(key)):
        if name not in STUDY_PARAMS and name not in params:
            params[name] = _value(core, name, locale)
    return params


def example_part(core: Core, part: Part, locale: str) -> Part:
    """A part with example values for its missing placeholders."""
    return Part(part.key, example_params(core, part.key, locale, part.params))


def with_examples(core: Core, message: MessageCreated, locale: str) -> MessageCreated:
    """A whole message with example values wherever a placeholder has none."""
    choices = tuple(
        Choice(c.value, c.label, c.keys, example_params(core, c.label, locale, c.params)) for c in message.choices
    )
    instruction = example_part(core, message.instruction, locale) if message.instruction is not None else None
    parts = tuple(example_part(core, p, locale) for p in message.parts)
    return replace(message, parts=parts, choices=choices, instruction=instruction)
