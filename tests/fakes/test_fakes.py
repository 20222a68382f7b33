"""The fakes against the REAL clients: twilio's ``Client`` and python-telegram-bot's ``Bot``/``ExtBot``.

No mocks: every call below crosses a socket to a uvicorn server on 127.0.0.1. The fakes are started once
per module and reset before each test.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import requests
import telegram
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import AIORateLimiter, ExtBot
from telegram.warnings import PTBDeprecationWarning
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.fakes import (
    DEFAULT_BOT_ID,
    FakeTelegram,
    FakeTwilio,
    LocalServer,
    callback_update,
    command_update,
    contact_update,
    edited_update,
    forwarded_update,
    group_text_update,
    inbound_sms_params,
    location_update,
    my_chat_member_update,
    photo_update,
    post_signed,
    sms_segments,
    sticker_update,
    text_update,
    twilio_signature,
    voice_update,
)

T = TypeVar("T")
PUBLIC = "https://trialbot.example.org"
PATIENT, OTHER, OUR_NUMBER = "+15551230001", "+15551230002", "+15550009999"
SERVICE_SID = "MG" + "ab" * 16


# -- how production code points the real clients at the fakes ---------------------------------------


class LocalTwilioHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """twilio's own requests-based HTTP client, sending every request to ``base_url`` instead of
    https://api.twilio.com (scheme and host:port replaced; path and query kept, so next-page URLs work)."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._base = urlsplit(base_url)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> TwilioResponse:
        parts = urlsplit(url)
        local = urlunsplit((self._base.scheme, self._base.netloc, parts.path, parts.query, parts.fragment))
        return super().request(method, local, *args, **kwargs)


def twilio_client(fake: FakeTwilio, token: str | None = None, timeout: float | None = None) -> Client:
    return Client(
        fake.account_sid, token or fake.auth_token, http_client=LocalTwilioHttpClient(fake.url, timeout=timeout)
    )


def ptb_bot(fake: FakeTelegram, token: str | None = None) -> telegram.Bot:
    return telegram.Bot(token or fake.token, base_url=f"{fake.url}/bot", base_file_url=f"{fake.url}/file/bot")


async def enter(bot: telegram.Bot) -> None:
    """Initialize and shut down. ``async with`` closes the HTTP client even when getMe fails; a bare
    ``initialize()`` that raises leaves it open (a ResourceWarning later)."""
    async with bot:
        pass


async def refused(call: Awaitable[object]) -> str:
    """Await a Bot API call that must fail with BadRequest; returns PTB's message."""
    try:
        await call
    except BadRequest as exc:
        return exc.message
    raise AssertionError("the call was not refused")


def run(factory: Callable[[], Awaitable[T]]) -> T:
    """Run async client code from a sync test (no pytest-asyncio)."""

    async def main() -> T:
        return await factory()

    return asyncio.run(main())


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def twilio_server() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def twilio(twilio_server: FakeTwilio) -> FakeTwilio:
    twilio_server.reset()
    return twilio_server


@pytest.fixture
def client(twilio: FakeTwilio) -> Iterator[Client]:
    made = twilio_client(twilio)
    yield made
    made.http_client.session.close()  # an unclosed requests session leaks sockets (ResourceWarning)


