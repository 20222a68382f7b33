"""Pooled aiohttp transports for the provider clients: PTB's `BaseRequest` and twilio's `AsyncHttpClient`.

Why not the clients' defaults: PTB's HTTPXRequest goes through httpcore, whose pool spends ~2.4 ms of CPU
per request when 32 requests are in flight (0.6 ms one at a time); aiohttp spends ~0.1 ms either way.
Twilio's default client is synchronous (requests, ~0.9 ms and a thread per request in flight). Both
libraries are still what builds the requests and reads the answers; only the HTTP underneath changes.

Each transport opens its session on first use, inside the running event loop, and closes it at shutdown.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from twilio.http import AsyncHttpClient
from twilio.http.response import Response as TwilioResponse

log = logging.getLogger(__name__)

FORM = "application/x-www-form-urlencoded"


def never_sent(exc: BaseException | None) -> bool:
    """True when a failed request cannot have reached the provider: no connection was made (refused,
    unresolvable, or none free in the pool or none made in time)."""
    return isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)


def transport_failure(exc: BaseException | None) -> bool:
    """True for a failure of the HTTP exchange itself (as opposed to an answer the provider gave)."""
    return isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError)


def _session(pool_size: int) -> aiohttp.ClientSession:
    # No default timeout here: each request passes its own. Cookies are never wanted from an API.
    connector = aiohttp.TCPConnector(limit=pool_size, limit_per_host=pool_size, enable_cleanup_closed=True)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())


def _seconds(value: object, default: float | None) -> float | None:
    """A timeout PTB passed: a number or None as given, its DEFAULT_NONE marker as our default."""
    return value if value is None or isinstance(value, int | float) else default


class AiohttpRequest(BaseRequest):
    """PTB's request interface over one pooled aiohttp session (for sendMessage and friends)."""

    __slots__ = ("_connect_timeout", "_pool_size", "_read_timeout", "_session")

    def __init__(self, pool_size: int = 32, read_timeout: float = 15.0, connect_timeout: float = 5.0) -> None:
        """At most `pool_size` connections; these timeouts unless a call gives its own."""
        self._pool_size = pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout, in seconds."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session (inside the running loop)."""
        if self._session is None or self._session.closed:
            self._session = _session(self._pool_size)

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """One request: (HTTP status, body). Raises TimedOut or NetworkError, the cause kept."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        if request_data is not None and request_data.contains_files:
            raise NetworkError("file uploads are not used by trialbot")
        body = request_data.url_encoded_parameters() if request_data is not None else None
        connect = _seconds(connect_timeout, self._connect_timeout)
        timeout = aiohttp.ClientTimeout(
            total=None, connect=connect, sock_connect=connect, sock_read=_seconds(read_timeout, self._read_timeout)
        )
        headers = {"User-Agent": self.USER_AGENT, **({"Content-Type": FORM} if body is not None else {})}
        try:
            async with self._session.request(method, url, data=body, headers=headers, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutErrors (connect and read alike)
            raise TimedOut(f"aiohttp.{type(exc).__name__}") from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc


class AiohttpTwilioClient(AsyncHttpClient):
    """twilio's async HTTP interface over one pooled aiohttp session, optionally sent to another root
    (TWILIO_API_URL: a proxy, or a fake in tests). It logs nothing: request parameters hold message bodies."""

    def __init__(
        self, timeout: float, root: str | None = None, pool_size: int = 16, connect_timeout: float = 5.0
    ) -> None:
        """Requests time out after `timeout` seconds; `root` replaces https://api.twilio.com."""
        super().__init__(log, True, timeout)
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._root = urlsplit(root) if root else None
        self._session: aiohttp.ClientSession | None = None

    def _moved(self, url: str) -> str:
        if self._root is None:
            return url
        parts = urlsplit(url)
        prefix = self._root.path.rstrip("/")
        return urlunsplit((self._root.scheme, self._root.netloc, prefix + parts.path, parts.query, parts.fragment))

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        """One request as twilio's client builds it; the answer as twilio's Response."""
        if self._session is None or self._session.closed:
            self._session = _session(self._pool_size)
        sent = dict(headers or {})
        if auth is not None:
            sent["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
        total = timeout if timeout is not None else self.timeout
        # A separate connect limit, so a request that never got a connection is told apart (never_sent).
        connect = self._connect_timeout if total is None else min(self._connect_timeout, total)
        limit = aiohttp.ClientTimeout(total=total, connect=connect, sock_connect=connect)
        async with self._session.request(
            method.upper(), self._moved(uri), params=_flat(params), data=_flat(data), headers=sent,
            timeout=limit, allow_redirects=allow_redirects,
        ) as response:  # fmt: skip
            text = await response.text()
        return TwilioResponse(response.status, text, dict(response.headers))

    async def close(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()


def _flat(values: dict[str, object] | None) -> list[tuple[str, str]] | None:
    """Form or query pairs; a list value repeats its key (as requests encodes it)."""
    if not values:
        return None
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            if item is not None:
                pairs.append((key, str(item)))
    return pairs
