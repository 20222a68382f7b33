"""Telegram through python-telegram-bot, used only as a transport: parse updates, send messages.

Updates come to our own webhook (checked against `X-Telegram-Bot-Api-Secret-Token` in constant
time) or, for development, from long polling; either way each is stored before it is acted on,
deduplicated on its `update_id` (never "ignore ids below the highest seen": ids restart at random
after a quiet week; RELIABILITY §1.2). PTB's own Updater and ConversationHandler are not used: they
confirm updates before they are handled and keep state outside our database (LIBRARIES §1g).

Choices are inline buttons whose callback data is an opaque token, checked by the pipeline against
the state it was sent for. Sends keep to about one message a second per chat and 30 a second in all
(our own pacing, so a 429 comes back to the outbox, which retries after the time Telegram asks for).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.channels.http import AiohttpRequest, never_sent, transport_failure
from bot.config import ConfigError, TelegramSettings
from bot.dispatcher import Accepted, Refused, SendResult, TryLater, Unknown
from bot.domain import InboundMessage
from bot.staff_desk import StaffMessage
from storage.repositories import OutboxRow

# PTB 22 is moving time periods from int to timedelta, and warns on every int read (even inside
# RetryAfter's constructor) unless told to use timedelta already. We do; PTB reads this at each call.
os.environ.setdefault("PTB_TIMEDELTA", "true")

log = logging.getLogger(__name__)

CHANNEL = "telegram"
PER_CHAT_GAP = 1.0  # seconds between two messages to one chat (Telegram's guidance)
OVERALL_GAP = 1 / 30  # and about 30 messages a second in all
PACED_CHATS = 1000  # chats remembered for pacing before those quiet for longer than the gap are forgotten
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
COMMANDS = {"/start": "START", "/stop": "STOP", "/help": "HELP", "/language": "LANGUAGE", "/idioma": "IDIOMA"}
_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
MEDIA_FIELDS = ("photo", "video", "document", "voice", "audio", "video_note", "sticker", "animation")
NO_WORDS_FIELDS = ("location", "venue", "contact", "dice", "poll", "game", "story")


@dataclass(frozen=True, slots=True)
class ParsedUpdate:
    """What an update means for us: a message for the pipeline (or None), and a button press to answer."""

    message: InboundMessage | None
    callback_query_id: str | None = None
    staff: StaffMessage | None = None  # a press or a command in a staff group


def _staff_update(update: Update, staff_chats: frozenset[str]) -> ParsedUpdate | None:
    """A button press or a command in one of our staff groups (alerts, acknowledgements)."""
    query = update.callback_query
    if query is not None and query.message is not None and str(query.message.chat.id) in staff_chats:
        staff = StaffMessage(CHANNEL, str(query.message.chat.id), query.from_user.id, token=str(query.data or "")[:64])
        return ParsedUpdate(None, query.id, staff)
    message = update.message
    if message is None or str(message.chat.id) not in staff_chats or not message.text:
        return None
    anonymous = message.sender_chat is not None or message.from_user is None
    user_id = message.from_user.id if message.from_user is not None else None
    return ParsedUpdate(
        None, None, StaffMessage(CHANNEL, str(message.chat.id), user_id, message.text[:500], anonymous=anonymous)
    )


def secret_matches(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of the webhook secret; no secret configured means no webhook at all."""
    if not expected or given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def _command(text: str) -> tuple[str, str | None] | None:
    """ "/start flyer-3" → ("START", "flyer-3"); "/help@SunriseBot" → ("HELP", None)."""
    head, _, rest = text.strip().partition(" ")
    keyword = COMMANDS.get(head.split("@", 1)[0].lower())
    if keyword is None:
        return None
    payload = rest.strip()
    return keyword, payload if _PAYLOAD.fullmatch(payload) else None


