"""Compile a flow spec into one shared `transitions` machine, built once and reused by every turn.

The machine holds no model (`model=None`): each turn hands it a fresh `Turn`, so nothing is ever
attached or leaked, and `auto_transitions=False` means only the routes written in the YAML exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from transitions import EventData, Machine, State

from bot.engine.registry import Registry, Turn
from bot.engine.spec import Call, FlowSpec, StateSpec

EnterHook = Callable[[Turn, StateSpec], None]


def _turn(event: EventData) -> Turn:
    return cast(Turn, event.model)


def _guard(registry: Registry, name: str) -> Callable[[EventData], bool]:
    fn = registry.guards[name]
    return lambda event: fn(_turn(event))


def _action(registry: Registry, call: Call) -> Callable[[EventData], None]:
    entry = registry.actions[call.name]
    if entry.takes_argument:
        return lambda event: entry.run(_turn(event), call.argument)
    return lambda event: entry.run(_turn(event))


def _on_enter(hook: EnterHook, state: StateSpec) -> Callable[[EventData], None]:
    return lambda event: hook(_turn(event), state)


def compile_flow(flow: FlowSpec, registry: Registry, on_enter: EnterHook) -> Machine:
    """Build the machine for a flow; routes become transitions in the order they are written."""
    states = [State(name, on_enter=[_on_enter(on_enter, spec)]) for name, spec in flow.states.items()]
    transitions: list[dict[str, Any]] = []
    for name, spec in flow.states.items():
        for route in spec.routes:
            transitions.append(
                {
                    "trigger": route.trigger,
                    "source": name,
                    "dest": route.to,
                    "conditions": [_guard(registry, route.if_)] if route.if_ else [],
                    "unless": [_guard(registry, route.unless)] if route.unless else [],
                    # `before` runs after the guards pass and before the next state is entered, so a
                    # route's actions (recording an answer) are visible to the state it leads to.
                    "before": [_action(registry, c) for c in route.calls()],
                }
            )
        if spec.ask is not None and spec.ask.retry is not None and spec.ask.retry.then is not None:
            transitions.append({"trigger": "unclear", "source": name, "dest": spec.ask.retry.then})
    return Machine(
        model=None,
        states=states,
        transitions=transitions,
        initial=flow.initial,
        auto_transitions=False,
        send_event=True,
    )
