"""One ASGI app (Starlette) for Twilio and Telegram webhooks and a health check; runs the dispatcher.

Every webhook is answered only after its message is committed (RELIABILITY §2.1): a 200 means the
message is in the database and will be acted on, even if this process dies a moment later (the
restarted process picks up what is waiting). The turn is taken in the same transaction as the store
(a failing turn still leaves the message stored; on SQLite, messages arriving together share one
commit, bot.turn_queue), and the dispatcher is woken to send what it queued. When the database cannot
take a message at all, it is durable in the disk spool before the 200 instead (bot.spool).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.bootstrap import App
from bot.channels.sms import EMPTY_TWIML, TwilioSms, WebhookError, our_status, parse_form
from bot.channels.telegram import TelegramChannel
from bot.config import ConfigError
from bot.delivery import apply_status
from bot.dispatcher import Dispatcher
from bot.domain import InboundMessage
from bot.scheduler import Scheduler
from bot.service import Processed
from bot.spool import Spool
from bot.staff_desk import StaffDesk, StaffMessage
from bot.turn_queue import TurnQueue
from storage.database import UNAVAILABLE

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024  # Twilio's largest form and Telegram's largest update are far smaller (OWASP API4)
RECOVERY_INTERVAL = 30.0
WHEN_SERVING_AFTER = 1.0  # seconds after start-up, so it does not delay the first answers
TELEGRAM_RETRY_FIRST = 5.0  # seconds before asking an unreachable Telegram again; doubles up to the next
TELEGRAM_RETRY_MAX = 300.0
SPOOL_RETRY = 2.0  # seconds between tries to store spooled messages while the database is unavailable
TAKE_AT_ONCE = 512
NOT_RECORDED = "Not recorded: the database is busy. Please try again in a minute."
"""Webhooks that may wait for their turn before answering; past this, a message is stored, answered, then
acted on (two transactions instead of one), so a burst never keeps a provider waiting long. At the 130-240
messages a second measured here, the last of 512 waits 2-4 s, well inside Twilio's 15 s (Telegram sends at
most 40 at once). Not lower: storing and acting apart cost 15-20% of throughput (closed loop, 400 patients:
SQLite 199 -> 236 msg/s, PostgreSQL 127 -> 146 msg/s with 512 instead of 64)."""


class BodyTooLargeError(Exception):
    """The request body is over MAX_BODY."""


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > MAX_BODY:
        raise BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass
class Server:
    """The running parts behind the web app: the wired pipeline, the channels and the dispatcher."""

    app: App
    dispatcher: Dispatcher
    sms: TwilioSms | None = None
    telegram: TelegramChannel | None = None
    telegram_polling: bool = False
    run_background: bool = True
    tick: float = 1.0  # seconds between outbox sweeps when nothing wakes the dispatcher
    scheduler: Scheduler | None = None  # reminders and check-ins, unless a separate worker does them
    sweep_every: float = 30.0
    desk: StaffDesk | None = None  # staff acting on escalations from the staff group or on-call phones
    spool: Spool | None = None  # where messages wait while the database is unavailable (bot.spool)
    when_serving: Callable[[], object] | None = None  # run once, a moment after the server is up
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _taking: int = 0  # webhooks waiting for, or in, a store-and-turn transaction
    _spooling: int = 0  # messages being written to the spool now
    _spooled: bool = False  # something may wait in the spool: new messages queue behind it
    _spool_wake: asyncio.Event = field(default_factory=asyncio.Event)
    turns: TurnQueue = field(init=False)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        # Group commit where there is one writer (SQLite); see bot.turn_queue.
        self.turns = TurnQueue(self.app.service, batched=self.app.database.is_sqlite)

    # -- background work ----------------------------------------------------------------------

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _after_turn(self, done: Processed) -> None:
        try:
            if done.escalated and self.scheduler is not None:
                # Staff hear at once, not at the next sweep (RELIABILITY §4.2: within 60 s).
                await asyncio.to_thread(self.scheduler.alerts.tick, self.app.database, self.app.clock.now())
        except Exception:  # the alert stays due; the scheduler's next sweep sends it
            log.exception("could not alert staff at once")

    async def _staff(self, message: StaffMessage, callback_query_id: str | None) -> None:
        assert self.desk is not None
        reply = await asyncio.to_thread(self.desk.handle, message)
        if callback_query_id is not None and self.telegram is not None:
            await self.telegram.answer_button(callback_query_id, reply.toast)
        self.dispatcher.wake()

    async def _staff_telegram(self, message: StaffMessage, callback_query_id: str | None) -> None:
        """A press or a command in a staff group, after its webhook was answered (Telegram will not send it
        again): if the database cannot take it, the button says so rather than stop spinning with nothing."""
        try:
            await self._staff(message, callback_query_id)
        except UNAVAILABLE:
            log.warning("a staff action from Telegram could not be recorded: the database is unavailable")
            if callback_query_id is not None and self.telegram is not None:
                await self.telegram.answer_button(callback_query_id, NOT_RECORDED)

    def _staff_sms(self, message: InboundMessage) -> StaffMessage | None:
        """An SMS from an on-call phone ("ACK 12") as the staff command it is; None for a participant's."""
        if message.channel == "sms" and self.desk is not None and self.desk.is_staff_phone(message.address):
            return StaffMessage("sms", message.address, text=message.text)
        return None

    async def _staff_by_sms(self, message: InboundMessage, staff: StaffMessage) -> None:
        """An on-call phone's command. While the database cannot take it, it waits in the spool like any
        message: Twilio would not send it again."""
        if self.spool is not None and self._spooled:
            await self._to_spool(message)
            return
        try:
            await self._staff(staff, None)
        except UNAVAILABLE:
            if self.spool is None:
                raise
            await self._to_spool(message)

    async def accept(self, message: InboundMessage) -> None:
        """Store a message and take its turn (committed together when this returns); then send.

        In a burst (more than TAKE_AT_ONCE webhooks waiting for their turn), a message is only stored
        before the answer and acted on right after it, so no provider waits long for its 200. When the
        database cannot take it (locked past the busy timeout, down), the message is spooled to disk and
        stored later (bot.spool).
        """
        if self.spool is not None and self._spooled:
            await self._to_spool(message)  # behind what waits there, so nothing overtakes it
            return
        try:
            if self._taking >= TAKE_AT_ONCE:
                receipt = await asyncio.to_thread(self.app.service.receive, message)
                if not receipt.duplicate:
                    self._spawn(self._process(receipt.participant_id))
                return
            self._taking += 1
            try:
                _, done = await self.turns.take(message)
            finally:
                self._taking -= 1
        except UNAVAILABLE:
            if self.spool is None:
                raise
            await self._to_spool(message)  # Spool.put logs it
            return
        self._after(done)

    async def _to_spool(self, message: InboundMessage) -> None:
        assert self.spool is not None
        self._spooled = True
        self._spooling += 1
        try:
            await asyncio.to_thread(self.spool.put, message)
        finally:
            self._spooling -= 1
        self._spool_wake.set()

    async def _flush_spool_forever(self) -> None:
        """Store spooled messages once the database takes them again, oldest first, then act on them."""
        assert self.spool is not None
        spool = self.spool
        self._spooled = await asyncio.to_thread(len, spool) > 0
        while not self._stop.is_set():
            # A moment between tries while the database is still unavailable; else until woken, or the
            # periodic look (another process, or a crash before this one started, may have left files).
            await self._until_stopped_or(self._spool_wake, SPOOL_RETRY / 4 if self._spooled else SPOOL_RETRY)
            self._spool_wake.clear()
            if self._stop.is_set():
                return
            try:
                stored = await asyncio.to_thread(spool.flush, self._store_spooled)
                for participant_id in stored:
                    self._spawn(self._process(participant_id))
                if self._spooling == 0 and not await asyncio.to_thread(len, spool):
                    self._spooled = False
            except Exception:
                log.exception("could not flush the spool; trying again")

    async def _until_stopped_or(self, event: asyncio.Event, timeout: float) -> None:
        """Wait for `event`, for the server to stop, or for `timeout` seconds, whichever comes first."""
        waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._stop.wait())]
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    def _store_spooled(self, message: InboundMessage) -> int | None:
        """Store a spooled message (its participant, for the turn), or act on a spooled staff command (None;
        its answer goes at the dispatcher's next tick)."""
        staff = self._staff_sms(message)
        if staff is not None and self.desk is not None:
            self.desk.handle(staff)
            return None
        return self.app.service.receive(message).participant_id

    async def _process(self, participant_id: int) -> None:
        try:
            done = await asyncio.to_thread(self.app.service.process, participant_id)
        except Exception:  # a failure here leaves the message waiting; recovery retries it
            log.exception("processing failed for participant %s", participant_id)
            return
        self._after(done)

    def _after(self, done: Processed) -> None:
        if done.outbox_ids:
            self.dispatcher.wake()
        if done.escalated:
            self._spawn(self._after_turn(done))

    async def _recover_forever(self) -> None:
        while not self._stop.is_set():
            try:
                done = await asyncio.to_thread(self.app.service.recover)
                if done.outbox_ids:
                    self.dispatcher.wake()
            except Exception:
                log.exception("recovery sweep failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), RECOVERY_INTERVAL)

    async def _poll_telegram(self) -> None:
        assert self.telegram is not None
        await self.telegram.bot.delete_webhook()
        offset = 0
        while not self._stop.is_set():
            try:
                updates = await self.telegram.updates(offset)
            except Exception:
                log.exception("getUpdates failed; trying again")
                await asyncio.sleep(2)
                continue
            for update in updates:
                # Stored before the next getUpdates confirms it to Telegram (RELIABILITY §2.1).
                await self._telegram_update(update.to_dict())
                offset = max(offset, update.update_id + 1)

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        """Start the channels and background loops; on shutdown, finish what is running."""
        if self.telegram is not None:
            try:
                reached = await self.telegram.start()
            except BaseException:  # a refused token: close what start opened, then stop start-up
                await self._close_channels()
                raise
            if not reached:  # SMS and the webhooks serve meanwhile; a Telegram outage must not stop them
                self._spawn(self._reach_telegram())
        if self.run_background:
            self._spawn(self.dispatcher.run(self._stop, self.tick))
            self._spawn(self._recover_forever())
            if self.spool is not None:
                self._spawn(self._flush_spool_forever())
            if self.scheduler is not None:
                self._spawn(self.scheduler.run(self._stop, self.sweep_every, wake=self.dispatcher))
            if self.telegram is not None and self.telegram_polling:
                self._spawn(self._poll_telegram())
        if self.when_serving is not None:
            asyncio.get_running_loop().call_later(WHEN_SERVING_AFTER, self.when_serving)
        try:
            yield
        finally:
            self._stop.set()
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=10)
            await self._close_channels()
            self.dispatcher.close()

    async def _close_channels(self) -> None:
        if self.telegram is not None:
            await self.telegram.stop()
        if self.sms is not None:
            await self.sms.close()

    async def _reach_telegram(self) -> None:
        """Ask Telegram's getMe again, less and less often, until it answers (or says the token is wrong)."""
        assert self.telegram is not None
        wait = TELEGRAM_RETRY_FIRST
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)
                return
            try:
                if await self.telegram.start():
                    log.warning("Telegram reached")
                    return
            except ConfigError as exc:
                log.error("%s: Telegram messages fail until the token is fixed", exc)
                return
            wait = min(wait * 2, TELEGRAM_RETRY_MAX)

    # -- routes -------------------------------------------------------------------------------

    async def twilio_sms(self, request: Request) -> Response:
        """Inbound SMS / WhatsApp: check, store, answer empty TwiML; the reply goes by the REST API."""
        if self.sms is None:
            return PlainTextResponse("SMS is not configured", status_code=404)
        try:
            form = parse_form(await _body(request))
            self.sms.verify(request.url.path, request.url.query, form, request.headers.get("X-Twilio-Signature", ""))
            message = self.sms.inbound(form, self.app.clock.now())
        except BodyTooLargeError:
            return PlainTextResponse("too large", status_code=413)
        except WebhookError as exc:
            return PlainTextResponse(str(exc), status_code=exc.status)
        staff = self._staff_sms(message)
        if staff is not None:
            await self._staff_by_sms(message, staff)
        else:
            await self.accept(message)
        return Response(EMPTY_TWIML, media_type="application/xml")

    async def twilio_status(self, request: Request) -> Response:
        """Delivery status callbacks: move the outbox row forward (never back)."""
        if self.sms is None:
            return PlainTextResponse("SMS is not configured", status_code=404)
        try:
            form = parse_form(await _body(request))
            self.sms.verify(request.url.path, request.url.query, form, request.headers.get("X-Twilio-Signature", ""))
            update = self.sms.status_update(request.url.query, form)
        except BodyTooLargeError:
            return PlainTextResponse("too large", status_code=413)
        except WebhookError as exc:
            return PlainTextResponse(str(exc), status_code=exc.status)
        status = our_status(update.status)
        if status is not None:
            await asyncio.to_thread(
                apply_status,
                self.app.database,
                self.app.clock,
                outbox_id=update.outbox_id,
                channel="sms",
                provider_id=update.message_sid,
                provider_status=update.status,
                status=status,
                error=f"twilio {update.error_code}" if update.error_code else None,
                unreachable=update.error_code == 21610,
            )
        return Response(status_code=204)

    async def _telegram_update(self, data: Any) -> None:
        assert self.telegram is not None
        parsed = self.telegram.parse(data, self.app.clock.now())
        if parsed.staff is not None:
            if self.desk is not None:
                self._spawn(self._staff_telegram(parsed.staff, parsed.callback_query_id))
            return
        if parsed.message is not None:
            await self.accept(parsed.message)
        if parsed.callback_query_id is not None:
            self._spawn(self.telegram.answer_button(parsed.callback_query_id))

    async def telegram_webhook(self, request: Request) -> Response:
        """Telegram updates: secret checked in constant time, stored once per update_id."""
        if self.telegram is None:
            return PlainTextResponse("Telegram is not configured", status_code=404)
        if not self.telegram.secret_ok(request.headers.get("X-Telegram-Bot-Api-Secret-Token")):
            return PlainTextResponse("forbidden", status_code=403)
        try:
            data = json.loads(await _body(request))
            await self._telegram_update(data)
        except BodyTooLargeError:
            return PlainTextResponse("too large", status_code=413)
        except ValueError as exc:  # not JSON, or not an update; Telegram would resend it forever
            log.warning("refused a Telegram webhook body: %s", type(exc).__name__)
            return PlainTextResponse("bad update", status_code=400)
        return Response(status_code=200)

    async def healthz(self, _request: Request) -> Response:
        """200 when the database answers and the dispatcher loop is alive, 503 otherwise."""
        checks: dict[str, str] = {}
        try:
            await asyncio.to_thread(self._ping)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        if self.run_background:
            checks["dispatcher"] = "ok" if self.dispatcher.alive() else "stalled"
        healthy = all(v == "ok" for v in checks.values())
        if self.telegram is not None:  # shown, not required: SMS and stored messages go on without it
            checks["telegram"] = "ok" if self.telegram.reached else "not reached yet (retrying)"
        return JSONResponse(checks, status_code=200 if healthy else 503)

    def _ping(self) -> None:
        with self.app.database.read() as connection:
            connection.execute(text("SELECT 1"))

    def asgi(self) -> Starlette:
        """The ASGI application."""
        return Starlette(
            routes=[
                Route("/twilio/sms", self.twilio_sms, methods=["POST"]),
                Route("/twilio/status", self.twilio_status, methods=["POST"]),
                Route("/telegram/webhook", self.telegram_webhook, methods=["POST"]),
                Route("/healthz", self.healthz, methods=["GET"]),
            ],
            lifespan=self.lifespan,
        )
