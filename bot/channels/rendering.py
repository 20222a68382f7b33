"""Turn a `message_created` event into the text a channel sends, in the participant's language.

Parts are looked up in the catalogs and filled with the study's details and the flow's values. Choices
become numbered options on text-only channels ("Reply 1 for Yes, 2 for No, 3 for Not sure.") and
buttons where the channel has them; typed answers work either way.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import Any

from bot.domain import Button, MessageCreated, Part, Rendered
from bot.i18n import Translator, fill, format_day, format_value, format_when, study_params
from bot.study import Study


class ChoiceStyle(Enum):
    """How a channel shows choices."""

    NUMBERED = "numbered"
    BUTTONS = "buttons"


class Renderer:
    """Renders messages for one study; safe to share (it only caches pure results)."""

    def __init__(self, study: Study, translator: Translator) -> None:
        """Render with this study's details and these catalogs."""
        self.study = study
        self.translator = translator
        self._study_params = lru_cache(maxsize=16)(self._compute_study_params)
        # A visit's time appears in its booking note and each of its reminders, rendered one after the
        # other when it is booked; formatting it (babel) was a tenth of the cost of planning a visit.
        self._when = lru_cache(maxsize=1024)(self._compute_when)

    def _compute_study_params(self, locale: str) -> dict[str, str]:
        return study_params(self.study, self.translator, locale)

    def _compute_when(self, moment: str, timezone: str, locale: str) -> str:
        return format_when(datetime.fromisoformat(moment), timezone, self.translator, locale)

    def value(self, value: Any, locale: str, timezone: str) -> str:
        """A parameter as text. Plain values as they are (numbers by the language's rules); a
        {"message": id} is that message in the language; {"datetime": iso} and {"day": iso} are a
        moment shown in the participant's zone ("Wednesday, March 3 at 9:30 AM")."""
        if isinstance(value, dict):
            if "message" in value:
                return self.translator.text(str(value["message"]), locale)
            if "datetime" in value:
                return self._when(str(value["datetime"]), timezone, locale)
            if "day" in value:
                return format_day(datetime.fromisoformat(str(value["day"])), timezone, locale)
        return format_value(value, locale)

    def part(self, part: Part, locale: str, timezone: str | None = None) -> str:
        """One sentence in a language, with its placeholders filled."""
        zone = timezone or self.study.timezone
        params = dict(self._study_params(locale))
        params.update({name: self.value(value, locale, zone) for name, value in part.params.items()})
        return fill(self.translator.text(part.key, locale), params)

    def label(self, key: str, locale: str) -> str:
        """A choice label in a language."""
        return self.part(Part(key), locale)

    def render(self, message: MessageCreated, locale: str, style: ChoiceStyle, timezone: str | None = None) -> Rendered:
        """The whole message for a channel: sentences, then choices in the channel's style."""
        body = " ".join(self.part(p, locale, timezone) for p in message.parts)
        buttons = tuple(Button(c.value, self.part(Part(c.label, c.params), locale, timezone)) for c in message.choices)
        if not buttons:
            return Rendered(body, (), message.purpose)
        if style is ChoiceStyle.BUTTONS:
            return Rendered(body, buttons, message.purpose)
        if message.instruction is not None:
            return Rendered(f"{body} {self.part(message.instruction, locale)}", (), message.purpose)
        options = ", ".join(
            self.part(Part("common.choices.option", {"number": str(n), "label": b.label}), locale)
            for n, b in enumerate(buttons, start=1)
        )
        reply = self.part(Part("common.choices.reply", {"options": options}), locale)
        return Rendered(f"{body}\n{reply}", (), message.purpose)
