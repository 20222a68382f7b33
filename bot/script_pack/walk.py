"""Walk the flows in order and note where each message is sent: flow.state and role, in file order."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.bootstrap import Core
from bot.domain import Choice, MessageCreated, Part
from bot.engine import REGISTRY
from bot.engine.spec import AskSpec, FlowSpec
from bot.script_pack.behaviour import ACTIONS, ELSEWHERE, ELSEWHERE_PREFIXES, PARSER_HINTS, PROMPTS, Sends
from bot.script_pack.model import Use

FLOW_ORDER = (
    "onboarding", "prescreen", "consent", "visit_reminder", "missed_visit", "checkin", "travel", "settings",
    "language", "offer_person",
)  # fmt: skip


@dataclass(slots=True)
class Walk:
    """Where each message is used, which messages each flow sends, and the whole SMS of each question."""

    uses: dict[str, list[Use]] = field(default_factory=dict)
    by_flow: dict[str, list[str]] = field(default_factory=dict)
    sent: dict[str, tuple[str, MessageCreated]] = field(default_factory=dict)

    def add(self, flow: str, where: str, sends: Sends) -> None:
        """Note one use of a message, and the SMS it goes out in if it is the first one known."""
        uses = self.uses.setdefault(sends.key, [])
        use = Use(where, sends.role)
        if use not in uses:
            uses.append(use)
        keys = self.by_flow.setdefault(flow, [])
        if sends.key not in keys:
            keys.append(sends.key)
        if sends.sent is not None and sends.key not in self.sent:
            self.sent[sends.key] = (sends.sent_title, sends.sent)


def ordered_flows(core: Core) -> list[FlowSpec]:
    """The flows in the order a reader meets them: first contact, prescreen, consent, visits, the rest."""
    flows = core.flows.flows
    known = [flows[f] for f in FLOW_ORDER if f in flows]
    return known + [flows[f] for f in sorted(flows) if f not in FLOW_ORDER]


def _ask(core: Core, walk: Walk, flow: FlowSpec, where: str, ask: AskSpec) -> None:
    if ask.prompt is not None and ask.prompt in PROMPTS:
        for sends in PROMPTS[ask.prompt](core):
            walk.add(flow.id, where, sends)
    shown = tuple(Choice(c.id, f"{ask.id}.{c.id}") for c in ask.choices)
    instruction = Part(f"{ask.id}.reply") if ask.instruction is not None else None
    if ask.text is not None and ask.id is not None:
        shown = shown or REGISTRY.parsers[ask.expect].default_choices
        message = MessageCreated((Part(ask.id),), shown, instruction=instruction)
        walk.add(flow.id, where, Sends(ask.id, "ask", message, "The question as sent by SMS"))
    if instruction is not None:
        walk.add(flow.id, where, Sends(instruction.key, "instruction, said on SMS instead of numbered choices"))
    for choice in shown:
        walk.add(flow.id, where, Sends(choice.label, "choice label"))
    for hint in PARSER_HINTS.get(ask.expect, ()):
        walk.add(flow.id, where, Sends(hint, "hint"))


def walk_flows(core: Core) -> Walk:
    """Every message each flow sends, state by state: actions' messages, say, then the question and its parts."""
    walk = Walk()
    for flow in ordered_flows(core):
        for name, state in flow.states.items():
            where = f"{flow.id}.{name}"
            for call in state.calls():
                if call.name in ACTIONS:
                    for sends in ACTIONS[call.name](core):
                        walk.add(flow.id, where, sends)
            for item in state.say:
                walk.add(flow.id, where, Sends(item if isinstance(item, str) else item.id, "say"))
            if state.ask is not None:
                _ask(core, walk, flow, where, state.ask)
        for message in flow.messages_:
            if message.id not in walk.uses and not _elsewhere(message.id):
                walk.add(flow.id, flow.id, Sends(message.id, "sent by the flow's code"))
    for key in core.translator.messages:
        use = _elsewhere(key)
        if use is not None:
            walk.uses.setdefault(key, []).append(use)
    return walk


def _elsewhere(key: str) -> Use | None:
    """Where a message is sent outside the flows' states, if it is."""
    if key in ELSEWHERE:
        return Use(*ELSEWHERE[key])
    for prefix, (where, role) in ELSEWHERE_PREFIXES.items():
        if key.startswith(prefix):
            return Use(where, role)
    return None
