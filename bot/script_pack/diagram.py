"""A Mermaid stateDiagram-v2 of a flow, generated from its definition: states, routes and hand-offs."""

from __future__ import annotations

from bot.engine.spec import FlowSpec, RouteSpec

RESERVED = frozenset({"state", "note", "end", "as", "direction", "class", "classdef", "click", "style", "default"})


def _node(name: str) -> str:
    """A state's id in the diagram (a few words are Mermaid's own; they get a suffix)."""
    return f"{name}_state" if name.lower() in RESERVED else name


def _label(route: RouteSpec) -> str:
    """A transition's label: the answer it follows and the guard that must allow it."""
    words = [route.when] if route.when else []
    if route.if_:
        words.append(f"if {route.if_}")
    if route.unless:
        words.append(f"unless {route.unless}")
    return f": {', '.join(words)}" if words else ""


def mermaid(flow: FlowSpec) -> str:
    """The flow as Mermaid source: answers and guards label the routes, final states lead to [*]."""
    lines = ["stateDiagram-v2"]
    lines += [f'    state "{n}" as {_node(n)}' for n in flow.states if _node(n) != n]
    handoffs: dict[str, str] = {}
    for state in flow.states.values():
        if state.next_flow is not None and state.next_flow not in handoffs:
            node = f"flow_{state.next_flow}"
            while node in flow.states:
                node += "_"
            handoffs[state.next_flow] = node
            lines.append(f'    state "{state.next_flow} flow" as {node}')
    lines.append(f"    [*] --> {_node(flow.initial)}")
    notes: list[str] = []
    for name, state in flow.states.items():
        here = _node(name)
        lines += [f"    {here} --> {_node(route.to)}{_label(route)}" for route in state.routes]
        retry = state.ask.retry if state.ask is not None else None
        if retry is not None and retry.then is not None:
            lines.append(f"    {here} --> {_node(retry.then)}: {retry.tries} unclear answers")
        elif retry is not None and retry.then_flow is not None:
            notes.append(
                f"    note right of {here}: {retry.tries} unclear answers start {retry.then_flow}, then it asks again"
            )
        if state.next_flow is not None:
            lines.append(f"    {here} --> {handoffs[state.next_flow]}: next flow")
            lines.append(f"    {handoffs[state.next_flow]} --> [*]")
        elif state.final:
            lines.append(f"    {here} --> [*]")
    return "\n".join(dict.fromkeys(lines + notes))
