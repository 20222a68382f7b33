"""The pure flow engine: (flows, conversation snapshot, input) → (events, new snapshot).

No I/O happens here. A snapshot is plain JSON: a stack of frames (the active flow on top, e.g. a
"talk to a person?" sub-flow above the prescreen), each with its state, data and unclear-answer count.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from transitions import Machine

from bot.domain import AnswerUnclear, Choice, Event, FlowEnded, FlowStarted, JSONDict, MessageCreated, Part
from bot.engine.compiler import compile_flow
from bot.engine.loader import FlowSet
from bot.engine.registry import REGISTRY, Answer, Prompt, Registry, Turn, TurnContext
from bot.engine.spec import ADVANCE, PLACEHOLDER, AskSpec, MessageSpec, StateSpec
from bot.text import fold

MAX_STEPS = 100  # a flow that moves this often without waiting for the patient has a loop
ACTIVE = "active"
COMPLETED = "completed"

REGISTRY.uses("common.unclear")


class EngineError(Exception):
    """A flow misbehaved at run time (a bug in a flow or a registered function)."""


@dataclass(slots=True)
class TurnResult:
    """What a turn produced: events in order, the new snapshot and the patient's language after it."""

    events: list[Event]
    snapshot: JSONDict
    locale: str

    @property
    def active(self) -> bool:
        """True while a flow is waiting for the patient."""
        return self.snapshot.get("status") == ACTIVE


def empty_snapshot() -> JSONDict:
    """A conversation with no flow yet."""
    return {"status": COMPLETED, "frames": []}


@dataclass(slots=True)
class _Run:
    """One turn in progress: a private copy of the frames, the events so far and the current language."""

    engine: Engine
    frames: list[JSONDict]
    context: TurnContext
    locale: str
    events: list[Event] = field(default_factory=list)

    @property
    def top(self) -> JSONDict:
        return self.frames[-1]

    def turn(self) -> Turn:
        top = self.top
        return Turn(
            flow=top["flow"], state=top["state"], data=top["data"], context=self.context,
            events=self.events, locale=self.locale,
        )  # fmt: skip

    def keep(self, turn: Turn) -> None:
        self.top["state"] = turn.state
        self.top["data"] = turn.data
        self.locale = turn.locale

    def state_spec(self) -> StateSpec:
        top = self.top
        return self.engine.flows.flows[top["flow"]].states[top["state"]]

    def fire(self, trigger: str, answer: Any = None) -> None:
        turn = self.turn()
        turn.answer = answer
        machine = self.engine.machines[turn.flow]
        if not machine.events[trigger].trigger(turn):
            raise EngineError(f"flow {turn.flow!r}, state {turn.state!r}: no route for {trigger!r} was taken")
        self.keep(turn)

    def push(self, flow_id: str, data: JSONDict | None = None) -> None:
        flow = self.engine.flows.flows[flow_id]
        self.frames.append({"flow": flow_id, "state": flow.initial, "data": dict(data or {}), "tries": 0})
        self.events.append(FlowStarted(flow_id))
        turn = self.turn()
        self.engine.enter_state(turn, flow.states[flow.initial])
        self.keep(turn)
        self.settle()

    def settle(self) -> None:
        """Move through states that ask nothing until one waits for the patient or the stack is empty."""
        for _ in range(MAX_STEPS):
            if not self.frames:
                return
            spec = self.state_spec()
            if spec.final:
                ended = self.frames.pop()
                self.events.append(FlowEnded(ended["flow"], ended["state"]))
                if spec.next_flow is not None:
                    # One flow hands over to the next (a reminder's "T" starts the travel request).
                    self.push(spec.next_flow, {k: ended["data"][k] for k in spec.carry if k in ended["data"]})
                    return
                if self.frames:
                    self.reprompt()
                    return
                continue
            if spec.ask is not None:
                return
            self.fire(ADVANCE)
        raise EngineError(f"flow {self.top['flow']!r} moved {MAX_STEPS} times without waiting: a loop")

    def reprompt(self, lead: tuple[Part, ...] = ()) -> None:
        """Ask the waiting question again (after HELP, a language change or a finished sub-flow)."""
        if not self.frames:
            return
        spec = self.state_spec()
        if spec.ask is None:
            return
        self.top["tries"] = 0
        turn = self.turn()
        prompt = self.engine.prompt(turn, spec.ask)
        self.events.append(
            MessageCreated(lead + prompt.parts, prompt.choices, purpose=spec.purpose, instruction=prompt.instruction)
        )
        self.keep(turn)

    def answer(self, text: str) -> None:
        spec = self.state_spec()
        ask = spec.ask
        if ask is None:
            raise EngineError(f"flow {self.top['flow']!r}, state {self.top['state']!r} is not waiting")
        turn = self.turn()
        prompt = self.engine.prompt(turn, ask)
        parser = self.engine.registry.parsers[ask.expect]
        result = parser.parse(Answer(text=text, folded=fold(text[:1000]), choices=prompt.choices, turn=turn))
        self.keep(turn)
        if not result.unclear:
            self.top["tries"] = 0
            assert result.outcome is not None
            self.fire(result.outcome, result.value)
            self.settle()
            return
        self.top["tries"] += 1
        tries = self.top["tries"]
        self.events.append(AnswerUnclear(self.top["flow"], self.top["state"], tries))
        retry = ask.retry
        if retry is not None and tries >= retry.tries:
            self.top["tries"] = 0
            if retry.then_flow is not None:
                self.push(retry.then_flow)
            else:
                self.fire("unclear")
                self.settle()
            return
        sorry = Part("common.unclear")
        if result.hint is not None:
            self.events.append(MessageCreated((sorry, result.hint), purpose=spec.purpose))
        else:
            self.events.append(
                MessageCreated(
                    (sorry, *prompt.parts), prompt.choices, purpose=spec.purpose, instruction=prompt.instruction
                )
            )

    def result(self) -> TurnResult:
        status = ACTIVE if self.frames else COMPLETED
        snapshot = {"status": status, "frames": self.frames}
        # A JSON round trip on every turn: anything that is not plain JSON fails here, not in storage.
        return TurnResult(self.events, json.loads(json.dumps(snapshot)), self.locale)