@pytest.fixture(scope="module")
def telegram_server() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def tg(telegram_server: FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> FakeTelegram:
    # PTB 22 warns (PTBDeprecationWarning) whenever a time period such as RetryAfter.retry_after is read,
    # even inside its own RetryAfter constructor, unless PTB_TIMEDELTA opts in to timedelta values.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    telegram_server.reset()
    return telegram_server


class Receiver:
    """A tiny Starlette app standing in for trialbot's webhooks: checks signatures like production must."""

    def __init__(self, auth_token: str, telegram_secret: str = "s3cret-token_1") -> None:
        self.validator = RequestValidator(auth_token)
        self.telegram_secret = telegram_secret
        self.received: list[tuple[str, list[tuple[str, str]], bool]] = []
        self.updates: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/twilio/{kind}", self.twilio, methods=["POST"]),
                Route("/telegram", self.telegram, methods=["POST"]),
            ]
        )

    async def twilio(self, request: Request) -> Response:
        form = await request.form()
        public_url = PUBLIC + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        valid = self.validator.validate(public_url, form, request.headers.get("X-Twilio-Signature", ""))
        with self.lock:
            self.received.append((request.path_params["kind"], [(k, str(v)) for k, v in form.multi_items()], valid))
        return PlainTextResponse("", status_code=204 if valid else 403)

    async def telegram(self, request: Request) -> Response:
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != self.telegram_secret:
            return PlainTextResponse("", status_code=403)
        with self.lock:
            self.updates.append(await request.json())
        return PlainTextResponse("")


@pytest.fixture
def receiver(twilio: FakeTwilio) -> Iterator[tuple[Receiver, LocalServer]]:
    made = Receiver(twilio.auth_token)
    with LocalServer(made.app, lifespan="off") as server:
        yield made, server


# -- LocalServer ------------------------------------------------------------------------------------


def test_local_server_runs_the_lifespan_and_serves_on_a_free_port() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    app = Starlette(routes=[Route("/ping", lambda _: PlainTextResponse("pong"))], lifespan=lifespan)
    with LocalServer(app) as server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{server.url}/ping").text == "pong"
        assert events == ["startup"]
    assert events == ["startup", "shutdown"]
    assert not server.running


def test_local_server_reports_a_failed_startup() -> None:
    database_up = False

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not database_up:
            raise RuntimeError("no database")
        yield

    with pytest.raises(RuntimeError, match="failed to start"):
        LocalServer(Starlette(lifespan=lifespan)).start()


# -- FakeTwilio with twilio's real Client -----------------------------------------------------------


def test_create_returns_a_queued_message_and_is_recorded(twilio: FakeTwilio, client: Client) -> None:
    callback = f"{PUBLIC}/twilio/status?o=7"
    message = client.messages.create(
        to=PATIENT, from_=OUR_NUMBER, body="Hi Pat", status_callback=callback, validity_period=3600
    )
    assert message.sid is not None
    assert message.sid.startswith("SM")
    assert len(message.sid) == 34
    assert (message.status, message.to, message.from_, message.body) == ("queued", PATIENT, OUR_NUMBER, "Hi Pat")
    assert message.num_segments == "1"
    assert message.date_created is not None
    assert message.date_sent is None  # null until sent, as at Twilio
    [sent] = twilio.sent
    assert (sent.sid, sent.to, sent.from_, sent.body, sent.status_callback) == (
        message.sid, PATIENT, OUR_NUMBER, "Hi Pat", callback,
    )  # fmt: skip
    assert sent.messaging_service_sid is None
    assert sent.form["ValidityPeriod"] == "3600"


def test_create_through_a_messaging_service_is_accepted_without_a_sender(twilio: FakeTwilio, client: Client) -> None:
    message = client.messages.create(to=PATIENT, messaging_service_sid=SERVICE_SID, body="Hola, ¿qué tal?")
    assert (message.status, message.from_, message.messaging_service_sid) == ("accepted", None, SERVICE_SID)
    assert message.sid is not None
    fetched = client.messages(message.sid).fetch()
    assert fetched.from_ == twilio.service_number
    assert fetched.num_segments == "1"


def test_list_filters_pages_and_is_newest_first(client: Client) -> None:
    first = client.messages.create(to=PATIENT, from_=OUR_NUMBER, body="one")
    client.messages.create(to=OTHER, from_=OUR_NUMBER, body="other")
    third = client.messages.create(to=PATIENT, from_=OUR_NUMBER, body="three")
    now = datetime.now(UTC)

    found = client.messages.list(to=PATIENT, from_=OUR_NUMBER, date_sent_after=now - timedelta(hours=1))
    assert [m.sid for m in found] == [third.sid, first.sid]
    assert client.messages.list(to=PATIENT, date_sent_after=now + timedelta(days=1)) == []
    # page_size=1 makes the client follow next_page_uri (absolute https://api.twilio.com URLs, rewritten).
    assert [m.body for m in client.messages.list(page_size=1)] == ["three", "other", "one"]
    assert [m.body for m in client.messages.list(limit=2)] == ["three", "other"]


