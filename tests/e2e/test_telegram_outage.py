"""Telegram down when trialbot starts: SMS and both webhooks serve anyway, Telegram replies go out (a send
needs no getMe), and getMe is asked again until it answers. A token Telegram refuses stops start-up with
one line that does not quote the token, and leaves no connection open."""

from __future__ import annotations

import asyncio
import gc
import logging
from pathlib import Path

import httpx
import pytest

import bot.web
from bot.bootstrap import Core, build_app, build_server
from bot.clock import SettableClock
from bot.config import ChannelSettings, ConfigError, TelegramSettings, TwilioSettings
from bot.ids import SequentialIds
from tests.e2e.conftest import OUR_NUMBER, PUBLIC, SECRET, Stack, wait_until
from tests.fakes import FakeTelegram, FakeTwilio, LocalServer, text_update

PATIENT_PHONE = "+15550142077"
CHAT = 7_000_001


def _channels(twilio: FakeTwilio, telegram: FakeTelegram, token: str) -> ChannelSettings:
    return ChannelSettings(
        twilio=TwilioSettings(
            account_sid=twilio.account_sid, auth_token=twilio.auth_token, from_number=OUR_NUMBER,
            messaging_service_sid=None, api_url=twilio.url, public_url=PUBLIC,
        ),
        telegram=TelegramSettings(token=token, webhook_secret=SECRET, api_url=telegram.url, public_url=PUBLIC),
    )  # fmt: skip


def test_serving_starts_while_telegram_is_down(
    database_url: str, core: Core, clock: SettableClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.web, "TELEGRAM_RETRY_FIRST", 1.0)
    with FakeTwilio(clock=clock.now) as twilio, FakeTelegram() as telegram:
        telegram.fail_next(502, count=1, method="getMe")  # down at start, back a second later
        app = build_app(database_url, core=core, clock=clock, ids=SequentialIds())
        server = build_server(
            app, _channels(twilio, telegram, telegram.token), lease_seconds=30, tick=0.05, sms_timeout=1.0,
            telegram_gap=0.0, spool_dir=tmp_path / "spool",
        )  # fmt: skip
        with LocalServer(server.asgi()) as web:
            stack = Stack(app, server, web, twilio, telegram, clock)
            health = httpx.get(f"{web.url}/healthz", timeout=5)
            assert health.status_code == 200, "SMS and stored messages do not depend on Telegram"
            assert health.json()["telegram"] == "not reached yet (retrying)"

            assert stack.sms(PATIENT_PHONE, "Hi").status_code == 200
            assert stack.update(text_update(1, CHAT, "Hi")).status_code == 200
            stack.settle()
            assert twilio.sent
            assert {s.to for s in twilio.sent} == {PATIENT_PHONE}
            assert telegram.sent, "a send needs no getMe"
            assert {s.chat_id for s in telegram.sent} == {CHAT}

            wait_until(lambda: len(telegram.calls_to("getMe")) == 2, timeout=10)
            wait_until(lambda: httpx.get(f"{web.url}/healthz", timeout=5).json()["telegram"] == "ok", timeout=5)
        app.database.dispose()


def test_a_refused_token_stops_start_up_without_quoting_it(
    database_url: str, core: Core, clock: SettableClock, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "999999:WRONG-token-that-must-not-be-logged"
    with FakeTwilio(clock=clock.now) as twilio, FakeTelegram() as telegram:
        app = build_app(database_url, core=core, clock=clock, ids=SequentialIds())
        server = build_server(app, _channels(twilio, telegram, wrong), tick=0.05, sms_timeout=1.0, telegram_gap=0.0)

        async def start() -> None:
            async with server.lifespan(server.asgi()):
                pass  # pragma: no cover (start-up fails)

        with caplog.at_level(logging.DEBUG), pytest.raises(ConfigError) as refused:
            asyncio.run(start())
        gc.collect()  # an aiohttp session left open says so when collected
        assert str(refused.value) == "Telegram rejected TELEGRAM_BOT_TOKEN"
        assert refused.value.__cause__ is None
        assert refused.value.__suppress_context__
        assert "WRONG-token" not in caplog.text
        assert "Unclosed" not in caplog.text
        app.database.dispose()
