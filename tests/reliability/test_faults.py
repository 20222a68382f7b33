"""Fault injection through the real stack (issue 8, part 4; RELIABILITY §6 T3, promises P1, P2, P4, P5).

Already covered elsewhere, not repeated here: one Twilio 500 retried, a Twilio timeout before or after it
took the message (held, then looked up; sent once), a status callback resolving a held message, Telegram
429 and 502 retried, a blocked chat (tests/e2e/test_sms.py, test_telegram.py); `kill -9` mid-burst
(tests/e2e/test_serve.py). Added here:

- the SQLite database locked by another connection for seconds while webhooks arrive on both channels:
  with the real busy timeout every webhook waits and succeeds; with a busy timeout shorter than the lock,
  every message is spooled to disk and answered 200, stored in order once the lock is gone, and nothing is
  stored or answered twice (a damaged spool file is set aside, never dropped);
- a storm of provider faults on both channels at once (Twilio 500, 503 and 429, a connection that times
  out before Twilio took the message; Telegram 502, 429 and a timeout before it took the message): every
  inbound is answered, and every reply is taken by the provider exactly once;
- the unknown-outcome window (§2.4): a send whose answer was lost and whose outcome cannot be learnt is
  resent only after the hold, and the resend is flagged `possible_duplicate`, on Telegram (no way to look
  a message up) and on Twilio when the lookup itself fails.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import and_, event, func, or_, select

from bot.web import NOT_RECORDED
from storage.repositories import escalation_t, inbound_t, outbox_t
from tests.conftest import PG_URL
from tests.e2e.conftest import SECRET, Stack, wait_until
from tests.fakes import callback_update, text_update

ON_CALL = "+15550100101"  # the demo study's on-call coordinator (escalation.chain and escalation.staff)
STAFF_GROUP, DANA = "-1001234567890", 111111111  # its staff Telegram group, and the coordinator there
SQLITE_ONLY = pytest.mark.skipif(bool(PG_URL), reason="SQLite's single-writer lock; PostgreSQL locks rows instead")


# -------------------------------------------------------------------------------------------------
# Helpers
# -------------------------------------------------------------------------------------------------


class Deliveries:
    """Inbound messages posted as the providers post them, with the provider's own retry of a failure."""

    def __init__(self, stack: Stack, http: httpx.Client) -> None:
        self.stack = stack
        self.http = http
        self.posted: list[tuple[str, str, Callable[[], httpx.Response]]] = []  # (channel, provider id, post)
        self.responses: dict[str, list[int]] = {}
        self._ids = iter(range(1, 10**6))

    def sms(self, sender: str, text: str) -> Callable[[], httpx.Response]:
        sid = f"SM{next(self._ids) + 9 * 10**6:032x}"
        return self._add("sms", sid, lambda: self.stack.sms(sender, text, sid=sid))

    def telegram(self, chat: int, text: str) -> Callable[[], httpx.Response]:
        update_id = 9 * 10**6 + next(self._ids)
        url, headers = f"{self.stack.web.url}/telegram/webhook", {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        return self._add(
            "telegram",
            str(update_id),
            lambda: self.http.post(url, json=text_update(update_id, chat, text), headers=headers),
        )

    def _add(self, channel: str, provider_id: str, post: Callable[[], httpx.Response]) -> Callable[[], httpx.Response]:
        def deliver() -> httpx.Response:
            response = post()
            self.responses.setdefault(provider_id, []).append(response.status_code)
            return response

        self.posted.append((channel, provider_id, deliver))
        return deliver

    def retry_failures(self) -> int:
        """What Twilio (configured to retry 5xx) and Telegram do: post again what was not answered 2xx."""
        again = [(p, d) for _, p, d in self.posted if self.responses.get(p, [0])[-1] >= 500]
        for _, deliver in again:
            deliver()
        return len(again)


def _inbound_by_provider_id(stack: Stack) -> Counter[str]:
    with stack.app.database.read() as connection:
        return Counter(connection.execute(select(inbound_t.c.provider_message_id)).scalars())


def assert_nothing_lost_nothing_twice(stack: Stack, deliveries: Deliveries) -> None:
    """Every delivery stored once and acted on; every reply in the outbox taken by its provider once."""
    stored = _inbound_by_provider_id(stack)
    for channel, provider_id, _ in deliveries.posted:
        assert stored[provider_id] == 1, f"{channel} {provider_id}: stored {stored[provider_id]} times"
        assert 200 in deliveries.responses[provider_id], f"{provider_id} was never accepted"
    with stack.app.database.read() as connection:
        pending = connection.execute(
            select(func.count()).select_from(inbound_t).where(inbound_t.c.status != "processed")
        ).scalar_one()
        rows = connection.execute(select(outbox_t).where(outbox_t.c.participant_id.is_not(None))).all()
    assert pending == 0
    replied = {r.inbound_id for r in rows}
    with stack.app.database.read() as connection:
        ids: dict[str, int] = {r.provider_message_id: r.id for r in connection.execute(select(inbound_t))}
    for _, provider_id, _ in deliveries.posted:
        assert ids[provider_id] in replied, f"{provider_id} got no reply"
    assert {r.status for r in rows} <= {"sent", "delivered"}, Counter((r.status, r.error) for r in rows)
    # Twilio: creates accepted per outbox row (the status callback URL names the row).
    creates = Counter(str(s.status_callback).rsplit("oid=", 1)[-1] for s in stack.twilio.sent)
    for row in rows:
        if row.channel == "sms":
            assert creates[str(row.id)] == 1 or row.possible_duplicate, f"outbox {row.id}: {creates[str(row.id)]} sends"
    # Telegram: messages accepted per (chat, text) against the outbox rows with that text.
    expected = Counter((int(r.address), r.body) for r in rows if r.channel == "telegram")
    got = Counter((int(s.chat_id), s.text) for s in stack.telegram.sent if int(s.chat_id) > 0)
    flagged = Counter((int(r.address), r.body) for r in rows if r.channel == "telegram" and r.possible_duplicate)
    assert got - flagged <= expected <= got, f"Telegram got {got - expected} extra, missed {expected - got}"


def _busy(stack: Stack) -> int:
    """Work the app still has to do now: messages waiting, and outbox rows due or being sent. A row held
    after an unknown outcome ("... did not answer") is not due until its hold runs out on the clock."""
    now = stack.clock.now()
    with stack.app.database.read() as connection:
        waiting = connection.execute(
            select(func.count()).select_from(inbound_t).where(inbound_t.c.status == "pending")
        ).scalar_one()
        due = connection.execute(
            select(func.count())
            .select_from(outbox_t)
            .where(
                or_(
                    and_(outbox_t.c.status == "pending", outbox_t.c.next_attempt_at <= now),
                    and_(outbox_t.c.status == "sending", outbox_t.c.claimed_until < now),
                    and_(
                        outbox_t.c.status == "sending", func.coalesce(outbox_t.c.error, "").not_like("%did not answer%")
                    ),
                )
            )
        ).scalar_one()
    return int(waiting) + int(due)


def _drain(stack: Stack, rounds: int = 6, step: float = 61.0) -> None:
    """Let every backoff and hold fall due: move the clock a minute at a time, letting the app finish what
    is due before each move; then wait until everything is sent."""
    for _ in range(rounds):
        wait_until(lambda: _busy(stack) == 0, 30, lambda: f"busy: {_busy(stack)}")
        stack.advance(step)
    stack.settle(timeout=30)


@contextmanager
def write_lock_held(path: str, seconds: float) -> Iterator[threading.Event]:
    """Another process's connection holds SQLite's write lock (BEGIN IMMEDIATE) for `seconds`."""
    taken, releasing = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def hold() -> None:
        try:
            connection = sqlite3.connect(path, timeout=5, isolation_level=None)
            connection.execute("BEGIN IMMEDIATE")
            taken.set()
            time.sleep(seconds)
            releasing.set()
            connection.execute("ROLLBACK")
            connection.close()
        except BaseException as exc:  # pragma: no cover - reported below
            failure.append(exc)
            taken.set()
            releasing.set()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(10), "could not take the write lock"
    try:
        yield releasing
    finally:
        thread.join(seconds + 10)
    assert failure == []


def _sqlite_path(stack: Stack) -> str:
    url = stack.app.database.url
    assert url.startswith("sqlite:///")
    return url.removeprefix("sqlite:///")


def _post_all_at_once(posts: list[Callable[[], httpx.Response]]) -> float:
    """Post concurrently, as several provider connections would; return the slowest answer's time."""
    times: list[float] = []

    def timed(post: Callable[[], httpx.Response]) -> None:
        start = time.monotonic()
        post()
        times.append(time.monotonic() - start)

    threads = [threading.Thread(target=timed, args=(p,)) for p in posts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return max(times)


# -------------------------------------------------------------------------------------------------
# The database locked for seconds
# -------------------------------------------------------------------------------------------------


@SQLITE_ONLY
def test_webhooks_wait_out_a_database_locked_for_seconds(stack: Stack, http: httpx.Client) -> None:
    """The real busy timeout (10 s) outlasts a 2.5 s lock: every webhook waits, then is stored and answered."""
    deliveries = Deliveries(stack, http)
    posts = [deliveries.sms(f"+155508100{n:02d}", "HELP") for n in range(4)]
    posts += [deliveries.telegram(781_000 + n, "HELP") for n in range(4)]
    with write_lock_held(_sqlite_path(stack), 2.5) as released:
        slowest = _post_all_at_once(posts)
        assert released.is_set(), "the webhooks were answered while the lock was still held"
    assert slowest >= 1.0, "the webhooks did not wait for the lock"
    assert all(codes == [200] for codes in deliveries.responses.values()), deliveries.responses
    stack.settle(timeout=30)
    assert_nothing_lost_nothing_twice(stack, deliveries)


@SQLITE_ONLY
def test_a_lock_longer_than_the_busy_timeout_spools_every_message_and_stores_each_once_after(
    stack: Stack, http: httpx.Client
) -> None:
    """With the busy timeout cut to 0.2 s (for this app only), webhooks during a 2 s lock cannot store their
    message in the database. They are answered 200 all the same (Twilio does not retry a 5xx by default,
    RELIABILITY §1.1), because each message is on disk first (bot.spool). Once the lock is gone the spool
    is stored, in order, and every message is acted on once; the provider's redelivery of a spooled
    message is not spooled or stored twice."""

    @event.listens_for(stack.app.database.engine, "connect")
    def short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=200")

    stack.app.database.engine.dispose()  # pooled connections were opened with the real timeout
    spool = stack.server.spool
    assert spool is not None
    deliveries = Deliveries(stack, http)
    posts = [deliveries.sms(f"+155508200{n:02d}", "HELP") for n in range(3)]
    posts += [deliveries.telegram(782_000 + n, "HELP") for n in range(3)]
    with write_lock_held(_sqlite_path(stack), 2.0) as released:
        _post_all_at_once(posts)
        assert not released.is_set(), "the webhooks waited for the lock to go"
        assert all(codes == [200] for codes in deliveries.responses.values()), deliveries.responses
        assert len(spool) == len(posts)
        posts[0]()  # the provider delivers the first one again while it is spooled
        assert len(spool) == len(posts)
        assert sum(_inbound_by_provider_id(stack).values()) == 0, "nothing reached the locked database"
    wait_until(lambda: len(spool) == 0, timeout=15)
    stack.settle(timeout=30)
    posts[0]()  # and once more after it was stored: the database knows it
    stack.settle(timeout=30)
    assert set(_inbound_by_provider_id(stack).values()) == {1}
    assert_nothing_lost_nothing_twice(stack, deliveries)


@SQLITE_ONLY
def test_one_persons_messages_keep_their_order_through_the_spool(stack: Stack, http: httpx.Client) -> None:
    """A first contact, the YES and the first answer, all while the database is locked: afterwards the
    conversation is where those three messages in that order lead, and later messages follow them."""

    @event.listens_for(stack.app.database.engine, "connect")
    def short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=100")

    stack.app.database.engine.dispose()
    deliveries = Deliveries(stack, http)
    person = "+15550820099"
    with write_lock_held(_sqlite_path(stack), 1.5):
        for text in ("Hi", "yes", "yes"):
            assert deliveries.sms(person, text)().status_code == 200
    assert deliveries.sms(person, "47")().status_code == 200  # behind the spooled ones, or after them
    wait_until(lambda: len(stack.server.spool or []) == 0, timeout=15)
    stack.settle(timeout=30)
    sent = [s.body for s in stack.twilio.sent if s.to == person]
    assert sent[-1].startswith("Has a doctor ever told you that you have type 2 diabetes?"), sent
    assert_nothing_lost_nothing_twice(stack, deliveries)


@SQLITE_ONLY
def test_an_on_call_ack_by_sms_while_the_database_is_locked_is_spooled_then_acted_on(stack: Stack) -> None:
    """An on-call phone's "ACK 12" during a lock longer than the busy timeout is answered 200 and kept in the
    spool (Twilio would not send it again after a 5xx); once the lock is gone the escalation is acknowledged
    and the phone gets its answer."""
    patient = "+15550820177"
    for text in ("Hi", "I want to kill myself"):
        assert stack.sms(patient, text).status_code == 200
    stack.settle(timeout=30)
    with stack.app.database.read() as connection:
        escalation_id = connection.execute(select(escalation_t.c.id)).scalar_one()

    @event.listens_for(stack.app.database.engine, "connect")
    def short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=100")

    stack.app.database.engine.dispose()
    with write_lock_held(_sqlite_path(stack), 1.5):
        assert stack.sms(ON_CALL, f"ACK {escalation_id}").status_code == 200
        assert len(stack.server.spool or []) == 1
    wait_until(lambda: len(stack.server.spool or []) == 0, timeout=15)
    wait_until(lambda: any(s.to == ON_CALL and "acknowledged" in s.body for s in stack.twilio.sent), timeout=15)
    with stack.app.database.read() as connection:
        status = connection.execute(
            select(escalation_t.c.status).where(escalation_t.c.id == escalation_id)
        ).scalar_one()
    assert status == "acknowledged"
    with stack.app.database.read() as connection:
        staff_inbound = connection.execute(
            select(func.count()).select_from(inbound_t).where(inbound_t.c.text.like("ACK %"))
        ).scalar_one()
    assert staff_inbound == 0, "a staff command is not a participant's message"


@SQLITE_ONLY
def test_a_staff_button_pressed_while_the_database_is_locked_says_it_was_not_recorded(stack: Stack) -> None:
    """The Telegram webhook is answered before a staff action is carried out; if the database cannot take
    it, the button says so (not a spinner that stops with nothing), the escalation stays open, and a second
    press once the lock is gone acknowledges it."""
    for text in ("Hi", "I want to kill myself"):
        assert stack.sms("+15550820178", text).status_code == 200
    stack.settle(timeout=30)
    wait_until(lambda: any(str(s.chat_id) == STAFF_GROUP for s in stack.telegram.sent), timeout=15)
    alert = next(s for s in stack.telegram.sent if str(s.chat_id) == STAFF_GROUP)
    assert alert.reply_markup is not None
    acknowledge = alert.reply_markup["inline_keyboard"][0][0]["callback_data"]

    def press(update_id: int) -> httpx.Response:
        update = callback_update(update_id, DANA, acknowledge, alert.message_id, user_id=DANA)
        update["callback_query"]["message"]["chat"] = {"id": int(STAFF_GROUP), "type": "supergroup", "title": "Staff"}
        return stack.update(update)

    @event.listens_for(stack.app.database.engine, "connect")
    def short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=100")

    stack.app.database.engine.dispose()
    with write_lock_held(_sqlite_path(stack), 1.5):
        assert press(990_001).status_code == 200
        wait_until(lambda: bool(stack.telegram.calls_to("answerCallbackQuery")), timeout=10)
    answers = [call.params.get("text") for call in stack.telegram.calls_to("answerCallbackQuery")]
    assert answers == [NOT_RECORDED]
    with stack.app.database.read() as connection:
        assert connection.execute(select(escalation_t.c.status)).scalar_one() == "open"
    assert press(990_002).status_code == 200
    wait_until(lambda: len(stack.telegram.calls_to("answerCallbackQuery")) == 2, timeout=10)
    with stack.app.database.read() as connection:
        assert connection.execute(select(escalation_t.c.status)).scalar_one() == "acknowledged"


def test_a_spooled_file_that_cannot_be_read_is_set_aside_not_lost_and_the_rest_flows(tmp_path: Path) -> None:
    from bot.domain import InboundMessage
    from bot.spool import Spool

    spool = Spool(tmp_path / "spool")
    at = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert spool.put(InboundMessage("sms", "+15550100001", "first", "SM1", at))
    assert not spool.put(InboundMessage("sms", "+15550100001", "first", "SM1", at)), "the same message twice"
    assert spool.put(InboundMessage("telegram", "42", "second ☀ \x00", "7", at, meta={"start_payload": "x"}))
    spool.waiting()[0].write_bytes(b"\xff not json")  # a damaged file
    torn = tmp_path / "spool" / "00000000000000000001-abc.part"  # a write a crash cut short (never answered)
    torn.write_bytes(b"{")
    os.utime(torn, (1, 1))
    stored: list[InboundMessage] = []
    assert spool.flush(lambda m: stored.append(m) or 7) == [7]
    assert [(m.channel, m.text, m.meta) for m in stored] == [("telegram", "second ☀ \x00", {"start_payload": "x"})]
    assert len(spool) == 0
    assert [p.name for p in (tmp_path / "spool" / "unreadable").iterdir()] != []
    assert oct((tmp_path / "spool").stat().st_mode & 0o777) == "0o700"
    assert not torn.exists()
    again = InboundMessage("telegram", "42", "second", "7", at)  # stored, so spooled afresh if it comes again
    assert spool.put(again)
    assert Spool(tmp_path / "spool").put(again) is False, "a new process reads what waits from the names"


# -------------------------------------------------------------------------------------------------
# Provider faults on both channels
# -------------------------------------------------------------------------------------------------


def test_a_storm_of_provider_faults_loses_nothing_and_sends_nothing_twice(stack: Stack, http: httpx.Client) -> None:
    twilio, telegram = stack.twilio, stack.telegram
    twilio.fail_next(500)
    twilio.fail_next(503)
    twilio.fail_next(429)  # Twilio's "Too Many Requests" (code 20429)
    twilio.delay_next(2.0, accept=False)  # no answer within our 1 s timeout, and Twilio never took it
    telegram.fail_next(502, count=2)
    telegram.retry_after_next(3)
    telegram.delay_next(2.0, accept=False)  # ditto for Telegram, with its timeout cut to 1 s below
    _telegram_timeout(stack, 1.0)
    deliveries = Deliveries(stack, http)
    for n in range(4):
        deliveries.sms(f"+155508300{n:02d}", "Hi")()  # three replies each: the first contact
        deliveries.telegram(783_000 + n, "Hi")()
    assert all(codes == [200] for codes in deliveries.responses.values())
    _drain(stack)
    assert_nothing_lost_nothing_twice(stack, deliveries)
    with stack.app.database.read() as connection:
        flagged = connection.execute(select(outbox_t).where(outbox_t.c.possible_duplicate)).all()
    # Telegram's timed-out send is an unknown outcome to the app (it cannot look it up), so its resend is
    # flagged, correctly; the fake never took the first attempt, so Telegram has it once. Twilio's timed-out
    # send was looked up (not there) before the resend, so nothing on SMS is flagged.
    assert [r.channel for r in flagged] == ["telegram"]
    assert sum(s.text == flagged[0].body and str(s.chat_id) == flagged[0].address for s in telegram.sent) == 1
    assert len(twilio.requests) > len(twilio.sent), "the faults were really hit"


def _telegram_timeout(stack: Stack, seconds: float) -> None:
    """Cut the app's Telegram client timeouts (15 s in production) so the fake's delay outlasts them.

    The request reads its default timeouts on every call (bot.channels.http.AiohttpRequest.do_request)."""
    assert stack.server.telegram is not None
    request: Any = stack.server.telegram.bot.request
    request._read_timeout = request._connect_timeout = seconds


# -------------------------------------------------------------------------------------------------
# The unknown-outcome window
# -------------------------------------------------------------------------------------------------


def test_telegram_resends_after_an_unknown_outcome_only_once_and_flagged(stack: Stack, http: httpx.Client) -> None:
    """Telegram took the message but its answer was lost (our timeout). The Bot API cannot look a message up,
    so after the hold (the 30 s lease) the message is sent again, once, and flagged possible_duplicate."""
    _telegram_timeout(stack, 0.5)
    stack.telegram.delay_next(1.5, accept=True)
    deliveries = Deliveries(stack, http)
    deliveries.telegram(784_001, "HELP")()
    wait_until(lambda: len(stack.telegram.sent) == 1)
    wait_until(lambda: stack.outbox()[0].attempts == 1)
    row = stack.outbox()[0]
    assert (row.status, row.possible_duplicate) == ("sending", False), "held, not resent at once"
    stack.advance(10)
    time.sleep(0.3)
    assert len(stack.telegram.sent) == 1, "nothing is resent while the hold lasts"
    stack.advance(25)
    wait_until(lambda: len(stack.telegram.sent) == 2)
    stack.settle()
    row = stack.outbox()[0]
    assert (row.status, row.possible_duplicate) == ("sent", True)
    _drain(stack, rounds=2)
    assert len(stack.telegram.sent) == 2, "resent once only"
    assert_nothing_lost_nothing_twice(stack, deliveries)


def test_twilio_resend_after_an_unknown_outcome_is_flagged_when_the_lookup_fails(
    stack: Stack, http: httpx.Client
) -> None:
    """Twilio took the message but its answer was lost, no status callback came, and the lookup that should
    find it fails too: the resend may be a duplicate, so it must be flagged possible_duplicate (§2.4, T2)."""
    stack.twilio.delay_next(2.0, accept=True)
    deliveries = Deliveries(stack, http)
    deliveries.sms("+15550840001", "HELP")()
    wait_until(lambda: len(stack.twilio.sent) == 1)
    wait_until(lambda: stack.outbox()[0].attempts == 1)
    stack.twilio.fail_next(500, endpoint="list")  # the reconciling lookup fails
    stack.advance(31)
    wait_until(lambda: len(stack.twilio.sent) == 2)
    stack.settle()
    row = stack.outbox()[0]
    assert row.status == "sent"
    assert row.possible_duplicate, "a resend after an unknown outcome that could not be checked is flagged"
    _drain(stack, rounds=2)
    assert len(stack.twilio.sent) == 2
    assert_nothing_lost_nothing_twice(stack, deliveries)
