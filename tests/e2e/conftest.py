"""The whole stack for channel tests: the real app on uvicorn, fake Twilio and Telegram servers, a real database."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.bootstrap import App, Core, build_app, build_server
from bot.clock import SettableClock
from bot.config import ChannelSettings, TelegramSettings, TwilioSettings
from bot.ids import SequentialIds
from bot.web import Server
from storage.repositories import Repositories, inbound_t, outbox_t
from tests.fakes import FakeTelegram, FakeTwilio, LocalServer, inbound_sms_params, post_signed

PUBLIC = "https://trialbot.example.org"
OUR_NUMBER = "+15550100199"
SECRET = "s3cret_Token-for-tests_0123456789"


@dataclass
class Stack:
    """A running trialbot and its fake providers, with helpers to talk to it like the providers do."""

    app: App
    server: Server
    web: LocalServer
    twilio: FakeTwilio
    telegram: FakeTelegram
    clock: SettableClock

    # -- sending in --------------------------------------------------------------------------

    def sms(self, sender: str, body: str, sid: str | None = None, **kwargs: Any) -> httpx.Response:
        """Post an inbound SMS, signed as Twilio signs it."""
        params = inbound_sms_params(
            sender, OUR_NUMBER, body, message_sid=sid, account_sid=self.twilio.account_sid, **kwargs
        )
        return post_signed(f"{PUBLIC}/twilio/sms", self.web.url, params, self.twilio.auth_token)

    def update(self, update: dict[str, Any], secret: str | None = SECRET) -> httpx.Response:
        """Post a Telegram update to the webhook, with the secret header."""
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        return httpx.post(f"{self.web.url}/telegram/webhook", json=update, headers=headers, timeout=10)

    # -- waiting -----------------------------------------------------------------------------

    def counts(self) -> tuple[int, int]:
        """(inbound messages waiting, outbox rows not settled)."""
        with self.app.database.read() as connection:
            waiting = connection.execute(
                select(func.count()).select_from(inbound_t).where(inbound_t.c.status == "pending")
            ).scalar_one()
            unsent = connection.execute(
                select(func.count())
                .select_from(outbox_t)
                .where(outbox_t.c.status.in_(["pending", "sending"]), outbox_t.c.next_attempt_at <= self.clock.now())
            ).scalar_one()
        return int(waiting), int(unsent)

    def settle(self, timeout: float = 15.0) -> None:
        """Wait until every stored message is acted on and every due outbox row is sent or failed."""
        wait_until(lambda: self.counts() == (0, 0), timeout, lambda: f"still waiting: {self.counts()}")

    def advance(self, seconds: float) -> None:
        """Move the clock, so retries fall due, and wake the dispatcher's next tick."""
        from datetime import timedelta

        self.clock.advance(timedelta(seconds=seconds))

    def outbox(self) -> list[Any]:
        """Every outbox row, oldest first."""
        with self.app.database.read() as connection:
            return list(connection.execute(select(outbox_t).order_by(outbox_t.c.id)))

    def participant(self, channel: str, address: str) -> Any:
        """A participant by address."""
        with self.app.database.read() as connection:
            return Repositories(connection).participants.by_address(channel, address)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, describe: Callable[[], str] | None = None) -> None:
    """Poll a condition until it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(describe() if describe else "condition not met in time")


@pytest.fixture
def stack(database_url: str, core: Core, clock: SettableClock, tmp_path: Path) -> Iterator[Stack]:
    """trialbot served on 127.0.0.1 with both channels on, talking to fake Twilio and Telegram."""
    with FakeTwilio(clock=clock.now) as twilio, FakeTelegram() as telegram:
        channels = ChannelSettings(
            twilio=TwilioSettings(
                account_sid=twilio.account_sid, auth_token=twilio.auth_token, from_number=OUR_NUMBER,
                messaging_service_sid=None, api_url=twilio.url, public_url=PUBLIC,
            ),
            telegram=TelegramSettings(token=telegram.token, webhook_secret=SECRET, api_url=telegram.url, public_url=PUBLIC),
        )  # fmt: skip
        app = build_app(database_url, core=core, clock=clock, ids=SequentialIds())
        server = build_server(
            app, channels, lease_seconds=30, tick=0.05, sms_timeout=1.0, telegram_gap=0.0, spool_dir=tmp_path / "spool"
        )
        with LocalServer(server.asgi()) as web:
            yield Stack(app, server, web, twilio, telegram, clock)
        app.database.dispose()
