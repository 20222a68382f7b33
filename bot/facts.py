"""What flows may know about a participant beyond the conversation, each fact read when a flow first asks.

A turn of the prescreen needs none of them; a travel request needs the upcoming visits, the settings
flow the channels. Reading them all at every turn was three of a turn's sixteen statements, so the
service hands the turn a mapping whose values are looked up on first use, inside the turn's own
transaction, and then kept for the rest of the turn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any


class Facts(Mapping[str, Any]):
    """A read-only mapping of facts, some known already and some read on first use."""

    def __init__(self, known: Mapping[str, Any] | None = None, **lookups: Callable[[], Any]) -> None:
        """Facts given now (`known`) and facts read when first asked for (`lookups`, by name)."""
        self._values: dict[str, Any] = dict(known or {})
        self._lookups = {name: lookup for name, lookup in lookups.items() if name not in self._values}

    def __getitem__(self, name: str) -> Any:
        """The fact, read now if it was not read before; KeyError for a fact nobody provides."""
        if name not in self._values:
            lookup = self._lookups.pop(name)  # KeyError for an unknown fact, as a dict would raise
            self._values[name] = lookup()
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        """Whether the fact exists, without reading it (Mapping's own `in` would)."""
        return name in self._values or name in self._lookups

    def __iter__(self) -> Iterator[str]:
        """The names of every fact, read or not (iterating reads nothing)."""
        return iter([*self._values, *self._lookups])

    def __len__(self) -> int:
        """How many facts there are, read or not."""
        return len(self._values) + len(self._lookups)

    def read(self) -> list[str]:
        """The names of the facts read so far (for tests)."""
        return list(self._values)