def test_fetch_of_an_unknown_message_is_a_404(client: Client) -> None:
    with pytest.raises(TwilioRestException) as raised:
        client.messages("SM" + "0" * 32).fetch()
    assert (raised.value.status, raised.value.code) == (404, 20404)


def test_wrong_credentials_are_a_401_and_nothing_is_sent(twilio: FakeTwilio) -> None:
    bad = twilio_client(twilio, token="not-the-token")
    with pytest.raises(TwilioRestException) as raised:
        bad.messages.create(to=PATIENT, from_=OUR_NUMBER, body="hi")
    bad.http_client.session.close()
    assert (raised.value.status, raised.value.code) == (401, 20003)
    assert twilio.sent == []
    assert len(twilio.requests) == 1


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": PATIENT, "from_": OUR_NUMBER}, 21602),
        ({"to": PATIENT, "body": "hi"}, 21603),
        ({"to": "5551230001", "from_": OUR_NUMBER, "body": "hi"}, 21211),
        ({"to": PATIENT, "from_": OUR_NUMBER, "body": "x" * 1601}, 21617),
    ],
)
def test_invalid_creates_are_rejected_like_twilio(
    twilio: FakeTwilio, client: Client, kwargs: dict[str, str], code: int
) -> None:
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(**kwargs)
    assert (raised.value.status, raised.value.code) == (400, code)
    assert twilio.sent == []


def test_an_opted_out_number_gives_21610_until_opt_in(twilio: FakeTwilio, client: Client) -> None:
    twilio.opt_out(PATIENT)
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to=PATIENT, from_=OUR_NUMBER, body="reminder")
    assert (raised.value.status, raised.value.code) == (400, 21610)
    assert "unsubscribed" in raised.value.msg
    client.messages.create(to=OTHER, from_=OUR_NUMBER, body="others are fine")
    twilio.opt_in(PATIENT)
    client.messages.create(to=PATIENT, from_=OUR_NUMBER, body="after START")
    assert [s.to for s in twilio.sent] == [OTHER, PATIENT]


def test_fail_next_raises_with_status_and_code_then_recovers(twilio: FakeTwilio, client: Client) -> None:
    twilio.fail_next(500)
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to=PATIENT, from_=OUR_NUMBER, body="a")
    assert (raised.value.status, raised.value.code) == (500, 20500)

    twilio.fail_next(429, count=2, message="Too Many Requests")
    for _ in range(2):
        with pytest.raises(TwilioRestException) as raised:
            client.messages.create(to=PATIENT, from_=OUR_NUMBER, body="b")
        assert (raised.value.status, raised.value.code) == (429, 20429)
    client.messages.create(to=PATIENT, from_=OUR_NUMBER, body="c")
    assert [s.body for s in twilio.sent] == ["c"]
    assert len(twilio.requests) == 4  # every attempt is visible

    # A failed list (or any page fetch) is NOT a TwilioRestException: Page raises the base class with
    # (message, twilio Response) as args.
    twilio.fail_next(503, endpoint="list")
    with pytest.raises(TwilioException) as failed_list:
        client.messages.list(to=PATIENT)
    assert not isinstance(failed_list.value, TwilioRestException)
    assert failed_list.value.args[1].status_code == 503


