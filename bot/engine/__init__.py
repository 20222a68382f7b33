"""The flow engine: flow specs, their loader and checker, the compiler to state machines, the runner."""

from bot.engine.loader import FlowError, FlowSet, flows_dir, load_flows
from bot.engine.registry import REGISTRY, Answer, ParseResult, Prompt, Registry, Turn, TurnContext
from bot.engine.runner import Engine, EngineError, TurnResult, empty_snapshot

__all__ = [
    "REGISTRY",
    "Answer",
    "Engine",
    "EngineError",
    "FlowError",
    "FlowSet",
    "ParseResult",
    "Prompt",
    "Registry",
    "Turn",
    "TurnContext",
    "TurnResult",
    "empty_snapshot",
    "flows_dir",
    "load_flows",
]
