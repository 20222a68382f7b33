"""FakeTwilio: the slice of Twilio's REST API that trialbot uses, as a real HTTP server for the real client.

Also the other direction: signed webhook posts (inbound SMS, status callbacks) exactly as Twilio signs them.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
from starlette.applications import Starlette
from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from tests.fakes._base import FakeService, delivery_url, http_post

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "5e3f0c1d2a9b48c7a6d5e4f3b2a19087"  # real auth tokens are 32 hex characters too
DEFAULT_SERVICE_NUMBER = "+15005550006"

Endpoint = Literal["create", "list", "fetch", "any"]
Params = Mapping[str, str] | Sequence[tuple[str, str]]

# Twilio's usual error code for an HTTP status, used when fail_next() gets no code.
_DEFAULT_CODES = {400: 21211, 401: 20003, 403: 20403, 404: 20404, 429: 20429, 500: 20500, 503: 20503}
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_FINAL_OR_SENT = {"sent", "delivered", "undelivered", "failed", "read"}

_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")


def sms_segments(body: str) -> int:
    """How many SMS segments Twilio bills for ``body``: GSM-7 160/153 per segment, else UCS-2 70/67."""
    if all(c in _GSM7 or c in _GSM7_EXTENDED for c in body):
        units = sum(2 if c in _GSM7_EXTENDED else 1 for c in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    return 1 if units <= single else math.ceil(units / multi)


def _rfc2822(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def _sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


@dataclass(frozen=True)
class SentSms:
    """One message create that FakeTwilio accepted (answered 201, or accepted before a delayed answer)."""

    sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status_callback: str | None
    form: dict[str, str]  # every form field as posted (the last value for a repeated key)
    media_urls: tuple[str, ...] = ()
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class TwilioRequest:
    """Any request that reached FakeTwilio's API, accepted or not (to count attempts and retries)."""

    method: str
    path: str
    params: dict[str, str]  # form fields of a POST, query parameters of a GET


@dataclass(frozen=True)
class StatusCallbackResult:
    """One status callback FakeTwilio posted: ``http_status`` is 0 when the connection failed."""

    sid: str
    status: str
    url: str  # the public StatusCallback URL the signature covers
    delivered_to: str
    http_status: int
    error: str | None = None


@dataclass
class _Message:
    sms: SentSms
    from_: str | None
    status: str
    date_sent: datetime | None
    date_updated: datetime
    error_code: int | None = None


@dataclass
class _Fault:
    endpoint: Endpoint
    remaining: int
    status: int = 0
    code: int | None = None
    message: str = ""
    delay: float = 0.0
    accept: bool = True