def test_a_lost_response_times_out_but_the_message_was_accepted(twilio: FakeTwilio) -> None:
    impatient = twilio_client(twilio, timeout=0.3)
    twilio.delay_next(3, accept=True)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout) as raised:
        impatient.messages.create(to=PATIENT, from_=OUR_NUMBER, body="did it go?")
    assert time.monotonic() - started < 2
    assert type(raised.value) is requests.exceptions.ReadTimeout  # not wrapped by twilio
    [sent] = twilio.sent
    # Reconciliation: the message can be found afterwards.
    assert [m.sid for m in impatient.messages.list(to=PATIENT, date_sent_after=datetime.now(UTC))] == [sent.sid]

    twilio.delay_next(3, accept=False)
    with pytest.raises(requests.exceptions.ReadTimeout):
        impatient.messages.create(to=OTHER, from_=OUR_NUMBER, body="never processed")
    impatient.http_client.session.close()
    assert [s.to for s in twilio.sent] == [PATIENT]


def test_send_status_posts_a_callback_signed_over_the_public_url(
    twilio: FakeTwilio, client: Client, receiver: tuple[Receiver, LocalServer]
) -> None:
    app, server = receiver
    message = client.messages.create(
        to=PATIENT, messaging_service_sid=SERVICE_SID, body="hi", status_callback=f"{PUBLIC}/twilio/status?o=7"
    )
    assert message.sid is not None
    assert twilio.send_status(message.sid, "sent", callback_base=server.url) == 204
    assert twilio.send_status(message.sid, "undelivered", error_code=30003, callback_base=server.url) == 204
    [(kind, sent_form, valid), (_, undelivered_form, valid2)] = app.received
    assert (kind, valid, valid2) == ("status", True, True)
    fields = dict(sent_form)
    assert fields["MessageSid"] == fields["SmsSid"] == message.sid
    assert (fields["MessageStatus"], fields["SmsStatus"], fields["To"]) == ("sent", "sent", PATIENT)
    assert (fields["AccountSid"], fields["ApiVersion"], fields["MessagingServiceSid"]) == (
        twilio.account_sid, "2010-04-01", SERVICE_SID,
    )  # fmt: skip
    assert "ErrorCode" not in fields
    assert dict(undelivered_form)["ErrorCode"] == "30003"
    assert client.messages(message.sid).fetch().status == "undelivered"
    assert [c.http_status for c in twilio.callbacks] == [204, 204]


def test_auto_status_sends_callbacks_by_itself(
    twilio: FakeTwilio, client: Client, receiver: tuple[Receiver, LocalServer]
) -> None:
    app, server = receiver
    twilio.auto_status = ("sent", "delivered")
    twilio.auto_status_base = server.url
    message = client.messages.create(to=PATIENT, from_=OUR_NUMBER, body="hi", status_callback=f"{PUBLIC}/twilio/status")
    callbacks = twilio.wait_for_callbacks(2)
    assert [(c.sid, c.status, c.http_status) for c in callbacks] == [
        (message.sid, "sent", 204), (message.sid, "delivered", 204),
    ]  # fmt: skip
    assert all(valid for _, _, valid in app.received)
    assert twilio.status_of(str(message.sid)) == "delivered"


def test_post_signed_sends_an_inbound_sms_the_app_can_validate(
    twilio: FakeTwilio, receiver: tuple[Receiver, LocalServer]
) -> None:
    app, server = receiver
    params = inbound_sms_params(
        PATIENT, OUR_NUMBER, "YES 👍", account_sid=twilio.account_sid, media_urls=["https://example.org/a.jpg"]
    )
    params.append(("MediaUrl0", "https://example.org/a-again.jpg"))  # a repeated key is signed too
    url = f"{PUBLIC}/twilio/sms"
    assert post_signed(url, server.url, params, twilio.auth_token).status_code == 204
    assert post_signed(url, f"{server.url}/twilio/sms", params, twilio.auth_token).status_code == 204
    assert post_signed(url, server.url, params, "wrong-token").status_code == 403
    assert post_signed(url, server.url, params, twilio.auth_token, signature="AAAA").status_code == 403
    assert post_signed(url, server.url, params, twilio.auth_token, sign=False).status_code == 403
    tampered = [(k, "NO" if k == "Body" else v) for k, v in params]
    signature = twilio_signature(twilio.auth_token, url, params)
    assert post_signed(url, server.url, tampered, twilio.auth_token, signature=signature).status_code == 403
    fields = dict(app.received[0][1])
    assert fields["Body"] == "YES 👍"
    assert fields["MessageSid"].startswith("MM")
    assert (fields["NumMedia"], fields["NumSegments"], fields["ApiVersion"]) == ("1", "1", "2010-04-01")
    assert app.received[0][1].count(("MediaUrl0", "https://example.org/a-again.jpg")) == 1


