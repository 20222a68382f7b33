"""The terminal channel: a patient's chat in a terminal, through the same pipeline and database.

Interactive in a terminal; with piped stdin it reads one patient message per line and prints the
replies, so a conversation can be scripted.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import TextIO

from bot.bootstrap import App
from bot.dispatcher import Accepted, Dispatcher, SendResult
from bot.domain import InboundMessage
from storage.repositories import OutboxRow

CHANNEL = "console"
QUIT = frozenset({"/quit", "/exit"})


@dataclass
class ConsoleSender:
    """Prints outbox rows to a stream, as the patient's phone would show them."""

    out: TextIO
    interactive: bool
    name: str
    channel: str = CHANNEL
    can_reconcile: bool = False

    async def send(self, row: OutboxRow) -> SendResult:
        """Print one message."""
        if self.interactive:
            lines = row.body.splitlines() or [""]
            self.out.write(f"\n{self.name}: {lines[0]}\n")
            for line in lines[1:]:
                self.out.write(f"{' ' * (len(self.name) + 2)}{line}\n")
        else:
            self.out.write(row.body + "\n")
        self.out.flush()
        return Accepted(f"console-{row.id}")

    async def reconcile(self, row: OutboxRow) -> str | None:
        """A terminal cannot tell what it printed before a crash."""
        return None


def run_chat(app: App, address: str, locale: str | None, stdin: TextIO, stdout: TextIO, interactive: bool) -> int:
    """Chat as the participant at `console:<address>` until end of input or /quit."""
    name = app.study.study.name
    sender = ConsoleSender(stdout, interactive, name)
    dispatcher = Dispatcher(app.database, {CHANNEL: sender}, app.clock)
    if interactive:
        stdout.write(
            f"{name}: chatting as {CHANNEL}:{address} on {app.database.describe()}\n"
            "Type what a patient would text (try: Hi, HELP, STOP, LANGUAGE). /quit to leave.\n"
        )
    # Anything left from an earlier session that crashed is sent first.
    asyncio.run(dispatcher.dispatch([CHANNEL]))
    while True:
        if interactive:
            stdout.write("\nyou> ")
            stdout.flush()
        line = stdin.readline()
        if not line:
            break
        text = line.rstrip("\r\n")
        if text.strip() in QUIT:
            break
        message = InboundMessage(
            channel=CHANNEL,
            address=address,
            text=text,
            provider_message_id=uuid.uuid4().hex,
            received_at=app.clock.now(),
            locale_hint=locale,
        )
        receipt, _ = app.service.handle(message)
        asyncio.run(dispatcher.dispatch([CHANNEL], participant_id=receipt.participant_id))
    if interactive:
        stdout.write("\nBye.\n")
    return 0