class FakeTwilio(FakeService):
    """A fake Twilio REST API (Messages create, list and fetch) on 127.0.0.1 for the real ``twilio`` client.

    ``with FakeTwilio() as twilio:`` then point ``twilio.rest.Client(twilio.account_sid, twilio.auth_token,
    http_client=...)`` at ``twilio.url`` (see tests/fakes/test_fakes.py). Accepted creates are in ``sent``,
    every request in ``requests``, posted status callbacks in ``callbacks``.

    Behaviour that mirrors Twilio: HTTP basic auth (401, code 20003); 400 with codes 21604 (no To),
    21603 (no From nor MessagingServiceSid), 21602 (no Body nor MediaUrl), 21211 (To not E.164), 21617
    (body over 1600 characters), 21610 (opted out); a create with ``From`` answers status "queued", one
    with only ``MessagingServiceSid`` answers "accepted" with ``from`` null and ``num_segments`` "0"
    (later reads show ``service_number`` as the sender). ``date_sent`` is null in the create answer
    and the creation time afterwards; list filters (``DateSent>``, ``DateSent<``, ``DateSent``) compare
    whole UTC dates, as Twilio documents them.
    """

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        *,
        service_number: str = DEFAULT_SERVICE_NUMBER,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.service_number = service_number
        self._clock = clock or (lambda: datetime.now(UTC))
        #: When set (e.g. "delivered", or ("sent", "delivered")), each accepted create with a
        #: StatusCallback gets these callbacks, posted ``auto_status_delay`` s later to ``auto_status_base``.
        self.auto_status: str | Sequence[str] | None = None
        self.auto_status_base: str | None = None
        self.auto_status_delay: float = 0.05
        self.reset()

    def reset(self) -> None:
        """Forget messages, requests, callbacks, faults, opt-outs and the auto_status settings."""
        with self._lock:
            self._messages: dict[str, _Message] = {}
            self._sent: list[SentSms] = []
            self._requests: list[TwilioRequest] = []
            self._callbacks: list[StatusCallbackResult] = []
            self._faults: list[_Fault] = []
            self._delays: list[_Fault] = []
            self._opted_out: set[str] = set()
            self.auto_status = None
            self.auto_status_base = None

    # -- what happened ---------------------------------------------------------------------------

    @property
    def sent(self) -> list[SentSms]:
        """Accepted creates, oldest first (a copy)."""
        with self._lock:
            return list(self._sent)

    @property
    def requests(self) -> list[TwilioRequest]:
        """Every API request received, accepted or not, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def callbacks(self) -> list[StatusCallbackResult]:
        """Status callbacks posted so far, by ``send_status`` or ``auto_status`` (a copy)."""
        with self._lock:
            return list(self._callbacks)

    def status_of(self, sid: str) -> str:
        """The message's current status, as a fetch would show it."""
        with self._lock:
            return self._messages[sid].status

    def wait_for_sent(self, count: int, timeout: float = 5.0) -> list[SentSms]:
        """Wait until at least ``count`` messages were accepted; returns ``sent``."""
        return self._wait_for(lambda: self.sent, lambda s: len(s) >= count, timeout, f"{count} sent SMS")

    def wait_for_callbacks(self, count: int, timeout: float = 5.0) -> list[StatusCallbackResult]:
        """Wait until at least ``count`` status callbacks were posted; returns ``callbacks``."""
        return self._wait_for(lambda: self.callbacks, lambda c: len(c) >= count, timeout, f"{count} callbacks")

    # -- fault injection -------------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 500,
        code: int | None = None,
        count: int = 1,
        message: str | None = None,
        *,
        endpoint: Endpoint = "create",
    ) -> None:
        """Answer the next ``count`` requests to ``endpoint`` with a Twilio error (nothing is recorded in
        ``sent``). ``code`` defaults to Twilio's usual code for the status (500 → 20500, 503 → 20503,
        429 → 20429, ...), ``message`` to the status phrase. On a create or fetch the real client raises
        ``TwilioRestException`` with ``.status`` and ``.code``; on a list it raises a bare ``TwilioException``."""
        text = message or HTTPStatus(status).phrase
        with self._lock:
            self._faults.append(_Fault(endpoint, count, status, code or _DEFAULT_CODES.get(status), text))

    def delay_next(self, seconds: float, count: int = 1, accept: bool = True, *, endpoint: Endpoint = "create") -> None:
        """Hold the answer to the next ``count`` requests to ``endpoint`` for ``seconds``, so a client
        timeout fires. ``accept=True``: the request is processed (a create is recorded in ``sent``) before
        the pause, the answer is lost ("accepted but the response was lost"). ``accept=False``: nothing is
        processed; after the pause the fake answers 503 (code 20503)."""
        with self._lock:
            self._delays.append(_Fault(endpoint, count, delay=seconds, accept=accept))

    def opt_out(self, number: str) -> None:
        """Later creates To ``number`` fail with 400, code 21610, as after the recipient texted STOP."""
        with self._lock:
            self._opted_out.add(number)

    def opt_in(self, number: str) -> None:
        """Undo ``opt_out`` (the recipient texted START)."""
        with self._lock:
            self._opted_out.discard(number)

    # -- status callbacks ------------------------------------------------------------------------

    def send_status(
        self, sid: str, status: str, error_code: int | None = None, callback_base: str | None = None
    ) -> int:
        """POST a status callback for message ``sid`` to its StatusCallback, signed like Twilio over the
        public URL; delivered to ``callback_base`` + path + query when given. Returns the HTTP status and
        updates the status that fetch and list show. Raises ``KeyError`` for an unknown sid, ``ValueError``
        if the message had no StatusCallback, ``ConnectionError`` if nothing answered."""
        result = self._send_status(sid, status, error_code, callback_base)
        if result.error is not None:
            raise ConnectionError(f"status callback to {result.delivered_to} failed: {result.error}")
        return result.http_status

    def _send_status(
        self, sid: str, status: str, error_code: int | None, callback_base: str | None
    ) -> StatusCallbackResult:
        now = self._clock()
        with self._lock:
            message = self._messages[sid]
            url = message.sms.status_callback
            if not url:
                raise ValueError(f"message {sid} has no StatusCallback")
            message.status = status
            message.error_code = error_code
            message.date_updated = now
            if status in _FINAL_OR_SENT and message.date_sent is None:
                message.date_sent = now
            params = [
                ("ApiVersion", API_VERSION),
                ("AccountSid", self.account_sid),
                ("SmsSid", sid),
                ("SmsStatus", status),
                ("MessageSid", sid),
                ("MessageStatus", status),
                ("To", message.sms.to),
                ("From", message.from_ or self.service_number),
            ]
            if message.sms.messaging_service_sid:
                params.append(("MessagingServiceSid", message.sms.messaging_service_sid))
            if error_code is not None:
                params.append(("ErrorCode", str(error_code)))
        target = delivery_url(url, callback_base)
        try:
            response = post_signed(url, target, params, self.auth_token)
            result = StatusCallbackResult(sid, status, url, target, response.status_code)
        except httpx.HTTPError as exc:
            result = StatusCallbackResult(sid, status, url, target, 0, f"{type(exc).__name__}: {exc}")
        with self._lock:
            self._callbacks.append(result)
        return result

    def _auto_statuses(self, sid: str, statuses: Sequence[str], base: str | None, delay: float) -> None:
        for status in statuses:
            if self._stopping.wait(delay):
                return
            try:
                self._send_status(sid, status, None, base)
            except Exception:
                return

    # -- the API ---------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        root = f"/{API_VERSION}/Accounts/{{account_sid}}"
        return Starlette(
            routes=[
                Route(f"{root}/Messages.json", self._create, methods=["POST"]),
                Route(f"{root}/Messages.json", self._list, methods=["GET"]),
                Route(f"{root}/Messages/{{sid}}.json", self._fetch, methods=["GET"]),
                Route("/{path:path}", self._not_found, methods=["GET", "POST", "DELETE", "PUT"]),
            ]
        )

    def _authorized(self, request: Request) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == self.account_sid and password == self.auth_token

    async def _begin(self, request: Request) -> tuple[dict[str, str], list[tuple[str, str]]]:
        pairs = [(k, str(v)) for k, v in (await request.form()).multi_items()] if request.method == "POST" else []
        pairs += list(request.query_params.multi_items())
        with self._lock:
            self._requests.append(TwilioRequest(request.method, request.url.path, dict(pairs)))
        return dict(pairs), pairs

    def _take(self, queue: list[_Fault], endpoint: Endpoint) -> _Fault | None:
        with self._lock:
            for fault in queue:
                if fault.endpoint in ("any", endpoint):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        queue.remove(fault)
                    return fault
        return None

    async def _guard(self, request: Request, endpoint: Endpoint) -> tuple[Response | None, _Fault | None]:
        """Auth, injected failures and delays that skip processing; returns (early answer, delay to apply)."""
        if not self._authorized(request):
            return _error(401, 20003, "Authenticate"), None
        if request.path_params["account_sid"] != self.account_sid:
            return _error(404, 20404, f"The requested resource {request.url.path} was not found"), None
        fault = self._take(self._faults, endpoint)
        if fault is not None:
            return _error(fault.status, fault.code, fault.message), None
        delay = self._take(self._delays, endpoint)
        if delay is not None and not delay.accept:
            await self._pause(delay.delay)
            return _error(503, 20503, "Service Unavailable"), None
        return None, delay

    async def _answer(self, response: Response, delay: _Fault | None) -> Response:
        if delay is not None:
            await self._pause(delay.delay)
        return response

    async def _create(self, request: Request) -> Response:
        form, pairs = await self._begin(request)
        early, delay = await self._guard(request, "create")
        if early is not None:
            return early
        return await self._answer(self._accept(form, pairs), delay)

    def _accept(self, form: dict[str, str], pairs: list[tuple[str, str]]) -> Response:
        to, from_, service = form.get("To", ""), form.get("From") or None, form.get("MessagingServiceSid") or None
        body = form.get("Body", "")
        media = tuple(v for k, v in pairs if k == "MediaUrl")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            return _error(400, 21603, "A 'From' phone number is required.")
        if not body and not media and not form.get("ContentSid"):
            return _error(400, 21602, "Message body is required.")
        if not _E164.match(to.removeprefix("whatsapp:")):
            return _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if len(body) > 1600:
            return _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        now = self._clock()
        with self._lock:
            if to in self._opted_out:
                return _error(400, 21610, "Attempt to send to unsubscribed recipient")
            sms = SentSms(
                sid=_sid("MM" if media else "SM"),
                to=to,
                from_=from_,
                messaging_service_sid=service,
                body=body,
                status_callback=form.get("StatusCallback") or None,
                form=form,
                media_urls=media,
                created_at=now,
            )
            message = _Message(sms, from_, "queued" if from_ else "accepted", None, now)
            self._messages[sms.sid] = message
            self._sent.append(sms)
            payload = self._json(message)
            message.date_sent = now  # null in the create answer, as at Twilio; set for later reads
            if not from_:
                message.from_ = self.service_number
            statuses = [self.auto_status] if isinstance(self.auto_status, str) else list(self.auto_status or [])
            if statuses and sms.status_callback:
                self._background(self._auto_statuses, sms.sid, statuses, self.auto_status_base, self.auto_status_delay)
        return JSONResponse(payload, status_code=201)

    async def _list(self, request: Request) -> Response:
        query, _ = await self._begin(request)
        early, delay = await self._guard(request, "list")
        if early is not None:
            return early
        try:
            after, before, on = (_filter_date(query.get(k)) for k in ("DateSent>", "DateSent<", "DateSent"))
            page, size = int(query.get("Page", "0")), min(int(query.get("PageSize", "50")), 1000)
        except ValueError as exc:
            return await self._answer(_error(400, 20001, f"Invalid parameter: {exc}"), delay)
        with self._lock:
            found = [
                m
                for m in reversed(self._messages.values())  # newest first
                if query.get("To") in (None, m.sms.to)
                and query.get("From") in (None, m.from_)
                and _date_matches(m.date_sent or m.sms.created_at, after, before, on)
            ]
            records = [self._json(m) for m in found[page * size : (page + 1) * size]]
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"
        keep = urlencode([(k, v) for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")])

        def page_uri(number: int) -> str:
            return f"{uri}?{keep}{'&' if keep else ''}PageSize={size}&Page={number}"

        has_next = (page + 1) * size < len(found)
        payload = {
            "messages": records,
            "end": page * size + max(len(records) - 1, 0),
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) + "&PageToken=PA" + uuid.uuid4().hex if has_next else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "start": page * size,
            "uri": page_uri(page),
        }
        return await self._answer(JSONResponse(payload), delay)

    async def _fetch(self, request: Request) -> Response:
        await self._begin(request)
        early, delay = await self._guard(request, "fetch")
        if early is not None:
            return early
        with self._lock:
            message = self._messages.get(request.path_params["sid"])
            payload = self._json(message) if message else None
        if payload is None:
            return await self._answer(
                _error(404, 20404, f"The requested resource {request.url.path} was not found"), delay
            )
        return await self._answer(JSONResponse(payload), delay)

    async def _not_found(self, request: Request) -> Response:
        await self._begin(request)
        return _error(404, 20404, f"The requested resource {request.url.path} was not found")

    def _json(self, message: _Message) -> dict[str, Any]:
        sms = message.sms
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sms.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": sms.body,
            "date_created": _rfc2822(sms.created_at),
            "date_sent": _rfc2822(message.date_sent),
            "date_updated": _rfc2822(message.date_updated),
            "direction": "outbound-api",
            "error_code": message.error_code,
            "error_message": None,
            "from": message.from_,
            "messaging_service_sid": sms.messaging_service_sid,
            "num_media": str(len(sms.media_urls)),
            "num_segments": str(sms_segments(sms.body)) if message.from_ else "0",
            "price": None,
            "price_unit": "USD",
            "sid": sms.sid,
            "status": message.status,
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
            "to": sms.to,
            "uri": f"{uri}.json",
        }