SEGMENT_CASES = [
    ("", 1), ("a" * 160, 1), ("a" * 161, 2), ("€" * 80, 1), ("€" * 81, 2), ("é" * 160, 1), ("ñ" * 70, 1),
    ("ą" * 70, 1), ("ą" * 71, 2), ("😀" * 35, 1), ("😀" * 36, 2),
]  # fmt: skip


@pytest.mark.parametrize(("body", "segments"), SEGMENT_CASES)
def test_sms_segments_follow_gsm7_and_ucs2(body: str, segments: int) -> None:
    assert sms_segments(body) == segments


# -- FakeTelegram with python-telegram-bot's real Bot ------------------------------------------------


def test_initialize_calls_get_me(tg: FakeTelegram) -> None:
    async def go() -> telegram.User:
        async with ptb_bot(tg) as bot:
            return bot.bot

    me = run(go)
    assert (me.id, me.username, me.is_bot) == (DEFAULT_BOT_ID, tg.username, True)
    assert [c.method for c in tg.calls] == ["getMe"]


def test_a_wrong_token_is_rejected_as_invalid(tg: FakeTelegram) -> None:
    with pytest.raises(InvalidToken, match="was rejected"):
        run(lambda: enter(ptb_bot(tg, token="999:wrong")))
    assert tg.calls == []


def test_a_method_the_fake_lacks_is_recorded_and_looks_like_a_bad_token_to_ptb(tg: FakeTelegram) -> None:
    async def go() -> None:
        async with ptb_bot(tg) as bot:
            await bot.get_chat(42)

    with pytest.raises(InvalidToken, match="Not Found"):  # PTB maps every 404 to InvalidToken
        run(go)
    assert [c.params for c in tg.calls_to("getChat")] == [{"chat_id": 42}]


def test_send_message_with_a_keyboard(tg: FakeTelegram) -> None:
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton("Yes", callback_data="consent:yes:3"), InlineKeyboardButton("No", callback_data="n")]]
    )

    async def go() -> list[telegram.Message]:
        async with ptb_bot(tg) as bot:
            return [
                await bot.send_message(42, "Do you agree?", reply_markup=keyboard),
                await bot.send_message(42, "42"),
                await bot.send_message(7, "other chat"),
            ]

    first, second, other = run(go)
    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)  # per chat
    assert first.chat.id == 42
    assert first.text == "Do you agree?"
    assert first.reply_markup == keyboard
    assert first.from_user is not None
    assert first.from_user.id == DEFAULT_BOT_ID
    sent = tg.sent
    assert (sent[0].chat_id, sent[0].message_id) == (42, 1)
    assert sent[0].reply_markup == {
        "inline_keyboard": [[{"text": "Yes", "callback_data": "consent:yes:3"}, {"text": "No", "callback_data": "n"}]]
    }
    assert sent[1].text == "42"  # free text is never JSON-decoded
    [call] = [c for c in tg.calls_to("sendMessage") if c.params["text"] == "Do you agree?"]
    assert call.params["chat_id"] == 42


def test_callback_data_over_64_bytes_is_refused_by_the_server(tg: FakeTelegram) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="x" * 65)]])

    async def go() -> None:
        async with ptb_bot(tg) as bot:
            await bot.send_message(42, "Agree?", reply_markup=keyboard)

    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):  # PTB capitalize()s the description
        run(go)
    assert tg.sent == []


