"""Send committed outbox rows through their channel, record the outcome, retry what may succeed later.

Rows are claimed with a lease before sending (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so two
dispatchers never send the same row; a dispatcher that dies mid-send leaves a claim that expires.
Just before sending, the participant's opt-out is checked again (RELIABILITY §2.3).

Messages to one address go out one after another, in order; different addresses go out side by
side. When a send fails for now, the address's later messages wait with it, so nothing overtakes.

When the outcome of a send is unknown (the provider may have taken it, but its answer was lost),
the row is held, not resent: a status callback may still tell. A row taken over after its lease
ran out is first looked up at the provider where that is possible (Twilio); where it is not
(Telegram), it is resent and flagged `possible_duplicate` (RELIABILITY §2.4).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from bot.clock import Clock
from bot.delivery import refuse_address
from bot.service import ALWAYS_SENT
from storage.database import Database
from storage.repositories import OutboxRow, Repositories

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(seconds=60)
MAX_SEND_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_CAP = timedelta(minutes=30)
CONCURRENT_ADDRESSES = 16


@dataclass(frozen=True, slots=True)
class Accepted:
    """The provider took the message; `provider_id` is its id there (Twilio SID, Telegram message id)."""

    provider_id: str | None = None


@dataclass(frozen=True, slots=True)
class TryLater:
    """A transient failure (5xx, a refused connection, 429); `after` is the provider's own wait, if any."""

    error: str
    after: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Unknown:
    """The request went out but no answer came back: the provider may or may not have the message."""

    error: str


@dataclass(frozen=True, slots=True)
class Refused:
    """A permanent failure; `unreachable` means the address refuses us (Twilio 21610, Telegram 403)."""

    error: str
    unreachable: bool = False


SendResult = Accepted | TryLater | Unknown | Refused


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A send's result waiting to be written, and the future its sender waits on."""

    row: OutboxRow
    result: SendResult
    rest: Sequence[int]
    written: asyncio.Future[None]


class Sender(Protocol):
    """Sends outbox rows on one channel."""

    channel: str

    async def send(self, row: OutboxRow) -> SendResult:
        """Hand one message to the provider; never raise for provider errors, return them."""
        ...

    async def reconcile(self, row: OutboxRow) -> str | None:
        """The provider's id for this row if the provider already has it; None if not (or, for a channel
        that cannot look, see `can_reconcile`). Raises if the lookup itself failed."""
        ...

    @property
    def can_reconcile(self) -> bool:
        """True if `reconcile` can really find out whether a message was taken."""
        ...


def backoff(attempts: int) -> timedelta:
    """Exponential backoff: 5 s, 10 s, 20 s, ... capped at 30 minutes."""
    return min(BACKOFF_CAP, BACKOFF_BASE * (1 << min(20, max(0, attempts - 1))))


_T = TypeVar("_T")
DATABASE_THREADS = 2  # the dispatcher's own threads for its claims and outcome writes


