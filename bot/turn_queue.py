"""Group commit for webhooks: messages that arrive while a turn is being taken share the next transaction.

On SQLite there is one writer at a time, and a transaction's begin, commit and fsync cost about as much
as the turn inside it. So webhooks do not each open their own: the first one starts a transaction at
once; those that arrive meanwhile wait for it, then go together in the next (`Service.take_many`). Every
webhook is still answered only after the commit that holds its message, so nothing acknowledged is ever
lost; under light load each batch is one message and nothing waits longer than before.

PostgreSQL commits concurrent transactions in parallel (and groups their WAL flushes itself), so there
each message keeps a transaction of its own.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.domain import InboundMessage
    from bot.service import Processed, Receipt, Service

log = logging.getLogger(__name__)

BATCH_MOST = 32
"""Messages in one transaction at most: the dispatcher's outcome writes wait for the writer lock too."""

_Waiting = tuple["InboundMessage", "asyncio.Future[tuple[Receipt, Processed]]"]


class TurnQueue:
    """Takes messages' turns, in batches when the database has one writer; each caller gets its own result."""

    def __init__(self, service: Service, *, batched: bool, most: int = BATCH_MOST) -> None:
        """Batch only when `batched` (SQLite); `most` messages per transaction."""
        self.service = service
        self.batched = batched
        self.most = max(1, most)
        self._waiting: list[_Waiting] = []
        self._draining: asyncio.Task[None] | None = None
        self.running = 0  # messages in the transaction now open
        self.batches = 0  # transactions taken, for tests and the benchmark's curiosity
        self.largest = 0

    @property
    def queued(self) -> int:
        """Messages waiting for the next transaction."""
        return len(self._waiting)

    async def take(self, message: InboundMessage) -> tuple[Receipt, Processed]:
        """Store the message and take its turn; return when the transaction holding it has committed."""
        if not self.batched:
            return await asyncio.to_thread(self.service.take, message)
        future: asyncio.Future[tuple[Receipt, Processed]] = asyncio.get_running_loop().create_future()
        self._waiting.append((message, future))
        if self._draining is None:
            self._draining = asyncio.ensure_future(self._drain())
        return await future

    async def _drain(self) -> None:
        batch: list[_Waiting] = []
        try:
            while self._waiting:
                batch = self._waiting[: self.most]
                del self._waiting[: self.most]
                self.batches += 1
                self.largest = max(self.largest, len(batch))
                self.running = len(batch)
                try:
                    results = await asyncio.to_thread(self.service.take_many, [message for message, _ in batch])
                except Exception as exc:  # take_many reports per message; this is a bug, not a bad message
                    log.exception("a batch of turns failed")
                    results = [exc] * len(batch)
                self.running = 0
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # the webhook went away; its message was taken all the same
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                batch = []
        except BaseException:
            # Shut down mid-batch: whoever still waits is told (the messages stay stored, or unanswered).
            for _, future in [*batch, *self._waiting]:
                future.cancel()
            self._waiting.clear()
            raise
        finally:
            self._draining = None
            self.running = 0