def test_retry_after(tg: FakeTelegram) -> None:
    tg.retry_after_next(7)

    async def go() -> None:
        async with ptb_bot(tg) as bot:
            await bot.send_message(42, "hi")

    with pytest.raises(RetryAfter) as raised:
        run(go)
    assert raised.value.retry_after == timedelta(seconds=7)  # a timedelta because PTB_TIMEDELTA is set
    assert tg.sent == []


def test_retry_after_warns_without_ptb_timedelta(tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PTB_TIMEDELTA")
    tg.retry_after_next(7)

    async def go() -> None:
        async with ptb_bot(tg) as bot:
            await bot.send_message(42, "hi")

    # Without PTB_TIMEDELTA, constructing RetryAfter itself warns; with -W error that warning would
    # replace the RetryAfter. Reading .retry_after then gives an int (and warns again).
    with pytest.warns(PTBDeprecationWarning, match="retry_after"), pytest.raises(RetryAfter) as raised:
        run(go)
    with pytest.warns(PTBDeprecationWarning):
        assert raised.value.retry_after == 7


def test_block_gives_forbidden_until_unblock(tg: FakeTelegram) -> None:
    tg.block(42)

    async def send(text: str) -> telegram.Message:
        async with ptb_bot(tg) as bot:
            return await bot.send_message(42, text)

    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        run(lambda: send("hi"))
    tg.unblock(42)
    assert run(lambda: send("again")).text == "again"
    assert [s.text for s in tg.sent] == ["again"]


def test_fail_next_maps_to_ptb_errors(tg: FakeTelegram) -> None:
    tg.fail_next(502)
    tg.fail_next(400, description="Bad Request: chat not found")
    errors: list[Exception] = []

    async def go() -> None:
        async with ptb_bot(tg) as bot:  # getMe is not affected: the faults wait for the next calls
            for _ in range(2):
                try:
                    await bot.send_message(42, "hi")
                except telegram.error.TelegramError as exc:
                    errors.append(exc)
            await bot.send_message(42, "fine")

    run(go)
    assert type(errors[0]) is NetworkError
    assert isinstance(errors[1], BadRequest)
    assert errors[1].message == "Chat not found"  # PTB strips "Bad Request: " and capitalises
    assert [s.text for s in tg.sent] == ["fine"]


def test_getme_can_be_failed_explicitly(tg: FakeTelegram) -> None:
    tg.fail_next(502, method="getme")  # Telegram method names are case-insensitive
    with pytest.raises(NetworkError):
        run(lambda: enter(ptb_bot(tg)))


def test_a_lost_response_times_out_but_the_message_was_sent(tg: FakeTelegram) -> None:
    tg.delay_next(3, accept=True)

    async def go() -> None:
        async with ptb_bot(tg) as bot:
            await bot.send_message(42, "did it go?", read_timeout=0.3)

    with pytest.raises(TimedOut):
        run(go)
    assert [s.text for s in tg.sent] == ["did it go?"]


def test_get_updates_honours_offset_limit_and_long_poll(tg: FakeTelegram) -> None:
    for update_id in (10, 11, 12):
        tg.push_update(text_update(update_id, 42, f"m{update_id}"))
    tg.push_update({"update_id": 13, "chat_member": my_chat_member_update(13, -5, "member", "left")["my_chat_member"]})

    async def go() -> list[list[int]]:
        async with ptb_bot(tg) as bot:
            seen = [[u.update_id for u in await bot.get_updates(timeout=0, limit=2)]]
            seen.append([u.update_id for u in await bot.get_updates(offset=12, timeout=0)])
            threading.Timer(0.2, tg.push_update, [text_update(14, 42, "late")]).start()
            started = time.monotonic()
            seen.append([u.update_id for u in await bot.get_updates(offset=13, timeout=1)])
            seen.append([int(time.monotonic() - started < 0.9)])
            return seen

    first, second, late, waited = run(go)
    assert first == [10, 11]
    assert second == [12]  # chat_member updates are only sent when asked for in allowed_updates
    assert late == [14]
    assert waited == [1]  # woke up when the update arrived, before the 1 s long poll ended
    assert [u["update_id"] for u in tg.pending_updates] == [14]


def test_get_updates_with_allowed_updates(tg: FakeTelegram) -> None:
    tg.push_update(text_update(1, 42, "hi"))
    tg.push_update(callback_update(2, 42, "consent:yes", message_id=1))

    async def go() -> tuple[Update, ...]:
        async with ptb_bot(tg) as bot:
            return await bot.get_updates(timeout=0, allowed_updates=["callback_query"])

    [update] = run(go)
    assert update.callback_query is not None
    assert update.callback_query.data == "consent:yes"


def test_every_update_builder_round_trips_through_ptb(tg: FakeTelegram) -> None:
    updates = [
        text_update(1, 42, "hello"),
        command_update(2, 42, "/start invite42"),
        callback_update(3, 42, "consent:yes", message_id=7),
        edited_update(4, 42, "hello again", message_id=1),
        photo_update(5, 42, caption="my card"),
        sticker_update(6, 42),
        voice_update(7, 42),
        location_update(8, 42),
        contact_update(9, 42),
        group_text_update(10, -4001, "hi all"),
        forwarded_update(11, 42, "read this", origin_user_id=99),
        forwarded_update(12, 42, "read this"),
        my_chat_member_update(13, 42, "member", "kicked"),
        my_chat_member_update(14, -4001, "left", "administrator"),
    ]
    bot = telegram.Bot(tg.token)
    parsed = [Update.de_json(u, bot) for u in updates]
    assert [p.update_id for p in parsed] == list(range(1, 15))
    assert [p.effective_chat.id for p in parsed if p.effective_chat] == [42] * 9 + [-4001] + [42] * 3 + [-4001]
    text, command, callback, edited, photo, sticker, voice, location, contact, group, fwd, hidden, kicked, admin = (
        parsed
    )
    assert command.message is not None
    assert command.message.parse_entities(["bot_command"]) == {command.message.entities[0]: "/start"}
    assert callback.callback_query is not None
    assert (callback.callback_query.data, callback.callback_query.from_user.id) == ("consent:yes", 42)
    assert edited.edited_message is not None
    assert edited.edited_message.edit_date is not None
    assert photo.message is not None
    assert (photo.message.caption, len(photo.message.photo)) == ("my card", 2)
    assert sticker.message is not None
    assert sticker.message.sticker is not None
    assert voice.message is not None
    assert voice.message.voice is not None
    assert location.message is not None
    assert location.message.location is not None
    assert contact.message is not None
    assert contact.message.contact is not None
    assert contact.message.contact.user_id == 42
    assert group.effective_chat is not None
    assert group.effective_chat.type == "group"
    assert fwd.message is not None
    assert isinstance(fwd.message.forward_origin, telegram.MessageOriginUser)
    assert hidden.message is not None
    assert isinstance(hidden.message.forward_origin, telegram.MessageOriginHiddenUser)
    assert kicked.my_chat_member is not None
    assert kicked.my_chat_member.new_chat_member.status == "kicked"
    assert admin.my_chat_member is not None
    assert admin.my_chat_member.new_chat_member.status == "administrator"
    assert text.message is not None
    assert text.message.text == "hello"

    # ... and the same JSON arrives intact through getUpdates.
    for update in updates:
        tg.push_update(update)

    async def go() -> tuple[Update, ...]:
        async with ptb_bot(tg) as polling:
            return await polling.get_updates(timeout=0)

    assert [u.to_dict() for u in run(go)] == [p.to_dict() for p in parsed]


def test_callback_answer_and_edits(tg: FakeTelegram) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="c:yes")]])
    results: list[Any] = []

    async def go() -> None:
        async with ptb_bot(tg) as bot:
            sent = await bot.send_message(42, "Agree?", reply_markup=keyboard)
            results.append(await bot.answer_callback_query("cb-1"))
            results.append(await refused(bot.answer_callback_query("cb-1")))  # answered twice
            results.append(await refused(bot.edit_message_reply_markup(42, sent.message_id, reply_markup=keyboard)))
            results.append(await refused(bot.edit_message_text("x", 42, 999)))  # not the bot's message
            results.append(await bot.edit_message_text("Agreed: yes", 42, sent.message_id))

    run(go)
    assert results[0] is True
    assert "query is too old" in results[1].lower()
    assert "not modified" in results[2]
    assert "not found" in results[3]
    edited: telegram.Message = results[4]
    assert edited.text == "Agreed: yes"
    assert edited.reply_markup is None  # editing the text without a markup removes the keyboard
    current = tg.message(42, 1)
    assert current is not None
    assert (current["text"], "reply_markup" in current, current["edit_date"]) == (
        "Agreed: yes", False, int(edited.edit_date.timestamp()) if edited.edit_date else None,
    )  # fmt: skip


