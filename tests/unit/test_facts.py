"""Facts are read when a flow first asks for them, once, and never by counting or listing them."""

from __future__ import annotations

import pytest

from bot.facts import Facts


def test_a_fact_is_read_on_first_use_and_only_once() -> None:
    reads: list[str] = []

    def visits() -> list[str]:
        reads.append("visits")
        return ["week_4"]

    facts = Facts({"enrolled": True}, upcoming_visits=visits)
    assert len(facts) == 2
    assert sorted(facts) == ["enrolled", "upcoming_visits"]
    assert reads == []  # listing and counting read nothing
    assert facts["enrolled"] is True
    assert reads == []
    assert facts.get("upcoming_visits") == ["week_4"]
    assert facts["upcoming_visits"] == ["week_4"]
    assert reads == ["visits"]
    assert facts.read() == ["enrolled", "upcoming_visits"]


def test_an_unknown_fact_is_missing_as_in_a_dict() -> None:
    facts = Facts(channels=lambda: ["sms"])
    assert facts.get("source") is None
    assert "source" not in facts
    assert "channels" in facts
    with pytest.raises(KeyError):
        facts["source"]
    assert facts.read() == []


def test_a_known_value_wins_over_a_lookup_of_the_same_name() -> None:
    def never() -> bool:
        raise AssertionError("looked up although known")

    facts = Facts({"enrolled": False}, enrolled=never)
    assert facts["enrolled"] is False
    assert len(facts) == 1