def _error(status: int, code: int | None, message: str) -> JSONResponse:
    payload: dict[str, Any] = {"message": message, "status": status}
    if code is not None:
        payload |= {"code": code, "more_info": f"https://www.twilio.com/docs/errors/{code}"}
    return JSONResponse(payload, status_code=status)


def _filter_date(value: str | None) -> date | None:
    """Twilio's date filters take ``YYYY-MM-DD``; the Python client sends ``YYYY-MM-DDTHH:MM:SSZ``."""
    return None if value is None else date.fromisoformat(value[:10])


def _date_matches(moment: datetime, after: date | None, before: date | None, on: date | None) -> bool:
    day = moment.astimezone(UTC).date()
    return (after is None or day >= after) and (before is None or day <= before) and (on is None or day == on)


# -- the other direction: signed webhook posts ----------------------------------------------------


def twilio_signature(auth_token: str, url: str, params: Params) -> str:
    """``X-Twilio-Signature`` for a form post of ``params`` to ``url``, computed by twilio's own
    ``RequestValidator`` (repeated keys allowed)."""
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    return str(RequestValidator(auth_token).compute_signature(url, ImmutableMultiDict(pairs)))


def twilio_webhook_form(
    url_public: str,
    params: Params,
    auth_token: str,
    signature: str | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    sign: bool = True,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a Twilio webhook post: urlencoded ``params`` (order and repeated keys kept)
    and ``X-Twilio-Signature`` over the public URL (or ``signature`` as given; none when ``sign=False``).
    ``headers`` are added last and may override."""
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    out = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "TwilioProxy/1.1",
        "Accept": "*/*",
        "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        "X-Home-Region": "us1",
    }
    if sign:
        out["X-Twilio-Signature"] = (
            signature if signature is not None else twilio_signature(auth_token, url_public, pairs)
        )
    out |= dict(headers or {})
    return urlencode(pairs).encode(), out


def post_signed(
    url_public: str,
    deliver_to: str | None,
    params: Params,
    auth_token: str,
    signature: str | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    sign: bool = True,
    timeout: float = 10.0,
) -> httpx.Response:
    """POST a webhook the way Twilio does, signed over ``url_public`` but sent to ``deliver_to``: a full
    URL, or a base such as ``server.url`` to which the public path and query are appended (None: the
    public URL itself). See ``twilio_webhook_form`` for ``signature``, ``headers`` and ``sign``."""
    body, all_headers = twilio_webhook_form(url_public, params, auth_token, signature, headers, sign=sign)
    return http_post(delivery_url(url_public, deliver_to), body, all_headers, timeout)


def inbound_sms_params(
    from_: str,
    to: str,
    body: str,
    message_sid: str | None = None,
    account_sid: str = DEFAULT_ACCOUNT_SID,
    num_media: int = 0,
    media_urls: Sequence[str] = (),
    *,
    messaging_service_sid: str | None = None,
    media_types: Sequence[str] = (),
    opt_out_type: str | None = None,
    extra: Sequence[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    """The form Twilio posts to an incoming-message webhook, in Twilio's field order. Media beyond
    ``media_urls`` (up to ``num_media``) get made-up Twilio media URLs; types default to image/jpeg.
    ``opt_out_type`` ("STOP", "START", "HELP") is what Advanced Opt-Out adds as ``OptOutType``."""
    count = max(num_media, len(media_urls))
    sid = message_sid or _sid("MM" if count else "SM")
    params = [
        ("ToCountry", "US"),
        ("ToState", ""),
        ("SmsMessageSid", sid),
        ("NumMedia", str(count)),
        ("ToCity", ""),
        ("FromZip", ""),
        ("SmsSid", sid),
        ("FromState", ""),
        ("SmsStatus", "received"),
        ("FromCity", ""),
        ("Body", body),
        ("FromCountry", "US"),
        ("To", to),
    ]
    if messaging_service_sid:
        params.append(("MessagingServiceSid", messaging_service_sid))
    params += [("ToZip", ""), ("NumSegments", str(sms_segments(body)))]
    for i in range(count):
        url = (
            media_urls[i]
            if i < len(media_urls)
            else f"https://api.twilio.com/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}/Media/{_sid('ME')}"
        )
        params += [(f"MediaContentType{i}", media_types[i] if i < len(media_types) else "image/jpeg")]
        params += [(f"MediaUrl{i}", url)]
    if opt_out_type:
        params.append(("OptOutType", opt_out_type))
    params += [("MessageSid", sid), ("AccountSid", account_sid), ("From", from_), ("ApiVersion", API_VERSION)]
    return params + list(extra)
