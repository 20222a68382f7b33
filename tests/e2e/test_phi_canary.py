"""The PHI canary (RELIABILITY T8): a marker written into patient messages across every flow and both
channels appears in no log line and in no staff alert, whatever the messages set off."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import select

from bot import staff_actions
from bot.bootstrap import build_scheduler
from bot.logs import NOISY, RedactingFilter
from storage.repositories import escalation_t, outbox_t
from tests.e2e.conftest import Stack, wait_until
from tests.fakes import edited_update, forwarded_update, text_update

CANARY = "CANARY-PHI-7f3c9e"
PATIENT = "+15550177001"
CHAT = 700177


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything logged, at DEBUG, through the same redacting filter as production."""
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    old_level = root.level
    noisy = {name: logging.getLogger(name).level for name in NOISY}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in NOISY:  # as production does: these libraries log request data at INFO and DEBUG
        logging.getLogger(name).setLevel(logging.WARNING)
    yield captured
    root.removeHandler(handler)
    root.setLevel(old_level)
    for name, level in noisy.items():
        logging.getLogger(name).setLevel(level)


def test_the_canary_is_in_no_log_line_and_no_staff_alert(stack: Stack, logs: io.StringIO) -> None:
    canary = CANARY
    # SMS: a prescreen with unclear answers, a person asked for, a crisis, an adverse event, STOP.
    for text in ("Hi", f"yes {canary}", f"I am {canary} years old", f"please call me {canary}, talk to a person",
                 f"I had a rash and went to the ER {canary}", f"{canary} I want to die", f"STOP {canary}"):  # fmt: skip
        assert stack.sms(PATIENT, text).status_code == 200
        stack.settle()
    # Telegram: an enrolled participant's check-in with free text, an edit, a forward, travel help.
    staff_actions.enrol(stack.app, f"telegram:{CHAT}", date(2026, 11, 24), "staff:test")
    staff_actions.book(
        stack.app, f"telegram:{CHAT}", "week_4", staff_actions.parse_local("2026-12-22", "09:30"), "staff:test"
    )
    updates = [
        text_update(1, CHAT, "hello"), text_update(2, CHAT, "yes"),  # agrees to texts (onboarding)
        text_update(3, CHAT, "check in"), text_update(4, CHAT, "2"), text_update(5, CHAT, "yes"),
        text_update(6, CHAT, f"my knee hurts {canary}"), text_update(7, CHAT, "3"), text_update(8, CHAT, "no"),
        text_update(9, CHAT, "yes"), text_update(10, CHAT, f"I feel {canary} lonely"),
        edited_update(11, CHAT, f"edited {canary}", message_id=10), forwarded_update(12, CHAT, f"forwarded {canary}"),
        text_update(13, CHAT, "travel"), text_update(14, CHAT, f"{canary} 10001"),
    ]  # fmt: skip
    for update in updates:
        assert stack.update(update).status_code == 200
        stack.settle()
    # Staff are alerted about everything that needs them, by Telegram and SMS.
    build_scheduler(stack.app).alerts.tick(stack.app.database, stack.clock.now())
    stack.server.dispatcher.wake()
    stack.settle()
    with stack.app.database.read() as connection:
        escalations = connection.execute(select(escalation_t.c.category)).scalars().all()
        alerts = (
            connection.execute(select(outbox_t.c.body).where(outbox_t.c.purpose.in_(["alert", "staff"])))
            .scalars()
            .all()
        )
    assert {"talk_to_person", "crisis", "er_or_hospital", "checkin_severe_problems"} <= set(escalations), escalations
    assert alerts, "staff were alerted"
    wait_until(lambda: any(str(s.chat_id) == "-1001234567890" for s in stack.telegram.sent))
    staff_sends = [s.text for s in stack.telegram.sent if str(s.chat_id).startswith("-")]
    staff_sends += [s.body for s in stack.twilio.sent if s.to.startswith("+155501001")]
    assert staff_sends
    for text in [*alerts, *staff_sends]:
        assert canary not in text
        assert PATIENT not in text
    logged = logs.getvalue()
    assert logged, "something was logged at DEBUG"
    assert canary not in logged
    assert PATIENT not in logged
    assert stack.telegram.token not in logged
    assert stack.twilio.auth_token not in logged
