"""SMS (and WhatsApp) through Twilio: check and read webhooks, send through the REST API.

Inbound: `X-Twilio-Signature` is checked against the configured public URL (not the URL the
request arrived at, which a proxy changes; RELIABILITY §3.1), with every form parameter, repeats
included. The account and, with a single sending number, the `To` number must be ours.

Outbound: replies go out through the REST API with a status callback that names our outbox row
(`?oid=`), never inline as TwiML, so every message takes the same retryable, audited path.
`whatsapp:` addresses use the same adapter and are sent from the WhatsApp form of our number.

Error 21610 means the person texted STOP to Twilio: they are opted out and never retried (SMS-11).
A request that timed out after it was sent may have been taken: it is held for a status callback,
and looked up by `reconcile` before anything is sent again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

from starlette.datastructures import FormData, UploadFile
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.channels.http import AiohttpTwilioClient, never_sent, transport_failure
from bot.config import TwilioSettings
from bot.dispatcher import Accepted, Refused, SendResult, TryLater, Unknown
from bot.domain import InboundMessage
from storage.repositories import OutboxRow

log = logging.getLogger(__name__)

CHANNEL = "sms"
OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient"
UNREACHABLE_CODES = frozenset({OPTED_OUT, 21211, 21612, 21614})  # opted out, invalid, unroutable, not mobile
TOO_MANY_REQUESTS = frozenset({20429, 14107})
SEND_TIMEOUT = 15.0
SEND_CONNECTIONS = 16  # at most this many Twilio requests at once (the dispatcher sends to 16 addresses at once)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


class WebhookError(Exception):
    """A webhook that must be answered 403 (bad signature, not our account) or 400 (malformed)."""

    def __init__(self, status: int, reason: str) -> None:
        """Remember the HTTP status to answer with."""
        super().__init__(reason)
        self.status = status


def parse_form(body: bytes) -> FormData:
    """An application/x-www-form-urlencoded body, repeated keys kept; bad UTF-8 becomes U+FFFD.

    Twilio never sends bad UTF-8, so such a request fails its signature check: a 403, not a 500.
    """
    text = body.decode("utf-8", errors="replace")
    pairs: list[tuple[str, str | UploadFile]] = list(
        parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace")
    )
    return FormData(pairs)


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """What a status callback says about one of our messages."""

    outbox_id: int
    message_sid: str
    status: str
    error_code: int | None


class TwilioSms:
    """The SMS channel: webhook checks and parsing, sending, reconciling, status callbacks."""

    channel = CHANNEL
    can_reconcile = True

    def __init__(
        self, settings: TwilioSettings, known_sids: Callable[[str], set[str]] | None = None,
        timeout: float = SEND_TIMEOUT,
    ) -> None:  # fmt: skip
        """Use these credentials; `known_sids(address)` lists SIDs already recorded for an address."""
        self.settings = settings
        # twilio's async interface over a pooled aiohttp session (bot/channels/http.py): no thread per send.
        self.http = AiohttpTwilioClient(timeout, root=settings.api_url or None, pool_size=SEND_CONNECTIONS)
        self.client = Client(settings.account_sid, settings.auth_token, http_client=self.http)
        self.validator = RequestValidator(settings.auth_token)
        self.known_sids = known_sids or (lambda _address: set())

    # -- inbound ------------------------------------------------------------------------------

    def public_url(self, path: str, query: str = "") -> str:
        """The URL Twilio called, as configured (a proxy in front may have changed the real one)."""
        return self.settings.public_url + path + (f"?{query}" if query else "")

    def verify(self, path: str, query: str, form: FormData, signature: str) -> None:
        """Refuse (403) a webhook whose signature, account or number is not ours."""
        if not signature or not self.validator.validate(self.public_url(path, query), form, signature):
            raise WebhookError(403, "bad or missing X-Twilio-Signature")
        if form.get("AccountSid") != self.settings.account_sid:
            raise WebhookError(403, "AccountSid is not ours")

    def inbound(self, form: FormData, received_at: datetime) -> InboundMessage:
        """An inbound SMS or WhatsApp message as the pipeline's InboundMessage."""
        sid = str(form.get("MessageSid") or form.get("SmsMessageSid") or "")
        sender = str(form.get("From") or "")
        if not sid or not sender or len(sid) > 64 or len(sender) > 64:
            raise WebhookError(400, "MessageSid and From are required")
        to = str(form.get("To") or "")
        if self.settings.from_number and to.removeprefix("whatsapp:") != self.settings.from_number:
            raise WebhookError(403, "To is not our number")
        try:
            media = max(0, min(int(str(form.get("NumMedia") or 0)), 10))
        except ValueError:
            media = 0
        return InboundMessage(
            channel=CHANNEL,
            address=sender,
            text=str(form.get("Body") or ""),
            provider_message_id=sid,
            received_at=received_at,
            media_count=media,
        )

    def status_update(self, query: str, form: FormData) -> StatusUpdate:
        """Read a status callback (after `verify`): which outbox row, and what happened to it."""
        oid = dict(parse_qsl(query)).get("oid", "")
        if not oid.isdecimal():
            raise WebhookError(400, "the callback does not name an outbox row")
        code = str(form.get("ErrorCode") or "")
        return StatusUpdate(
            outbox_id=int(oid),
            message_sid=str(form.get("MessageSid") or form.get("SmsSid") or ""),
            status=str(form.get("MessageStatus") or form.get("SmsStatus") or "").lower(),
            error_code=int(code) if code.isdecimal() else None,
        )

    # -- outbound -----------------------------------------------------------------------------

    def _sender(self, address: str) -> dict[str, str]:
        if self.settings.messaging_service_sid:
            return {"messaging_service_sid": self.settings.messaging_service_sid}
        number = self.settings.from_number or ""
        return {"from_": f"whatsapp:{number}" if address.startswith("whatsapp:") else number}

    async def send(self, row: OutboxRow) -> SendResult:
        """Send one SMS."""
        try:
            message = await self.client.messages.create_async(
                to=row.address,
                body=row.body,
                status_callback=self.public_url("/twilio/status", f"oid={row.id}"),
                **self._sender(row.address),
            )
        except TwilioRestException as exc:
            return _classify(exc)
        except Exception as exc:
            if not transport_failure(exc):
                raise
            if never_sent(exc):
                return TryLater(f"twilio unreachable: {type(exc).__name__}")
            return Unknown(f"twilio did not answer: {type(exc).__name__}")
        return Accepted(str(message.sid))

    async def reconcile(self, row: OutboxRow) -> str | None:
        """Look for a message Twilio already took for this row (same address and text, not yet ours);
        raises if the lookup itself fails."""
        since = (row.created_at or datetime.now().astimezone()) - timedelta(minutes=1)
        known = await asyncio.to_thread(self.known_sids, row.address)
        # A failed lookup (a failed page fetch raises TwilioException, a dropped connection an aiohttp
        # error) is NOT "not found": it propagates, so the dispatcher knows it still cannot tell whether
        # Twilio took the message and flags the resend possible_duplicate (RELIABILITY §2.4).
        found = await self.client.messages.list_async(to=row.address, date_sent_after=since, limit=50)
        for message in found:
            created = message.date_created
            if message.body == row.body and message.sid not in known and (created is None or created >= since):
                return str(message.sid)
        return None

    async def close(self) -> None:
        """Close pooled connections."""
        await self.http.close()


def _classify(exc: TwilioRestException) -> SendResult:
    code = exc.code if isinstance(exc.code, int) else None
    if code in UNREACHABLE_CODES:
        return Refused(f"twilio {code}", unreachable=True)
    if exc.status == 429 or code in TOO_MANY_REQUESTS:
        return TryLater(f"twilio {exc.status} {code}")
    if exc.status >= 500 or exc.status in (401, 403, 408):
        # Server trouble, or credentials an operator is fixing: the message must not be lost.
        return TryLater(f"twilio {exc.status} {code}")
    return Refused(f"twilio {exc.status} {code}")


# Twilio's status words and ours (bot.delivery never moves a row backwards).
PROVIDER_STATUS = {
    "accepted": "sent", "scheduled": "sent", "queued": "sent", "sending": "sent", "sent": "sent",
    "delivered": "delivered", "read": "delivered", "undelivered": "failed", "failed": "failed",
    "canceled": "failed", "partially_delivered": "delivered",
}  # fmt: skip


def our_status(provider_status: str) -> str | None:
    """Our outbox status for a Twilio status word (None for words we do not know)."""
    return PROVIDER_STATUS.get(provider_status)
