"""Named behaviour that flow YAML may refer to: guards, actions, answer parsers and prompts.

Flows are data; anything with logic is a Python function registered here under a name, and the
loader rejects names that are not registered. There is no expression language and no `eval`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.domain import JSON, Choice, Event, JSONDict, Part

if TYPE_CHECKING:
    from bot.engine.spec import AskSpec
    from bot.study import Study
    from bot.vocabulary import Vocabulary


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What a turn may read besides the conversation: the study, the patient's language and the time."""

    study: Study
    locale: str
    now: datetime
    vocabulary: Vocabulary
    # All renderings of a message id across shipped languages, so "Mañana" picks "morning" in English.
    label_texts: Callable[[str], tuple[str, ...]]
    timezone: str = "UTC"
    # What flows may know about the participant beyond the conversation, read by the service for the
    # turn when first asked (bot/facts.py): {"upcoming_visits": [{"visit_id", "visit_type", "when",
    # "site"}, ...], "channels": [...], "enrolled": bool, "source": ...}.
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def today(self) -> date:
        """The date where the participant lives (not in UTC: near midnight they differ)."""
        return self.now.astimezone(ZoneInfo(self.timezone)).date()


@dataclass(slots=True)
class Turn:
    """The model a flow's shared state machine acts on for one step; plain data, never stored."""

    flow: str
    state: str
    data: JSONDict
    context: TurnContext
    events: list[Event] = field(default_factory=list)
    answer: JSON = None
    locale: str = "en"

    def emit(self, event: Event) -> None:
        """Append an event to this turn's output."""
        self.events.append(event)


@dataclass(frozen=True, slots=True)
class Prompt:
    """What to ask: the sentences, then the choices offered."""

    parts: tuple[Part, ...]
    choices: tuple[Choice, ...] = ()
    instruction: Part | None = None


@dataclass(frozen=True, slots=True)
class ParseResult:
    """How an answer was read: an outcome (a route trigger) and a value, or unclear with a hint."""

    outcome: str | None
    value: JSON = None
    hint: Part | None = None

    @property
    def unclear(self) -> bool:
        """True when the answer could not be read."""
        return self.outcome is None


@dataclass(frozen=True, slots=True)
class Answer:
    """An inbound answer as parsers see it."""

    text: str
    folded: str
    choices: tuple[Choice, ...]
    turn: Turn


Guard = Callable[[Turn], bool]
Action = Callable[..., None]
PromptFn = Callable[[Turn], Prompt]
ParserFn = Callable[[Answer], ParseResult]


@dataclass(frozen=True, slots=True)
class ParserEntry:
    """A registered parser with the outcomes it can produce and the choices it offers by default."""

    parse: ParserFn
    outcomes: Callable[[AskSpec], frozenset[str]]
    default_choices: tuple[Choice, ...] = ()


@dataclass(frozen=True, slots=True)
class ActionEntry:
    """A registered action; `takes_argument` means it is written `name(arg)` in YAML."""

    run: Action
    takes_argument: bool = False


class Registry:
    """Holds every named guard, action, parser and prompt."""

    def __init__(self) -> None:
        """Start empty."""
        self.guards: dict[str, Guard] = {}
        self.actions: dict[str, ActionEntry] = {}
        self.parsers: dict[str, ParserEntry] = {}
        self.prompts: dict[str, PromptFn] = {}
        self.messages_used: set[str] = set()

    def _claim(self, table: dict[str, Any], name: str) -> None:
        if name in table:
            raise ValueError(f"{name!r} is registered twice")

    def guard(self, name: str) -> Callable[[Guard], Guard]:
        """Register a guard: a yes/no question about the turn, used in a route's `if:`."""

        def register(fn: Guard) -> Guard:
            self._claim(self.guards, name)
            self.guards[name] = fn
            return fn

        return register

    def action(self, name: str, *, takes_argument: bool = False) -> Callable[[Action], Action]:
        """Register an action: something a state or route `do:`es, which emits events or sets data."""

        def register(fn: Action) -> Action:
            self._claim(self.actions, name)
            self.actions[name] = ActionEntry(fn, takes_argument)
            return fn

        return register

    def parser(
        self,
        name: str,
        *,
        outcomes: frozenset[str] | Callable[[AskSpec], frozenset[str]],
        choices: tuple[Choice, ...] = (),
    ) -> Callable[[ParserFn], ParserFn]:
        """Register an answer parser with its possible outcomes (fixed, or computed from the ask)."""
        outcome_fn = outcomes if callable(outcomes) else (lambda _ask, fixed=outcomes: fixed)

        def register(fn: ParserFn) -> ParserFn:
            self._claim(self.parsers, name)
            self.parsers[name] = ParserEntry(fn, outcome_fn, choices)
            return fn

        return register

    def uses(self, *keys: str) -> None:
        """Declare message ids that Python code sends, so loading fails if a flow file lacks them."""
        self.messages_used.update(keys)

    def prompt(self, name: str) -> Callable[[PromptFn], PromptFn]:
        """Register a prompt: builds a question whose text comes from outside the flow (the study)."""

        def register(fn: PromptFn) -> PromptFn:
            self._claim(self.prompts, name)
            self.prompts[name] = fn
            return fn

        return register


REGISTRY = Registry()
"""The registry every flow is checked against; behaviour modules register into it at import."""