def test_webhook_set_info_conflict_delete_and_delivery(tg: FakeTelegram) -> None:
    receiver = Receiver("unused")
    url = f"{PUBLIC}/telegram"

    async def go() -> tuple[telegram.WebhookInfo, str, str]:
        async with ptb_bot(tg) as bot:
            assert await bot.set_webhook(
                url, secret_token=receiver.telegram_secret, allowed_updates=["message"], max_connections=5
            )
            info = await bot.get_webhook_info()
            try:
                await bot.get_updates()
                raise AssertionError("getUpdates worked with a webhook set")
            except Conflict as exc:
                conflict = exc.message
            insecure = await refused(bot.set_webhook("http://insecure.example.org/telegram"))
            return info, conflict, insecure

    info, conflict, insecure = run(go)
    assert tg.webhook is not None
    assert (tg.webhook.url, tg.webhook.secret_token) == (url, receiver.telegram_secret)
    assert (tg.webhook.allowed_updates, tg.webhook.max_connections) == (["message"], 5)
    assert (info.url, info.max_connections, info.allowed_updates) == (url, 5, ("message",))
    assert "webhook is active" in conflict
    assert insecure == "Bad webhook: an https url must be provided for webhook"
    call = tg.calls_to("setWebhook")[0]
    assert call.params["allowed_updates"] == ["message"]  # a JSON string in the form, decoded

    with LocalServer(receiver.app, lifespan="off") as server:
        assert tg.deliver_webhook(text_update(1, 42, "via webhook"), server.url) == 200
    assert receiver.updates[0]["message"]["text"] == "via webhook"

    async def delete() -> bool:
        async with ptb_bot(tg) as bot:
            return await bot.delete_webhook(drop_pending_updates=True)

    assert run(delete) is True
    assert tg.webhook is None


def test_ext_bot_with_the_rate_limiter(tg: FakeTelegram) -> None:
    async def go(max_retries: int) -> telegram.Message:
        bot = ExtBot(
            tg.token,
            base_url=f"{tg.url}/bot",
            base_file_url=f"{tg.url}/file/bot",
            rate_limiter=AIORateLimiter(max_retries=max_retries),
        )
        async with bot:
            return await bot.send_message(42, "limited")

    assert run(lambda: go(0)).text == "limited"
    tg.retry_after_next(1)
    with pytest.raises(RetryAfter):
        run(lambda: go(0))  # the default max_retries=0 does not retry
    tg.retry_after_next(1)
    started = time.monotonic()
    assert run(lambda: go(1)).text == "limited"  # retried after retry_after + 0.1 s
    assert time.monotonic() - started >= 1.1
    assert len(tg.calls_to("sendMessage")) == 4
    assert len(tg.sent) == 2
