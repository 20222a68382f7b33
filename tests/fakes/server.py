"""Serve any ASGI app with uvicorn on 127.0.0.1 in a daemon thread, for tests that need a real socket."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any, Literal, Self

import uvicorn
from starlette.types import ASGIApp


class LocalServer:
    """A uvicorn server for one ASGI app, on 127.0.0.1 and a free port, in a daemon thread.

    ``with LocalServer(app) as server: httpx.get(server.url + "/health")``. The socket is bound before
    the thread starts, so ``port`` and ``url`` are known at once and no other process can take the
    port in between. ``lifespan="on"`` (the default) runs the app's lifespan, so a failing startup
    makes ``start()`` raise; the fakes use ``"off"``. Extra keyword arguments go to ``uvicorn.Config``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        lifespan: Literal["on", "off", "auto"] = "on",
        log_level: str = "warning",
        startup_timeout: float = 10.0,
        shutdown_timeout: float = 5.0,
        **config: Any,
    ) -> None:
        config.setdefault("ws", "none")  # no websocket protocol: nothing to import, nothing to warn
        config.setdefault("timeout_graceful_shutdown", shutdown_timeout)
        self._config = uvicorn.Config(app, host=host, port=port, lifespan=lifespan, log_level=log_level, **config)
        self._server = uvicorn.Server(self._config)
        self._host = host
        self._port = port
        self._startup_timeout = startup_timeout
        self._shutdown_timeout = shutdown_timeout
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        """The bound port (known once started)."""
        if self._socket is None:
            raise RuntimeError("LocalServer is not started")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, without a trailing slash."""
        return f"http://{self._host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the server thread is serving."""
        return self._thread is not None and self._thread.is_alive() and self._server.started

    def start(self) -> Self:
        """Bind, start the thread and wait until uvicorn accepts connections (and the lifespan started)."""
        if self._thread is not None:
            raise RuntimeError("LocalServer can only be started once")
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only then; without it every
        # keep-alive response waits ~40 ms (Nagle against delayed ACK).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        self._socket = sock
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self._port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive():
                sock.close()
                raise RuntimeError(f"server on port {self._port} failed to start") from self._error
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"server on port {self._port} did not start in {self._startup_timeout} s")
            time.sleep(0.005)
        return self

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket] if self._socket else None)
        except BaseException as exc:  # a failed lifespan startup ends in SystemExit; keep it for start()
            self._error = exc

    def stop(self) -> None:
        """Ask uvicorn to exit (finishing open requests for up to ``shutdown_timeout``) and join the thread."""
        if self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(self._shutdown_timeout + 5)
        if self._thread.is_alive():  # pragma: no cover - only when a request hangs past the graceful timeout
            self._server.force_exit = True
            self._thread.join(5)
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
