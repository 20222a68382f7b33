"""Bad input through the real pipeline: every message is stored, gets a clear reply, and crashes nothing.

RELIABILITY §5: empty, whitespace only, very long, emoji and ZWJ sequences, a NUL byte (PostgreSQL
refuses it in text), right-to-left text and format-string look-alikes; then the Big List of Naughty
Strings, one after another in one conversation.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from bot.bootstrap import App
from bot.clock import SettableClock
from bot.text import sanitize
from tests.helpers import Patient

BAD_INPUTS = {
    "empty": "",
    "whitespace": "  \n\t ",
    "five_thousand_chars": "a" * 5000,
    "long_token_url": "https://example.org/" + "x" * 2000,
    "emoji": "👍🏽",
    "zwj_family": "👨\u200d👩\u200d👧\u200d👦",
    "flag": "🇺🇸",
    "nul_byte": "ab\x00cd",
    "right_to_left": "نعم",
    "mixed_rtl_digits": "موعد 12/3",
    "rtl_override": "\u202ePOTS",
    "brace_format": "{0}",
    "percent_format": "%s %d %(name)s %n",
    "double_braces": "{{ }}",
    "template_injection": "{{7*7}} ${7*7} #{7*7} {% raw %}",
    "attribute_lookup": "{participant.__class__.__mro__}",
    "sql_injection": "'; DROP TABLE participant;--",
    "html": "<script>alert(1)</script>",
    "json_lookalike": '{"update_id": 1, "message": {"text": "STOP"}}',
    "control_chars": "\x07\x1b[31mred\x1b[0m",
    "log_injection": "ok\r\n2026-01-01 INFO staff acked",
    "lone_surrogate": "bad \ud800 surrogate",
    "nfd_accent": "si\u0301",
}
CORPUS = Path(os.environ.get("TRIALBOT_BLNS", Path(__file__).resolve().parents[3] / "shared" / "corpora" / "blns.json"))


def _at_first_question(app: App, address: str) -> Patient:
    patient = Patient(app, address=address)
    patient.join()
    patient.send("yes")
    return patient


@pytest.mark.parametrize("text", list(BAD_INPUTS.values()), ids=list(BAD_INPUTS))
def test_bad_input_mid_flow_gets_a_reply_and_is_stored(app: App, text: str) -> None:
    patient = _at_first_question(app, "+15550100002")
    turn = patient.send(text)
    assert turn.replies, "every message gets a clear reply"
    assert all(r.strip() for r in turn.replies)
    stored = patient.inbound_rows()[-1]
    assert stored.text == sanitize(text)
    assert stored.status == "processed"
    assert "\x00" not in stored.text


@pytest.mark.parametrize("text", list(BAD_INPUTS.values()), ids=list(BAD_INPUTS))
def test_bad_input_as_a_first_message_starts_politely(app: App, text: str) -> None:
    patient = Patient(app, address="+15550100003")
    turn = patient.send(text)
    assert turn.replies
    assert patient.inbound_rows()[-1].status == "processed"


def test_user_text_is_never_used_as_a_template(app: App) -> None:
    patient = _at_first_question(app, "+15550100004")
    turn = patient.send("{study_name} {contact_phone} %s %(name)s {{x}}")
    assert turn.replies == ["Sorry, I didn't catch that. Please reply with a number from 1 to 120."]


def _corpus() -> list[str]:
    if not CORPUS.is_file():
        if os.environ.get("TRIALBOT_REQUIRE_CORPORA"):
            pytest.fail(f"the naughty-strings corpus is missing at {CORPUS}")
        pytest.skip(f"the naughty-strings corpus is not at {CORPUS} (set TRIALBOT_BLNS)")
    strings = json.loads(CORPUS.read_text(encoding="utf-8"))
    assert len(strings) >= 500
    return [str(s) for s in strings]


def test_naughty_strings_in_one_conversation(app: App, clock: SettableClock) -> None:
    strings = _corpus()
    patient = _at_first_question(app, "+15550100005")
    for number, text in enumerate(strings):
        opted_out = patient.participant().opted_out
        # At a person's pace (12 a minute): 515 messages at one instant would be a flood, and replies pause
        # (bot/flood.py; tests/reliability/test_nasty_inputs.py #63 sends one).
        clock.advance(timedelta(seconds=5))
        turn = patient.send(text)
        assert turn.inbound_id is not None, f"string {number} was not stored"
        if not opted_out:
            # Or, for the sixth time the same in half an hour, nothing, audited (bot/flood.py hold_repeats).
            held = any(e.startswith("reply_held") for e in turn.events)
            assert turn.replies or held, f"string {number} ({text!r}) got no reply"
    rows = patient.inbound_rows()
    assert len(rows) == len(strings) + 3
    assert {r.status for r in rows} == {"processed"}
