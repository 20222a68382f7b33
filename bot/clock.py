"""Time as a port: the real clock in production, a settable one in tests and previews (`--at`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the current time as an aware UTC datetime."""

    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        return datetime.now(UTC)


class SettableClock:
    """A clock that stays where it is put, for tests and for previewing a given moment."""

    def __init__(self, at: datetime) -> None:
        """Start at `at` (aware)."""
        if at.tzinfo is None:
            raise ValueError("the clock needs an aware datetime")
        self._now = at.astimezone(UTC)

    def now(self) -> datetime:
        """The time the clock was set to."""
        return self._now

    def set(self, at: datetime) -> None:
        """Move to a moment."""
        if at.tzinfo is None:
            raise ValueError("the clock needs an aware datetime")
        self._now = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        """Move forward (or back, with a negative delta)."""
        self._now += delta