def parse_update(update: Update, received_at: datetime, staff_chats: frozenset[str] = frozenset()) -> ParsedUpdate:
    """Turn an update into an InboundMessage; None for updates that are not a participant's message.

    Only private chats are participants: group messages are ignored (RELIABILITY §5 #53). Places,
    contacts and files are never kept, only the fact that one came (a phone number is PHI).
    """
    provider_id = str(update.update_id)
    staff = _staff_update(update, staff_chats)
    if staff is not None:
        return staff
    if update.callback_query is not None:
        query = update.callback_query
        chat = query.message.chat if query.message is not None else None
        if chat is None or chat.type != "private" or not isinstance(query.data, str):
            return ParsedUpdate(None, query.id)
        press = InboundMessage(CHANNEL, str(chat.id), query.data[:64], provider_id, received_at, kind="button")
        return ParsedUpdate(press, query.id)
    if update.my_chat_member is not None:
        member = update.my_chat_member
        if member.chat.type != "private" or member.new_chat_member.status != "kicked":
            return ParsedUpdate(None)
        return ParsedUpdate(InboundMessage(CHANNEL, str(member.chat.id), "", provider_id, received_at, kind="blocked"))
    edited = update.edited_message
    message = update.message or edited
    if message is None or message.chat.type != "private":
        return ParsedUpdate(None)
    address = str(message.chat.id)
    text = message.text or message.caption or ""
    if edited is not None:
        return ParsedUpdate(InboundMessage(CHANNEL, address, text, provider_id, received_at, kind="edit"))
    if message.forward_origin is not None:
        return ParsedUpdate(InboundMessage(CHANNEL, address, text, provider_id, received_at, kind="forward"))
    if any(getattr(message, field, None) for field in NO_WORDS_FIELDS):
        return ParsedUpdate(InboundMessage(CHANNEL, address, "", provider_id, received_at, media_count=1))
    media = 1 if any(getattr(message, field, None) for field in MEDIA_FIELDS) else 0
    meta: dict[str, Any] = {}
    if message.text is not None and message.text.startswith("/"):
        command = _command(message.text)
        if command is not None:
            text, payload = command
            if payload is not None:
                meta["start_payload"] = payload
    locale = message.from_user.language_code if message.from_user is not None else None
    hint = locale.split("-")[0].lower() if locale else None
    return ParsedUpdate(
        InboundMessage(CHANNEL, address, text, provider_id, received_at, media, locale_hint=hint, meta=meta)
    )


def _seconds(exc: RetryAfter) -> float:
    """RetryAfter's wait in seconds."""
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _outcome_unknown(exc: TelegramError) -> bool:
    """True when the request may have reached Telegram but its answer was lost.

    A refused or timed-out connection never sent anything; an HTTP error answer (a 502 from
    Telegram's front) came back, so nothing was done; a read timeout or a dropped connection is
    the unknown case.
    """
    cause = exc.__cause__
    return transport_failure(cause) and not never_sent(cause)


def classify(exc: TelegramError) -> SendResult:
    """What a Bot API error means for an outbox row."""
    if isinstance(exc, RetryAfter):
        return TryLater("telegram 429", after=timedelta(seconds=max(1.0, _seconds(exc))))
    if isinstance(exc, Forbidden):
        return Refused("telegram 403", unreachable=True)  # blocked, or the account is gone (TG-01)
    if isinstance(exc, BadRequest):
        return Refused(f"telegram 400: {exc.message[:80]}", unreachable="chat not found" in exc.message.lower())
    if isinstance(exc, TimedOut | NetworkError):
        if _outcome_unknown(exc):
            return Unknown(f"telegram did not answer: {type(exc.__cause__).__name__}")
        return TryLater(f"telegram unavailable: {exc.message[:60]}")
    return TryLater(f"telegram error: {type(exc).__name__}")


