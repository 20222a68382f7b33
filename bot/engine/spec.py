"""The shape of a flow file: states that say things, ask one thing, and route on the answer.

A state may `say` messages, run actions (`do`), `ask` one question and list `routes`. A route with a
`when` fires on an answer outcome; a route without one fires as soon as the state is entered. A
`final` state ends the flow. See flows/README.md for the full reference.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

_NAME = r"^[a-z][a-z0-9_]*$"
_MESSAGE_ID = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"
_CALL = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)(?:\((?P<arg>[a-z0-9_.-]+)\))?$")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
ADVANCE = "advance"
"""The trigger of routes without `when`: taken on entering a state that asks nothing."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, str_strip_whitespace=True)


class MessageSpec(_Strict):
    """A patient-facing sentence: a stable id and its English source text (a gettext msgid)."""

    id: str = Field(pattern=_MESSAGE_ID)
    text: str = Field(min_length=1)
    note: str | None = Field(default=None, description="a note for translators and the IRB")

    @model_validator(mode="after")
    def _check(self) -> MessageSpec:
        stray = self.text.replace("{{", "").replace("}}", "")
        stray = PLACEHOLDER.sub("", stray)
        if "{" in stray or "}" in stray:
            raise ValueError(f"message {self.id}: braces must wrap a simple name like {{study_name}}")
        return self


class ChoiceSpec(_Strict):
    """An option offered in a question; `id` is the outcome a route can match."""

    id: str = Field(pattern=_NAME)
    text: str = Field(min_length=1)
    keys: tuple[str, ...] = Field(default=(), description="short replies that pick it, e.g. C for Confirm")


class RetrySpec(_Strict):
    """What to do when answers stay unclear: after `tries`, go to a state or start a sub-flow."""

    tries: int = Field(default=3, ge=1, le=10)
    then: str | None = Field(default=None, pattern=_NAME)
    then_flow: str | None = Field(default=None, pattern=_NAME)

    @model_validator(mode="after")
    def _check(self) -> RetrySpec:
        if (self.then is None) == (self.then_flow is None):
            raise ValueError("give exactly one of then (a state) or then_flow (a sub-flow)")
        return self


class AskSpec(_Strict):
    """The one question a state asks, and how its answer is read."""

    id: str | None = Field(default=None, pattern=_MESSAGE_ID)
    text: str | None = None
    prompt: str | None = Field(default=None, pattern=_NAME, description="a registered prompt function")
    expect: str = Field(pattern=_NAME, description="a registered answer parser")
    choices: tuple[ChoiceSpec, ...] = ()
    instruction: str | None = Field(
        default=None, min_length=1, description="how to reply, said on SMS instead of numbered choices"
    )
    retry: RetrySpec | None = None

    @model_validator(mode="after")
    def _check(self) -> AskSpec:
        if self.text is not None and self.id is None:
            raise ValueError("give both id and text for the question")
        if (self.text is not None) == (self.prompt is not None):
            raise ValueError("give either id and text, or a prompt function")
        if (self.choices or self.instruction) and self.id is None:
            raise ValueError("give an id: it names the choices and the instruction")
        ids = [c.id for c in self.choices]
        if len(set(ids)) != len(ids):
            raise ValueError("choice ids must be unique")
        return self

    def message(self) -> MessageSpec | None:
        """The question as a message, when its text is in the flow."""
        if self.id is None or self.text is None:
            return None
        return MessageSpec(id=self.id, text=self.text)

    def choice_messages(self) -> list[MessageSpec]:
        """The choice labels (and the instruction) as messages; their ids extend the question id."""
        found = [MessageSpec(id=f"{self.id}.{c.id}", text=c.text) for c in self.choices]
        if self.instruction is not None:
            found.append(MessageSpec(id=f"{self.id}.reply", text=self.instruction))
        return found