class Engine:
    """Runs turns of the loaded flows; safe to share between threads (it keeps no per-turn state)."""

    def __init__(self, flows: FlowSet, registry: Registry = REGISTRY) -> None:
        """Compile every flow once."""
        self.flows = flows
        self.registry = registry
        self.messages = flows.messages()
        self.machines: dict[str, Machine] = {
            flow_id: compile_flow(spec, registry, self.enter_state) for flow_id, spec in flows.flows.items()
        }

    def _run(self, snapshot: JSONDict | None, context: TurnContext) -> _Run:
        frames = copy.deepcopy((snapshot or empty_snapshot())["frames"])
        return _Run(self, frames, context, context.locale)

    def start(self, flow_id: str, context: TurnContext, snapshot: JSONDict | None = None) -> TurnResult:
        """Start a flow: on top of the snapshot's active flow (a sub-flow), or as a new conversation."""
        if flow_id not in self.flows.flows:
            raise EngineError(f"unknown flow {flow_id!r}")
        run = self._run(snapshot, context)
        run.push(flow_id)
        return run.result()

    def resume(self, snapshot: JSONDict, text: str, context: TurnContext) -> TurnResult:
        """Give the patient's reply to the waiting question."""
        run = self._run(snapshot, context)
        if not run.frames:
            raise EngineError("the conversation has no active flow")
        run.answer(text)
        return run.result()

    def preview(self, flow_id: str, data: JSONDict, context: TurnContext) -> list[MessageCreated]:
        """The messages a flow sends when it starts with this data, without starting it.

        The scheduler renders a reminder or a check-in with this when it plans one.
        """
        flow = self.flows.flows[flow_id]
        turn = Turn(flow=flow_id, state=flow.initial, data=copy.deepcopy(data), context=context, locale=context.locale)
        self.enter_state(turn, flow.states[flow.initial])
        return [e for e in turn.events if isinstance(e, MessageCreated)]

    def answer_opener(
        self, flow_id: str, data: JSONDict, text: str, context: TurnContext, snapshot: JSONDict | None = None
    ) -> TurnResult:
        """The patient answers a question the scheduler sent earlier (a reminder, a check-in).

        The flow's first question went out when it was planned, so it is entered without saying it
        again, and the answer is read at once. An earlier opener left unanswered on top is replaced.
        """
        flow = self.flows.flows.get(flow_id)
        if flow is None or flow.states[flow.initial].ask is None:
            raise EngineError(f"flow {flow_id!r} cannot be opened: its first state must ask")
        run = self._run(snapshot, context)
        while run.frames and run.frames[-1].get("opener"):
            run.frames.pop()
        run.frames.append(
            {"flow": flow_id, "state": flow.initial, "data": copy.deepcopy(data), "tries": 0, "opener": True}
        )
        run.events.append(FlowStarted(flow_id))
        run.answer(text)
        return run.result()

    def reprompt(self, snapshot: JSONDict, context: TurnContext, lead: tuple[Part, ...] = ()) -> TurnResult:
        """Ask the waiting question again, optionally after some lead sentences."""
        run = self._run(snapshot, context)
        run.reprompt(lead)
        return run.result()

    def enter_state(self, turn: Turn, state: StateSpec) -> None:
        """Entering a state: run its actions, say its messages, then ask its question."""
        for call in state.calls():
            entry = self.registry.actions[call.name]
            if entry.takes_argument:
                entry.run(turn, call.argument)
            else:
                entry.run(turn)
        for item in state.say:
            message = self.messages[item] if isinstance(item, str) else item
            turn.emit(MessageCreated((self.part(message, turn.data),), purpose=state.purpose))
        if state.ask is not None:
            prompt = self.prompt(turn, state.ask)
            turn.emit(
                MessageCreated(prompt.parts, prompt.choices, purpose=state.purpose, instruction=prompt.instruction)
            )

    def prompt(self, turn: Turn, ask: AskSpec) -> Prompt:
        """The question of a state: its text from a registered prompt function or from the flow;
        its choices from the flow when it lists them, else from the prompt or the parser."""
        instruction = Part(f"{ask.id}.reply") if ask.instruction is not None else None
        static = tuple(Choice(c.id, f"{ask.id}.{c.id}", c.keys) for c in ask.choices)
        if ask.prompt is not None:
            asked = self.registry.prompts[ask.prompt](turn)
            return Prompt(asked.parts, static or asked.choices, instruction or asked.instruction)
        message = ask.message()
        assert message is not None
        choices = static or self.registry.parsers[ask.expect].default_choices
        return Prompt((self.part(message, turn.data),), choices, instruction)

    @staticmethod
    def part(message: MessageSpec, data: JSONDict) -> Part:
        """A message with the placeholders its text needs that the flow's data holds."""
        names = set(PLACEHOLDER.findall(message.text))
        return Part(message.id, {n: data[n] for n in sorted(names) if n in data})

    def waiting(self, snapshot: JSONDict) -> tuple[str, str] | None:
        """The (flow, state) waiting for the patient, or None."""
        frames = snapshot.get("frames") or []
        if not frames:
            return None
        return frames[-1]["flow"], frames[-1]["state"]
