"""Identifiers as a port: random pseudonymous participant codes, or predictable ones in tests."""

from __future__ import annotations

import secrets
from itertools import count
from typing import Protocol

# No 0/O, 1/I/L, so a code read out over the phone is not misheard.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 6


class IdSource(Protocol):
    """Makes new participant codes."""

    def participant_code(self) -> str:
        """A new pseudonymous code like P-7K3QX9."""
        ...


class RandomIds:
    """Random codes: about 887 million possible, so collisions are rare and are retried."""

    def participant_code(self) -> str:
        """A new random code."""
        return "P-" + "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


class SequentialIds:
    """P-000001, P-000002, ...: for golden transcripts."""

    def __init__(self, start: int = 1) -> None:
        """Count from `start`."""
        self._next = count(start)

    def participant_code(self) -> str:
        """The next code in sequence."""
        return f"P-{next(self._next):06d}"
