"""Telegram pacing state follows the chats active now: quiet chats are forgotten, busy ones still paced."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.channels import telegram as telegram_channel
from bot.channels.telegram import TelegramChannel
from bot.config import TelegramSettings
from storage.repositories import OutboxRow
from tests.fakes import FakeTelegram

GAP = 1.0  # as in production; the sends between the sleep and the pruning pass take far less


def _row(chat: int) -> OutboxRow:
    return OutboxRow(chat, 1, "telegram", str(chat), "Hello", None, "reply", 0)


async def _run(fake: FakeTelegram) -> tuple[set[str], set[str], float]:
    channel = TelegramChannel(TelegramSettings(fake.token, "secret", fake.url, None), per_chat_gap=GAP)
    await channel.start()
    try:
        for chat in range(1, 31):  # thirty chats, each sent to once
            await channel.send(_row(chat))
        await asyncio.sleep(GAP * 1.5)  # all of them are quiet now
        for chat in range(31, 51):  # twenty more: the map passes its limit (doubled to 46) and is pruned
            await channel.send(_row(chat))
        started = time.monotonic()
        await channel.send(_row(50))  # chat 50 is busy: its second message still waits the gap
        waited = time.monotonic() - started
        return set(channel._last_sent), set(channel._chat_locks), waited
    finally:
        await channel.stop()


def test_quiet_chats_are_forgotten_and_busy_ones_still_paced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telegram_channel, "PACED_CHATS", 10)
    monkeypatch.setattr(telegram_channel, "OVERALL_GAP", 0.0)
    with FakeTelegram() as fake:
        remembered, locked, waited = asyncio.run(_run(fake))
        assert len(fake.sent) == 51
    assert remembered == {str(chat) for chat in range(31, 51)}  # the thirty quiet chats are forgotten
    assert locked == remembered
    assert waited >= GAP * 0.9
