"""Both fake providers (tests/fakes) on one uvicorn server in the benchmark's own event loop, telling the
load generator the moment each reply is accepted.

The fakes are the project's own FakeTwilio and FakeTelegram, unchanged but for a hook on the accepted
send (`sendMessage` answered 200, `Messages.json` create answered 201). Serving them in the load
generator's loop (not in threads) means no cross-thread hand-off between "reply accepted" and the
waiting patient, so the time recorded is the time the provider accepted the reply.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import defaultdict
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Mount

from tests.fakes import FakeTelegram, FakeTwilio


class ReplyHub:
    """Counts accepted replies per recipient ("sms:+1555...", "telegram:700001") and wakes whoever waits."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = defaultdict(int)
        self.last_text: dict[str, str] = {}
        self.last_at: dict[str, float] = {}
        self.total = 0
        self._waiters: dict[str, list[tuple[int, asyncio.Future[float]]]] = defaultdict(list)

    def record(self, key: str, text: str) -> None:
        """A reply to `key` was accepted now."""
        now = time.perf_counter()
        self.counts[key] += 1
        self.total += 1
        self.last_text[key] = text
        self.last_at[key] = now
        waiting = self._waiters.get(key)
        if not waiting:
            return
        count = self.counts[key]
        still = []
        for target, future in waiting:
            if count >= target:
                if not future.done():
                    future.set_result(now)
            else:
                still.append((target, future))
        self._waiters[key] = still

    async def wait(self, key: str, count: int, timeout: float) -> float | None:
        """Wait until `key` has `count` replies; the perf_counter time of the last one, or None on timeout."""
        if self.counts[key] >= count:
            return self.last_at[key]
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters[key].append((count, future))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None

    def reset(self) -> None:
        """Forget everything (between runs)."""
        self.counts.clear()
        self.last_text.clear()
        self.last_at.clear()
        self._waiters.clear()
        self.total = 0


class HubTelegram(FakeTelegram):
    """FakeTelegram that reports each accepted sendMessage to a hub."""

    def __init__(self, hub: ReplyHub, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hub = hub
        self.require_https_webhook = False

    def _send_message(self, params: dict[str, Any]) -> Response:
        response = super()._send_message(params)
        if response.status_code == 200:
            self.hub.record(f"telegram:{params.get('chat_id')}", str(params.get("text")))
        return response


class HubTwilio(FakeTwilio):
    """FakeTwilio that reports each accepted message create to a hub."""

    def __init__(self, hub: ReplyHub, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hub = hub

    def _accept(self, form: dict[str, str], pairs: list[tuple[str, str]]) -> Response:
        response = super()._accept(form, pairs)
        if response.status_code == 201:
            self.hub.record(f"sms:{form.get('To')}", form.get("Body", ""))
        return response


class Providers:
    """Fake Twilio under /twilio and fake Telegram under /tg of one server on 127.0.0.1, in this loop."""

    def __init__(self) -> None:
        self.hub = ReplyHub()
        self.telegram = HubTelegram(self.hub)
        self.twilio = HubTwilio(self.hub)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The server's root."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def twilio_url(self) -> str:
        """TWILIO_API_URL for trialbot."""
        return f"{self.url}/twilio"

    @property
    def telegram_url(self) -> str:
        """TELEGRAM_API_URL for trialbot (PTB appends /bot<token>/<method>)."""
        return f"{self.url}/tg"

    async def start(self) -> None:
        """Serve both fakes."""
        app = Starlette(
            routes=[Mount("/twilio", app=self.twilio._build_app()), Mount("/tg", app=self.telegram._build_app())]
        )
        # IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then (see tests/fakes/server.py).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, lifespan="off", log_level="error", ws="none", backlog=2048, timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop serving."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._task, 10)

    def forget(self) -> None:
        """Drop what the fakes recorded (sent messages, calls) so a long run does not grow them."""
        self.telegram.reset()
        self.telegram.require_https_webhook = False
        self.twilio.reset()
        self.hub.reset()