class Dispatcher:
    """Drains the outbox for the channels it has senders for."""

    def __init__(
        self,
        database: Database,
        senders: Mapping[str, Sender],
        clock: Clock,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        """Send through these senders, keyed by channel name; claims last `lease`."""
        self.database = database
        self.senders = dict(senders)
        self.clock = clock
        self.lease = lease
        self.heartbeat = time.monotonic()
        self._wake = asyncio.Event()
        self._unwritten: list[_Outcome] = []
        self._writer: asyncio.Task[None] | None = None
        # Claims and outcomes get threads of their own: on the loop's default pool they queued behind a
        # burst of inbound turns, and every reply waited for the burst to clear.
        self._threads = ThreadPoolExecutor(max_workers=DATABASE_THREADS, thread_name_prefix="dispatcher-db")

    async def _in_thread(self, work: Callable[..., _T], *args: object) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, work, *args)

    # -- database steps (run in threads) ------------------------------------------------------

    def _claim(self, channels: Sequence[str], participant_id: int | None, limit: int) -> list[tuple[OutboxRow, bool]]:
        now = self.clock.now()
        with self.database.write() as connection:
            repos = Repositories(connection)
            rows = repos.outbox.claim(now, self.lease, channels, limit=limit, participant_id=participant_id)
            opted_out = repos.participants.opted_out_among(
                row.participant_id for row in rows if row.participant_id is not None and row.purpose not in ALWAYS_SENT
            )
            checked: list[tuple[OutboxRow, bool]] = []
            for row in rows:
                allowed = row.participant_id not in opted_out or row.purpose in ALWAYS_SENT
                if not allowed:
                    repos.outbox.failed(row.id, now, "participant opted out", status="suppressed")
                checked.append((row, allowed))
            return checked

    def _record(self, row: OutboxRow, result: SendResult, rest: Sequence[int]) -> None:
        """Write a send's outcome; `rest` are the address's later rows, released if this one must wait."""
        with self.database.write() as connection:
            self._apply(Repositories(connection), row, result, rest, self.clock.now())

    def _record_many(self, outcomes: Sequence[_Outcome]) -> None:
        """Write several sends' outcomes in one transaction (group commit); one by one if that fails."""
        try:
            with self.database.write() as connection:
                repos = Repositories(connection)
                now = self.clock.now()
                accepted = [(o.row.id, o.result.provider_id) for o in outcomes if isinstance(o.result, Accepted)]
                repos.outbox.sent_many(accepted, now)  # the usual outcome: one statement for all of them
                for outcome in outcomes:
                    if not isinstance(outcome.result, Accepted):
                        self._apply(repos, outcome.row, outcome.result, outcome.rest, now)
        except Exception:
            if len(outcomes) == 1:
                raise
            log.exception("recording %d send outcomes together failed; recording them one by one", len(outcomes))
            for outcome in outcomes:
                self._record(outcome.row, outcome.result, outcome.rest)

    def _apply(
        self, repos: Repositories, row: OutboxRow, result: SendResult, rest: Sequence[int], now: datetime
    ) -> None:
        """Write one send's outcome inside the caller's transaction."""
        if isinstance(result, Accepted):
            repos.outbox.sent(row.id, now, result.provider_id)
            return
        if isinstance(result, Unknown):
            until = now + self.lease
            repos.outbox.hold(row.id, now, until, result.error)
            repos.outbox.release(rest, now, until)
            return
        if isinstance(result, TryLater):
            attempts = row.attempts + 1
            if attempts >= MAX_SEND_ATTEMPTS:
                repos.outbox.failed(row.id, now, f"gave up: {result.error}")
                repos.outbox.release(rest, now, now)
                return
            # At least a second: a provider asking for no wait must not be asked again at once.
            wait = max(result.after or backoff(attempts), timedelta(seconds=1))
            repos.outbox.retry(row.id, now, now + wait, result.error)
            repos.outbox.release(rest, now, now + wait)
            return
        repos.outbox.failed(row.id, now, result.error)
        if result.unreachable:
            refuse_address(repos, row.channel, row.address, now)
            # The address refuses everything: its later rows are not tried (SMS-11, one refusal only).
            for later in rest:
                repos.outbox.failed(later, now, "address refuses messages", status="suppressed")

    def _mark_possible_duplicate(self, row: OutboxRow) -> None:
        with self.database.write() as connection:
            Repositories(connection).outbox.mark_possible_duplicate(row.id)

    # -- sending ------------------------------------------------------------------------------

    async def dispatch(
        self, channels: Sequence[str] | None = None, participant_id: int | None = None, limit: int = 100
    ) -> int:
        """Send every due row once; return how many the providers accepted."""
        wanted = [c for c in (channels or list(self.senders)) if c in self.senders]
        if not wanted:
            return 0
        accepted = 0
        while True:
            self.heartbeat = time.monotonic()
            batch = await self._in_thread(self._claim, wanted, participant_id, limit)
            if not batch:
                return accepted
            groups: dict[tuple[str, str], list[OutboxRow]] = {}
            for row, allowed in batch:
                if allowed:
                    groups.setdefault((row.channel, row.address), []).append(row)
            gate = asyncio.Semaphore(CONCURRENT_ADDRESSES)
            counts = await asyncio.gather(*(self._send_group(rows, gate) for rows in groups.values()))
            accepted += sum(counts)
            if len(batch) < limit:
                return accepted

    async def _send_group(self, rows: list[OutboxRow], gate: asyncio.Semaphore) -> int:
        """Send one address's rows in order; stop at the first that has to wait."""
        accepted = 0
        async with gate:
            for index, row in enumerate(rows):
                result = await self._send_one(row)
                rest = [r.id for r in rows[index + 1 :]]
                await self._write_outcome(row, result, rest if not isinstance(result, Accepted) else [])
                if isinstance(result, Accepted):
                    accepted += 1
                elif not isinstance(result, Refused) or result.unreachable:
                    break
        return accepted

    async def _write_outcome(self, row: OutboxRow, result: SendResult, rest: Sequence[int]) -> None:
        """Record a send's outcome before the address's next send; outcomes that arrive together share
        one transaction (group commit), so a batch of sends costs a few commits rather than one each."""
        outcome = _Outcome(row, result, rest, asyncio.get_running_loop().create_future())
        self._unwritten.append(outcome)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_outcomes())
        await outcome.written

    async def _write_outcomes(self) -> None:
        while self._unwritten:
            batch, self._unwritten = self._unwritten, []
            try:
                await self._in_thread(self._record_many, batch)
            except BaseException as exc:
                for outcome in batch:
                    if not outcome.written.done():
                        outcome.written.set_exception(exc if isinstance(exc, Exception) else RuntimeError("stopped"))
                if not isinstance(exc, Exception):  # cancelled: fail the waiting ones too, not leave them hanging
                    for outcome in self._unwritten:
                        if not outcome.written.done():
                            outcome.written.set_exception(RuntimeError("stopped"))
                    self._unwritten = []
                    raise
            else:
                for outcome in batch:
                    if not outcome.written.done():
                        outcome.written.set_result(None)

    async def _send_one(self, row: OutboxRow) -> SendResult:
        sender = self.senders[row.channel]
        try:
            if row.retaken:
                if sender.can_reconcile:
                    try:
                        found = await sender.reconcile(row)
                    except Exception:
                        # The lookup failed, so whether the earlier send was taken is still unknown: resend,
                        # flagged for audit, as for a channel that cannot look (RELIABILITY §2.4).
                        log.warning("could not look up outbox row %s at %s; resending it flagged", row.id, row.channel)
                        found = None
                        await self._in_thread(self._mark_possible_duplicate, row)
                    if found is not None:
                        return Accepted(found)
                else:
                    await self._in_thread(self._mark_possible_duplicate, row)
            return await sender.send(row)
        except Exception as exc:  # a sender bug must not lose the row: retry it later
            log.exception("sender for %s raised on outbox row %s", row.channel, row.id)
            return TryLater(type(exc).__name__)

    # -- running in a server ------------------------------------------------------------------

    def wake(self) -> None:
        """New rows were committed: send them now rather than at the next tick."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, tick: float = 1.0) -> None:
        """Dispatch until `stop` is set: at once when woken, and every `tick` seconds for retries."""
        while not stop.is_set():
            # Cleared before dispatching, not after: rows committed while a batch is out wake the next
            # round at once instead of waiting for the tick.
            self._wake.clear()
            try:
                await self.dispatch()
            except Exception:  # the database may be briefly unavailable; keep the loop alive
                log.exception("dispatch failed; trying again")
            self.heartbeat = time.monotonic()
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=tick, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

    def close(self) -> None:
        """Let the database threads go (once the loop is stopped)."""
        self._threads.shutdown(wait=False)

    def alive(self, within: float = 30.0) -> bool:
        """True if the loop ran recently."""
        return time.monotonic() - self.heartbeat < within
