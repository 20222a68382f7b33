"""A disk spool for inbound messages the database cannot take right now: spool, don't fail (RELIABILITY §2).

A webhook whose signature passed is answered 200 only once its message is durable. When the database is
locked past its busy timeout or unreachable, the message goes to a file here instead (written, synced,
renamed into place), and the answer is still 200: Twilio does not retry a 5xx by default, so refusing
would lose the message. A flusher stores spooled messages in the order they came, once the database is
back; a message already stored (the provider retried it meanwhile) is recognised by its provider id, so
nothing is stored twice. While anything is spooled, new messages join the queue behind it, so one
person's messages are never taken out of order.

Spooled files hold what patients wrote, like the database does: they are readable by this user only and
deleted as soon as the database has them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bot.domain import InboundMessage
from storage.database import UNAVAILABLE

log = logging.getLogger(__name__)

_SUFFIX = ".json"


def default_spool_dir(database_url: str) -> Path:
    """Next to a SQLite database file (`trialbot.db` spools to `trialbot.db-spool/`); else ./trialbot-spool."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(f"{url.database}-spool")
    return Path("trialbot-spool")


def _digest(message: InboundMessage) -> str:
    """The same provider message always has the same name in the spool."""
    return hashlib.sha256(f"{message.channel}|{message.provider_message_id}".encode()).hexdigest()[:24]


def _digest_of(path: Path) -> str:
    """The provider-message digest in a spool file's name (`<arrival>-<digest>.json`)."""
    return path.stem.rpartition("-")[2]


def _to_json(message: InboundMessage) -> bytes:
    data = asdict(message)
    data["received_at"] = message.received_at.isoformat()
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def _from_json(raw: bytes) -> InboundMessage:
    data: dict[str, Any] = json.loads(raw.decode("utf-8"))
    data["received_at"] = datetime.fromisoformat(data["received_at"])
    return InboundMessage(**data)


class Spool:
    """Messages waiting on disk for the database, oldest first."""

    def __init__(self, directory: Path) -> None:
        """Spool into `directory` (made on first use, readable by this user only)."""
        self.directory = directory
        self._lock = threading.Lock()  # one writer of names at a time in this process
        self._last = 0
        self._digests: set[str] | None = None  # what waits here, by provider message (read on first use)

    def _ensure(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def waiting(self) -> list[Path]:
        """The spooled messages, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if p.suffix == _SUFFIX and p.is_file())

    def __len__(self) -> int:
        """How many messages wait."""
        return len(self.waiting())

    def put(self, message: InboundMessage) -> bool:
        """Write a message durably; False if the same provider message is spooled already."""
        digest = _digest(message)
        with self._lock:
            self._ensure()
            if self._digests is None:  # a set, not a directory search per message: a long outage spools many
                self._digests = {_digest_of(path) for path in self.waiting()}
            if digest in self._digests:
                return False
            # Names sort in arrival order: a nanosecond clock that never repeats or goes back here.
            self._last = max(time.time_ns(), self._last + 1)
            final = self.directory / f"{self._last:020d}-{digest}{_SUFFIX}"
            partial = final.with_suffix(".part")
            with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as file:
                file.write(_to_json(message))
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, final)
            self._sync_directory()
            self._digests.add(digest)
        log.warning("database unavailable: a %s message was spooled to disk", message.channel)
        return True

    def _sync_directory(self) -> None:
        """Make the rename itself durable (a crash could otherwise forget the new name)."""
        descriptor = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def flush(self, store: Callable[[InboundMessage], int | None]) -> list[int]:
        """Store spooled messages, oldest first, with `store` (which returns the participant id, or None when
        there is no turn to take: a staff command), until the database refuses again. Returns the
        participants whose messages were stored, for their turns."""
        stored: list[int] = []
        self._forget_torn_writes()
        for path in self.waiting():
            try:
                message = _from_json(path.read_bytes())
            except (OSError, ValueError, TypeError, KeyError) as exc:
                self._set_aside(path, exc)
                continue
            try:
                participant_id = store(message)
            except UNAVAILABLE:
                break  # still locked or down: the rest waits, in order, for the next try
            except Exception as exc:  # this message cannot be stored at all: keep it for a person, go on
                log.exception("a spooled message could not be stored")
                self._set_aside(path, exc)
                continue
            if participant_id is not None:
                stored.append(participant_id)
            path.unlink(missing_ok=True)
            self._forget(path)
        if stored:
            log.warning("%d spooled messages stored in the database", len(stored))
        return list(dict.fromkeys(stored))

    def _forget(self, path: Path) -> None:
        with self._lock:
            if self._digests is not None:
                self._digests.discard(_digest_of(path))

    def _forget_torn_writes(self, older_than: float = 60.0) -> None:
        """A `.part` file is a write that never finished: its webhook was never answered 200, so the
        provider sends the message again. Old ones are removed."""
        if not self.directory.is_dir():
            return
        cutoff = time.time() - older_than
        for partial in self.directory.glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                if partial.stat().st_mtime < cutoff:
                    partial.unlink()

    def _set_aside(self, path: Path, exc: Exception) -> None:
        """A file that cannot be read is kept for a person to look at, out of the queue, never dropped."""
        bad = self.directory / "unreadable"
        bad.mkdir(mode=0o700, exist_ok=True)
        os.replace(path, bad / path.name)
        self._forget(path)
        log.error("spooled file %s cannot be read (%s); moved to %s", path.name, type(exc).__name__, bad)
