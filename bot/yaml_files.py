"""Read YAML (flows, the study file, vocabularies, the safety lexicon) with the C parser when it is there."""

from __future__ import annotations

from typing import Any

import yaml

try:  # libyaml ships in PyYAML's wheels; the pure-Python parser is about ten times slower at start-up
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - a PyYAML built without libyaml
    _Loader = yaml.SafeLoader


def load_yaml(text: str) -> Any:
    """Parse YAML text safely (no arbitrary objects), as `yaml.safe_load` does."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a safe loader)
