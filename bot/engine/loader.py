"""Load flow files and message books, and reject anything that could misbehave at run time.

Checks: the YAML shape, registered names (guards, actions, parsers, prompts), dangling routes,
unreachable states, answers without a route, states that could get stuck, and message ids that are
missing, repeated or outside their file's namespace. Every error names the file and the state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.engine.registry import REGISTRY, Registry
from bot.engine.spec import ADVANCE, Call, FlowSpec, MessageBook, MessageSpec, StateSpec
from bot.yaml_files import load_yaml

RESERVED_TRIGGERS = frozenset({ADVANCE, "unclear"})
NOT_FLOWS = frozenset({"vocabulary.yaml", "safety.yaml"})  # word lists, not flows


class FlowError(Exception):
    """One or more flow files are invalid; the message lists every problem."""


@dataclass(frozen=True, slots=True)
class FlowSet:
    """Every flow and shared message, validated."""

    flows: dict[str, FlowSpec]
    books: dict[str, MessageBook]
    sources: dict[str, Path]

    def messages(self) -> dict[str, MessageSpec]:
        """Every message id of every flow and book, in file order."""
        found: dict[str, MessageSpec] = {}
        for book in self.books.values():
            found.update((m.id, m) for m in book.messages)
        for flow in self.flows.values():
            found.update((m.id, m) for m in flow.messages())
        return found


def flows_dir() -> Path:
    """Where the shipped flows live."""
    return Path(str(resources.files("flows")))


def _location(loc: Iterable[Any]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _read(path: Path) -> FlowSpec | MessageBook:
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise FlowError(f"{path}: cannot read it ({exc})") from None
    if not isinstance(raw, dict):
        raise FlowError(f"{path}: expected a mapping at the top level")
    _reject_non_string_keys(path, raw, ())
    model: type[FlowSpec] | type[MessageBook] = FlowSpec if "states" in raw else MessageBook
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_location(e['loc'])}: {str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors()
        )
        raise FlowError(f"{path}: {problems}") from None


def _reject_non_string_keys(path: Path, node: Any, where: tuple[str, ...]) -> None:
    """YAML 1.1 turns unquoted yes/no/on/off keys into booleans; catch it before it confuses routing."""
    if isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                raise FlowError(f"{path}: {_location(where)}: key {key!r} is not text; quote it")
            _reject_non_string_keys(path, value, (*where, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _reject_non_string_keys(path, value, (*where, str(index)))


class _Checker:
    def __init__(self, registry: Registry, flow_ids: set[str]) -> None:
        self.registry = registry
        self.flow_ids = flow_ids
        self.problems: list[str] = []

    def check_flow(self, path: Path, flow: FlowSpec) -> None:
        where = f"{path}: flow {flow.id!r}"
        if path.stem != flow.id:
            self.problems.append(f"{where}: the file must be named {flow.id}.yaml")
        if flow.initial not in flow.states:
            self.problems.append(f"{where}: initial state {flow.initial!r} does not exist")
        for name, state in flow.states.items():
            self._check_state(f"{where}, state {name!r}", flow, state)
        for place, message in _placed_messages(flow):
            if not message.id.startswith(f"{flow.id}."):
                self.problems.append(f"{where}, {place}: message id {message.id!r} must start with '{flow.id}.'")
        unreachable = sorted(set(flow.states) - _reachable(flow))
        if unreachable and flow.initial in flow.states:
            self.problems.append(f"{where}: unreachable states: {', '.join(unreachable)}")

    def _check_call(self, where: str, call: Call) -> None:
        entry = self.registry.actions.get(call.name)
        if entry is None:
            self.problems.append(f"{where}: unknown action {call.name!r}")
        elif entry.takes_argument != (call.argument is not None):
            form = f"{call.name}(...)" if entry.takes_argument else call.name
            self.problems.append(f"{where}: action {call.name!r} is written {form}")

    def _calls(self, where: str, written: Iterable[str]) -> None:
        for text in written:
            try:
                call = Call.parse(text)
            except ValueError as exc:
                self.problems.append(f"{where}: {exc}")
                continue
            self._check_call(where, call)

    def _check_state(self, where: str, flow: FlowSpec, state: StateSpec) -> None:
        self._calls(where, state.do)
        if state.next_flow is not None and state.next_flow not in self.flow_ids:
            self.problems.append(f"{where}: next_flow {state.next_flow!r} does not exist")
        for route in state.routes:
            if route.to not in flow.states:
                self.problems.append(f"{where}: route goes to {route.to!r}, which does not exist")
            for guard in (route.if_, route.unless):
                if guard is not None and guard not in self.registry.guards:
                    self.problems.append(f"{where}: unknown guard {guard!r}")
            self._calls(where, route.do)
        triggers: dict[str, list[bool]] = {}
        for route in state.routes:
            triggers.setdefault(route.trigger, []).append(route.conditional)
        for trigger, conditional in triggers.items():
            if conditional[-1]:
                self.problems.append(
                    f"{where}: the last route for {trigger!r} has a guard, so the flow could get stuck"
                )
        ask = state.ask
        if ask is None:
            return
        parser = self.registry.parsers.get(ask.expect)
        if parser is None:
            self.problems.append(f"{where}: unknown answer parser {ask.expect!r}")
        if ask.prompt is not None and ask.prompt not in self.registry.prompts:
            self.problems.append(f"{where}: unknown prompt {ask.prompt!r}")
        if ask.retry is not None:
            if ask.retry.then is not None and ask.retry.then not in flow.states:
                self.problems.append(f"{where}: retry goes to {ask.retry.then!r}, which does not exist")
            if ask.retry.then_flow is not None and ask.retry.then_flow not in self.flow_ids:
                self.problems.append(f"{where}: retry starts flow {ask.retry.then_flow!r}, which does not exist")
        if parser is None:
            return
        outcomes = parser.outcomes(ask)
        for trigger in triggers:
            if trigger in RESERVED_TRIGGERS or trigger not in outcomes:
                known = ", ".join(sorted(outcomes))
                self.problems.append(f"{where}: {ask.expect!r} never answers {trigger!r} (it answers {known})")
        for outcome in sorted(outcomes - set(triggers)):
            self.problems.append(f"{where}: answer {outcome!r} has no route")

    def check_messages(self, messages: Iterable[tuple[Path, str, MessageSpec]]) -> None:
        """Find repeated message ids; each message comes with its file and where in it (flow and state)."""
        seen: dict[str, tuple[Path, str]] = {}
        for path, place, message in messages:
            if message.id in seen:
                first_path, first_place = seen[message.id]
                self.problems.append(
                    f"{path}: {place}: message id {message.id!r} is also used in {first_path} ({first_place})"
                )
            seen[message.id] = (path, place)
        for key in sorted(self.registry.messages_used - set(seen)):
            self.problems.append(f"message {key!r} is used by trialbot's code but no flow file defines it")


def _placed_messages(flow: FlowSpec) -> list[tuple[str, MessageSpec]]:
    """Every message of a flow (in `FlowSpec.messages` order) with the state that writes it, for errors."""
    placed = [(f"state {name!r}", m) for name, state in flow.states.items() for m in state.messages()]
    placed.extend(("messages", m) for m in flow.messages_)
    return placed


def _reachable(flow: FlowSpec) -> set[str]:
    seen: set[str] = set()
    todo = [flow.initial]
    while todo:
        name = todo.pop()
        if name in seen or name not in flow.states:
            continue
        seen.add(name)
        state = flow.states[name]
        todo.extend(route.to for route in state.routes)
        if state.ask is not None and state.ask.retry is not None and state.ask.retry.then is not None:
            todo.append(state.ask.retry.then)
    return seen


def load_flows(directory: Path | None = None, registry: Registry = REGISTRY) -> FlowSet:
    """Load and check every flow and message book in a folder; raise FlowError listing all problems."""
    import bot.behaviour  # noqa: F401  (registers the named behaviour the flows refer to)

    folder = directory or flows_dir()
    flows: dict[str, FlowSpec] = {}
    books: dict[str, MessageBook] = {}
    sources: dict[str, Path] = {}
    problems: list[str] = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name in NOT_FLOWS:
            continue
        try:
            spec = _read(path)
        except FlowError as exc:
            problems.append(str(exc))
            continue
        target: dict[str, Any] = flows if isinstance(spec, FlowSpec) else books
        if spec.id in flows or spec.id in books:
            problems.append(f"{path}: id {spec.id!r} is also used in {sources[spec.id]}")
            continue
        target[spec.id] = spec
        sources[spec.id] = path
    checker = _Checker(registry, set(flows))
    for flow_id, flow in flows.items():
        checker.check_flow(sources[flow_id], flow)
    for book_id, book in books.items():
        for message in book.messages:
            if not message.id.startswith(f"{book_id}."):
                problems.append(f"{sources[book_id]}: message id {message.id!r} must start with '{book_id}.'")
    checker.check_messages(
        [(sources[b], f"message book {b!r}", m) for b, book in books.items() for m in book.messages]
        + [(sources[f], f"flow {f!r}, {place}", m) for f, flow in flows.items() for place, m in _placed_messages(flow)]
    )
    known = FlowSet(flows, books, sources).messages()
    for flow_id, flow in flows.items():
        for name, state in flow.states.items():
            for ref in state.references():
                if ref not in known:
                    problems.append(f"{sources[flow_id]}: flow {flow_id!r}, state {name!r}: no message {ref!r}")
    problems.extend(checker.problems)
    if problems:
        raise FlowError("\n".join(problems))
    return FlowSet(flows=flows, books=books, sources=sources)
