"""The aiohttp transports under the provider clients: a request that never left is told apart from one whose
answer was lost, on both channels, through the real PTB bot and twilio client."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from bot.channels.http import _flat
from bot.channels.sms import TwilioSms
from bot.channels.telegram import TelegramChannel
from bot.config import TelegramSettings, TwilioSettings
from bot.dispatcher import SendResult, TryLater, Unknown
from storage.repositories import OutboxRow

TOKEN = "123456789:AAbcdefghijklmnopqrstuvwxyz0123456789"
SID = "AC" + "0" * 32


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that reads requests and never answers (the provider took it; the answer is lost)."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(5)
    for connection in held:
        connection.close()
    listener.close()


def _row(channel: str, address: str) -> OutboxRow:
    return OutboxRow(7, 1, channel, address, "Your visit is tomorrow.", None, "reminder", 0)


def _sms(root: str, timeout: float = 5.0) -> TwilioSms:
    settings = TwilioSettings(SID, "token", "+15550100199", None, root, "https://bot.example")
    return TwilioSms(settings, timeout=timeout)


def _telegram(root: str) -> TelegramChannel:
    return TelegramChannel(TelegramSettings(TOKEN, "secret", root, None), per_chat_gap=0.0)


async def _send_sms(sms: TwilioSms) -> SendResult:
    try:
        return await sms.send(_row("sms", "+15550100001"))
    finally:
        await sms.close()


async def _send_telegram(channel: TelegramChannel, read_timeout: float = 15.0) -> SendResult:
    request = channel.bot.request
    await request.initialize()
    request._read_timeout = read_timeout  # type: ignore[attr-defined]
    try:
        return await channel.send(_row("telegram", "42"))
    finally:
        await request.shutdown()


def test_sms_to_an_unreachable_twilio_is_tried_later() -> None:
    result = asyncio.run(_send_sms(_sms(f"http://127.0.0.1:{_closed_port()}")))
    assert isinstance(result, TryLater)
    assert result.error.startswith("twilio unreachable")


def test_sms_whose_answer_is_lost_is_an_unknown_outcome(silent_server: str) -> None:
    result = asyncio.run(_send_sms(_sms(silent_server, timeout=0.5)))
    assert isinstance(result, Unknown)
    assert result.error.startswith("twilio did not answer")


def test_telegram_unreachable_is_tried_later() -> None:
    result = asyncio.run(_send_telegram(_telegram(f"http://127.0.0.1:{_closed_port()}")))
    assert isinstance(result, TryLater)
    assert result.error.startswith("telegram unavailable")


def test_telegram_whose_answer_is_lost_is_an_unknown_outcome(silent_server: str) -> None:
    result = asyncio.run(_send_telegram(_telegram(silent_server), read_timeout=0.5))  # 15 s in production
    assert isinstance(result, Unknown)
    assert result.error.startswith("telegram did not answer")


def test_form_values_are_flattened_as_requests_would() -> None:
    assert _flat({"To": "+1555", "Tags": ["a", "b"], "Skip": None, "Flag": True}) == [
        ("To", "+1555"), ("Tags", "a"), ("Tags", "b"), ("Flag", "True"),
    ]  # fmt: skip
    assert _flat({}) is None