class TelegramChannel:
    """The Telegram channel: a PTB bot used to send, and to poll in development."""

    channel = CHANNEL
    can_reconcile = False  # the Bot API cannot say whether a message was delivered before

    def __init__(
        self, settings: TelegramSettings, per_chat_gap: float = PER_CHAT_GAP, staff_chats: frozenset[str] = frozenset()
    ) -> None:
        """Build the bot (no network until `start`); `staff_chats` are the staff groups' chat ids."""
        self.settings = settings
        self.staff_chats = staff_chats
        self.per_chat_gap = per_chat_gap
        root = settings.api_url
        # The plain Bot: nothing here needs telegram.ext (defaults, callback-data cache, rate limiter; the
        # pacing is ours, below), and not importing it saves 2 MB of memory and 20 ms of start-up.
        self.bot = Bot(
            settings.token,
            base_url=f"{root}/bot",
            base_file_url=f"{root}/file/bot",
            request=AiohttpRequest(pool_size=32, read_timeout=15.0, connect_timeout=5.0),
            # Long polls too (development only): PTB's default HTTPXRequest, built whether or not it is
            # used, cost ~40 ms of start-up loading certificates into an httpx client.
            get_updates_request=AiohttpRequest(pool_size=1, read_timeout=35.0, connect_timeout=5.0),
        )
        self._last_sent: dict[str, float] = {}
        self._chat_locks: dict[str, asyncio.Lock] = {}
        self._prune_above = PACED_CHATS
        self._overall = asyncio.Lock()
        self._overall_last = 0.0
        self.reached = False  # getMe answered since start (shown by /healthz)

    async def start(self) -> bool:
        """Open the connections and check the token with getMe; True if Telegram answered.

        False if Telegram could not be reached (down, a network fault, 5xx or 429): the channel works
        anyway, since sends need no getMe and retry like any send, and the caller may call this again later.
        A token Telegram refuses raises ConfigError; PTB's own error would quote the token into the log.
        """
        self.reached = False
        try:
            await self.bot.initialize()
        except InvalidToken:
            raise ConfigError("Telegram rejected TELEGRAM_BOT_TOKEN") from None
        except TelegramError as exc:
            log.warning("Telegram could not be reached (%s); its messages wait and are retried", type(exc).__name__)
            return False
        self.reached = True
        return True

    async def stop(self) -> None:
        """Close connections."""
        await self.bot.shutdown()

    def secret_ok(self, given: str | None) -> bool:
        """True if a webhook request carries our secret token."""
        return secret_matches(self.settings.webhook_secret, given)

    def parse(self, data: Any, received_at: datetime) -> ParsedUpdate:
        """A webhook body as an update; raises ValueError if it is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            raise ValueError("not a Telegram update")
        try:
            update = Update.de_json(data, self.bot)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed update: {type(exc).__name__}") from None
        return parse_update(update, received_at, self.staff_chats)

    async def send(self, row: OutboxRow) -> SendResult:
        """Send one message, with its buttons, no faster than one a second to the chat."""
        markup = None
        if row.buttons:
            markup = InlineKeyboardMarkup(
                [[InlineKeyboardButton(str(b["label"])[:64], callback_data=str(b["token"]))] for b in row.buttons]
            )
        lock = self._chat_locks.setdefault(row.address, asyncio.Lock())
        async with lock:
            wait = self._last_sent.get(row.address, 0.0) + self.per_chat_gap - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            async with self._overall:
                wait = self._overall_last + OVERALL_GAP - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._overall_last = time.monotonic()
            try:
                sent: Message = await self.bot.send_message(
                    chat_id=int(row.address), text=row.body, reply_markup=markup
                )
            except TelegramError as exc:
                return classify(exc)
            finally:
                self._last_sent[row.address] = time.monotonic()
        if len(self._last_sent) > self._prune_above:
            self._forget_quiet_chats()
        return Accepted(str(sent.message_id))

    def _forget_quiet_chats(self) -> None:
        """Drop the pacing state of chats last sent to longer ago than the gap (it no longer delays them),
        so that memory follows the chats active now, not every chat ever served."""
        cutoff = time.monotonic() - self.per_chat_gap
        for address in [a for a, at in self._last_sent.items() if at < cutoff]:
            lock = self._chat_locks.get(address)
            if lock is None or not lock.locked():
                del self._last_sent[address]
                self._chat_locks.pop(address, None)
        # A lock without a time is left by a send cancelled before it went.
        for address in [a for a, lock in self._chat_locks.items() if a not in self._last_sent and not lock.locked()]:
            del self._chat_locks[address]
        # Amortised: the next pass waits until the map has doubled from what is left.
        self._prune_above = max(PACED_CHATS, 2 * len(self._last_sent))

    async def reconcile(self, row: OutboxRow) -> str | None:
        """The Bot API cannot look up sent messages."""
        return None

    async def answer_button(self, callback_query_id: str, text: str | None = None) -> None:
        """Stop the button's spinner (with a short note); failures do not matter (the press is stored)."""
        try:
            await self.bot.answer_callback_query(callback_query_id, text=text[:200] if text else None)
        except TelegramError as exc:
            log.info("could not answer a callback query: %s", type(exc).__name__)

    async def updates(self, offset: int, timeout: int = 25) -> list[Update]:
        """Long-poll for updates after `offset` (development only)."""
        return list(await self.bot.get_updates(offset=offset, timeout=timeout, allowed_updates=ALLOWED_UPDATES))

    async def set_webhook(self, url: str) -> bool:
        """Register our webhook with its secret token."""
        return bool(
            await self.bot.set_webhook(
                url=url,
                secret_token=self.settings.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
                max_connections=40,
            )
        )
