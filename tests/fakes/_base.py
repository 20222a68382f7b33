"""What FakeTwilio and FakeTelegram share: a Starlette app on a LocalServer, a lock, and stoppable pauses."""

from __future__ import annotations

import asyncio
import functools
import ssl
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from starlette.applications import Starlette

from tests.fakes.server import LocalServer

T = TypeVar("T")


class FakeService:
    """Base of the fakes: ``start()``/``stop()`` (or ``with``), ``url``, a lock and background threads."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._server: LocalServer | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def _build_app(self) -> Starlette:
        raise NotImplementedError

    @property
    def url(self) -> str:
        """The fake's root, ``http://127.0.0.1:PORT`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._server.url

    def start(self) -> Self:
        """Serve the fake on 127.0.0.1 and a free port."""
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        self._stopping.clear()
        self._server = LocalServer(self._build_app(), lifespan="off", shutdown_timeout=2.0).start()
        return self

    def stop(self) -> None:
        """Cut injected delays and long polls short, finish background callbacks, stop the server."""
        self._stopping.set()
        for thread in self._take_threads():
            thread.join(5)
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _take_threads(self) -> list[threading.Thread]:
        with self._lock:
            threads, self._threads = self._threads, []
        return threads

    def _background(self, target: Callable[..., Any], *args: Any) -> None:
        """Run ``target(*args)`` in a daemon thread that ``stop()`` joins. ``target`` must not raise."""
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    async def _pause(self, seconds: float) -> bool:
        """Sleep in the server loop; returns False early if the fake is stopping."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._stopping.is_set():
                return False
            await asyncio.sleep(min(left, 0.02))
        return True

    def _wait_for(self, read: Callable[[], T], done: Callable[[T], bool], timeout: float, what: str) -> T:
        deadline = time.monotonic() + timeout
        while True:
            value = read()
            if done(value):
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{type(self).__name__}: timed out after {timeout} s waiting for {what}")
            time.sleep(0.01)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def http_post(url: str, content: bytes, headers: dict[str, str], timeout: float) -> httpx.Response:
    """A one-off POST, as a webhook sender makes it (reusing one TLS context: building one costs ~80 ms)."""
    with httpx.Client(verify=_tls_context(), timeout=timeout) as client:
        return client.post(url, content=content, headers=headers)


def delivery_url(public_url: str, deliver_to: str | None) -> str:
    """Where to send a request meant for ``public_url``: ``deliver_to`` as is if it has a path, else
    ``deliver_to`` (a base such as ``http://127.0.0.1:PORT``) plus the public path and query."""
    if deliver_to is None:
        return urlunsplit(urlsplit(public_url)._replace(fragment=""))
    target = urlsplit(deliver_to)
    if target.path not in ("", "/"):
        return deliver_to
    public = urlsplit(public_url)
    return urlunsplit((target.scheme, target.netloc, public.path or "/", public.query, ""))
