"""Fixtures for the reliability suite (issue 8): the end-to-end `stack` of tests/e2e, and one HTTP client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import stack

__all__ = ["http", "stack"]


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """One HTTP client per test, as a provider keeps its connections (httpx.post() builds a TLS context,
    ~80 ms, on every call)."""
    with httpx.Client(timeout=30) as client:
        yield client
