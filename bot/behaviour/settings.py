"""Settings behaviour: the participant's own choices, one at a time (PRIV-01, REM-03, SMS-05).

Each choice becomes an event the service stores: `PreferenceRecorded` for the call time, the
channel and the first name, `PurposeChanged` for each kind of scheduled message turned on or off.
The planner reads them when it plans (bot/planning.py): no reminders or check-ins of a purpose that
is off, the channel they prefer when they can be reached there, "Hi <name>." only with permission.
"""

from __future__ import annotations

import unicodedata

from bot.behaviour.parsers import UNCLEAR
from bot.domain import Part, PreferenceRecorded, PurposeChanged
from bot.engine.registry import REGISTRY, Answer, ParseResult, Turn
from bot.text import fold

MAX_NAME = 40
MESSAGE_KINDS: dict[str, tuple[str, ...]] = {"reminders": ("reminder", "booking"), "checkins": ("checkin",)}
"""What each "which messages" question turns on or off: the planner's purposes (bot/planning.py)."""
NAME_HINT = "settings.first_name.hint"
# Words people put before a name ("my name is Ana", "soy Ana"); folded, longest first.
_LEAD_INS = tuple(
    sorted(
        ("my name is", "my first name is", "name is", "call me", "i am", "im", "its", "it is", "me llamo",
         "mi nombre es", "mi primer nombre es", "soy", "llameme", "llamenme", "digame"),
        key=len, reverse=True,
    )
)  # fmt: skip
_JOINERS = frozenset(" -'’.")  # inside a name: "Mary Ann", "Jean-Luc", "O'Neil", "Ma. José"

REGISTRY.uses(NAME_HINT)


@REGISTRY.action("record_preference", takes_argument=True)
def record_preference(turn: Turn, name: str) -> None:
    """Keep the answer as a preference of this name (the best time to call)."""
    turn.emit(PreferenceRecorded(name, turn.answer))


@REGISTRY.guard("channel_ready")
def channel_ready(turn: Turn) -> bool:
    """True when the participant can already be reached on the channel they picked."""
    return str(turn.answer) in (turn.context.facts.get("channels") or [])


@REGISTRY.action("record_channel")
def record_channel(turn: Turn) -> None:
    """Prefer this channel for reminders and check-ins; until they can be reached there, the planner
    keeps using the one they have (bot/planning.py `_address`)."""
    turn.emit(PreferenceRecorded("channel", str(turn.answer)))


def _strip_lead_in(text: str) -> str:
    """The text without a leading "my name is" or "me llamo", when it has one."""
    words = text.split()
    for lead in _LEAD_INS:
        size = len(lead.split())
        if len(words) > size and fold(" ".join(words[:size])) == lead:
            return " ".join(words[size:])
    return text


def read_first_name(text: str) -> str | None:
    """A first name: 1 to 40 characters of letters, with spaces, hyphens or apostrophes between them.

    Written all in small or all in capital letters, it is capitalised ("ana" → "Ana"); otherwise it
    is kept as the person wrote it.
    """
    name = _strip_lead_in(" ".join(unicodedata.normalize("NFC", text).split())).strip(" .!,;")
    if not name or len(name) > MAX_NAME or fold(name) in _LEAD_INS:
        return None
    if not name[0].isalpha() or not all(ch.isalpha() or ch in _JOINERS for ch in name):
        return None
    if name.islower() or name.isupper():
        name = name.title()
    return name


@REGISTRY.parser("first_name", outcomes=frozenset({"answered"}))
def parse_first_name(answer: Answer) -> ParseResult:
    """A first name (see `read_first_name`); a yes or a no is not a name."""
    if len(answer.text) > 200:
        return UNCLEAR
    name = read_first_name(answer.text)
    vocabulary = answer.turn.context.vocabulary
    said = fold(answer.text)
    if name is None or any(said in vocabulary.answer_words(value) for value in ("yes", "no", "not_sure")):
        return ParseResult(None, hint=Part(NAME_HINT))
    return ParseResult("answered", name)


@REGISTRY.action("record_first_name")
def record_first_name(turn: Turn) -> None:
    """They allowed their first name, and gave it (REM-03)."""
    name = str(turn.answer)
    turn.data["name"] = name
    turn.emit(PreferenceRecorded("use_first_name", True))
    turn.emit(PreferenceRecorded("first_name", name))


@REGISTRY.action("forget_first_name")
def forget_first_name(turn: Turn) -> None:
    """They do not allow their first name: none in our messages, and a name we had is forgotten."""
    turn.emit(PreferenceRecorded("use_first_name", False))
    turn.emit(PreferenceRecorded("first_name", None))


@REGISTRY.action("set_messages", takes_argument=True)
def set_messages(turn: Turn, kind: str) -> None:
    """Turn a kind of scheduled message on (yes) or off (no), one event per purpose it covers (SMS-05)."""
    wanted = turn.answer == "yes"
    for purpose in MESSAGE_KINDS[kind]:
        turn.emit(PurposeChanged(purpose, wanted))
