"""SMS segment counting, and every SMS the flows can send, in every language, within 3 segments (SMS-18/19)."""

from __future__ import annotations

import pytest

from bot.behaviour.prescreen import question_choices, question_key
from bot.bootstrap import Core
from bot.channels.rendering import ChoiceStyle
from bot.channels.segments import count_segments
from bot.domain import Choice, MessageCreated, Part
from bot.engine import REGISTRY
from bot.engine.spec import PLACEHOLDER

MAX_SEGMENTS = 3
EXAMPLE_PARAMS = {
    "question_count": 5, "min": 1, "max": 120, "example": "12/31/2024", "month_example": "12/2024",
}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # extension characters take two septets
        ("[]{}", "GSM-7", 8, 1),
        ("é ñ ¿ ¡ ü", "GSM-7", 9, 1),  # in the GSM-7 table
        ("¿Cuándo es su próxima cita?", "UCS-2", 27, 1),  # á and ó are not (SMS-19)
        ("á" * 70, "UCS-2", 70, 1),
        ("á" * 71, "UCS-2", 71, 2),
        ("👍", "UCS-2", 2, 1),  # a surrogate pair: two UTF-16 units
        ("9:00\u202fAM", "UCS-2", 7, 1),  # why babel's narrow spaces are replaced before sending
    ],
)
def test_count_segments(text: str, encoding: str, units: int, segments: int) -> None:
    counted = count_segments(text)
    assert (counted.encoding, counted.units, counted.segments) == (encoding, units, segments)


def _sms_messages(core: Core) -> dict[str, MessageCreated]:
    """Every SMS a participant can get: each sentence alone, and each question as asked and as re-asked."""
    found: dict[str, MessageCreated] = {}

    def params(key: str) -> dict[str, object]:
        names = PLACEHOLDER.findall(core.translator.source(key))
        return {n: EXAMPLE_PARAMS[n] for n in names if n in EXAMPLE_PARAMS}

    always = {"study_name", "contact_phone", "contact_hours", "emergency_number", "crisis_number"}
    for key in core.translator.messages:
        # Fragments ("Reply {options}.", "{first} to {last}") are only ever sent inside other messages.
        if set(PLACEHOLDER.findall(core.translator.source(key))) <= always | set(EXAMPLE_PARAMS):
            found[key] = MessageCreated((Part(key, params(key)),))
    questions: list[tuple[str, tuple[Part, ...], tuple[Choice, ...]]] = []
    for flow in core.flows.flows.values():
        for name, state in flow.states.items():
            ask = state.ask
            if ask is None or ask.prompt is not None or ask.id is None:
                continue
            if ask.choices:
                choices = tuple(Choice(c.id, f"{ask.id}.{c.id}") for c in ask.choices)
            else:
                choices = REGISTRY.parsers[ask.expect].default_choices
            questions.append((f"{flow.id}.{name}", (Part(ask.id, params(ask.id)),), choices))
    for question in core.loaded.study.prescreen.questions:
        questions.append((question_key(question), (Part(question_key(question)),), question_choices(question)))
    languages = tuple(Choice(lang, f"common.language.{lang}") for lang in core.loaded.study.languages)
    questions.append(("language.choose", (Part("language.choose"),), languages))
    for where, parts, choices in questions:
        found[f"ask {where}"] = MessageCreated(parts, choices)
        found[f"re-ask {where}"] = MessageCreated((Part("common.unclear"), *parts), choices)
    for hint in ("common.hint.number", "common.hint.date", "common.hint.past_date"):
        found[f"re-ask with {hint}"] = MessageCreated((Part("common.unclear"), Part(hint, params(hint))))
    found["media, then a question"] = MessageCreated((Part("common.media"), Part("study.travel")), languages)
    return found


def test_every_sms_fits_in_three_segments(core: Core) -> None:
    too_long: list[str] = []
    table: list[str] = []
    for locale in core.loaded.study.languages:
        for where, message in _sms_messages(core).items():
            body = core.renderer.render(message, locale, ChoiceStyle.NUMBERED).body
            counted = count_segments(body)
            table.append(f"{locale} {counted.encoding} {counted.segments} {where}")
            if counted.segments > MAX_SEGMENTS:
                too_long.append(f"{locale} {where}: {counted.segments} segments ({counted.encoding}): {body!r}")
    assert len(table) > 100
    assert too_long == [], "\n".join(too_long)


def test_english_sms_stay_gsm7(core: Core) -> None:
    """English text has no reason to be UCS-2 (a stray curly quote or narrow space would halve its length)."""
    ucs2 = [
        where
        for where, message in _sms_messages(core).items()
        if count_segments(core.renderer.render(message, "en", ChoiceStyle.NUMBERED).body).encoding != "GSM-7"
        and where not in ("common.language.es", "ask language.choose", "re-ask language.choose")
        and "media" not in where
    ]
    assert ucs2 == []