class Call(_Strict):
    """A reference to a registered action, with an optional argument: `name` or `name(arg)`."""

    name: str
    argument: str | None = None

    @classmethod
    def parse(cls, written: str) -> Call:
        """Read `name` or `name(arg)`."""
        match = _CALL.match(written.strip())
        if match is None:
            raise ValueError(f"{written!r} is not an action name like record_answer or request_staff(help)")
        return cls(name=match["name"], argument=match["arg"])

    def __str__(self) -> str:
        return self.name if self.argument is None else f"{self.name}({self.argument})"


class RouteSpec(_Strict):
    """Where to go next: on an outcome (`when`), if a guard allows it, after running actions."""

    when: str | None = Field(default=None, pattern=_NAME)
    if_: str | None = Field(default=None, alias="if", pattern=_NAME)
    unless: str | None = Field(default=None, pattern=_NAME)
    do: tuple[str, ...] = ()
    to: str = Field(pattern=_NAME)

    @property
    def trigger(self) -> str:
        """The machine trigger this route listens to."""
        return self.when or ADVANCE

    @property
    def conditional(self) -> bool:
        """True when a guard decides whether the route is taken."""
        return self.if_ is not None or self.unless is not None

    def calls(self) -> list[Call]:
        """The actions, parsed."""
        return [Call.parse(d) for d in self.do]


MessageRef = Annotated[str, Field(pattern=_MESSAGE_ID)]


class StateSpec(_Strict):
    """One state of a flow."""

    say: tuple[MessageSpec | MessageRef, ...] = Field(
        default=(), description="messages to send on entry: written here, or the id of a shared message"
    )
    do: tuple[str, ...] = ()
    ask: AskSpec | None = None
    routes: tuple[RouteSpec, ...] = ()
    final: bool = False
    next_flow: str | None = Field(default=None, pattern=_NAME, description="a flow to start when this one ends here")
    carry: tuple[str, ...] = Field(default=(), description="data the next flow starts with")
    purpose: str = Field(default="reply", pattern=_NAME)
    # True where the question is about health (a check-in's symptoms): a possible adverse event in the
    # answer is escalated without interrupting the flow, since telling us about it is the answer.
    health_details: bool = False

    @model_validator(mode="after")
    def _check(self) -> StateSpec:
        if self.final and (self.ask is not None or self.routes):
            raise ValueError("a final state cannot ask or route")
        if (self.next_flow is not None or self.carry) and not self.final:
            raise ValueError("only a final state can start a next_flow")
        if not self.final and not self.routes:
            raise ValueError("a state that is not final needs routes")
        if self.ask is None and any(r.when for r in self.routes):
            raise ValueError("routes with `when` need the state to ask something")
        if self.ask is not None and any(r.when is None for r in self.routes):
            raise ValueError("every route of a state that asks needs `when`")
        return self

    def calls(self) -> list[Call]:
        """The on-entry actions, parsed."""
        return [Call.parse(d) for d in self.do]

    def references(self) -> list[str]:
        """Ids of shared messages this state sends."""
        return [m for m in self.say if isinstance(m, str)]

    def messages(self) -> list[MessageSpec]:
        """Every message the state defines, in order."""
        found = [m for m in self.say if isinstance(m, MessageSpec)]
        if self.ask is not None:
            question = self.ask.message()
            if question is not None:
                found.append(question)
            found.extend(self.ask.choice_messages())
        return found


class FlowSpec(_Strict):
    """A whole flow: an id, an initial state and the states."""

    id: str = Field(pattern=_NAME)
    description: str = ""
    initial: str = Field(pattern=_NAME)
    states: dict[str, StateSpec] = Field(min_length=1)
    messages_: tuple[MessageSpec, ...] = Field(
        default=(), alias="messages", description="text used by registered prompts of this flow"
    )

    def messages(self) -> list[MessageSpec]:
        """Every message of the flow in state order, then those used by its prompts."""
        return [m for state in self.states.values() for m in state.messages()] + list(self.messages_)


class MessageBook(_Strict):
    """A file of shared messages that are not tied to one state (keyword replies, hints, labels)."""

    id: str = Field(pattern=_NAME)
    description: str = ""
    messages: tuple[MessageSpec, ...] = Field(min_length=1)
