"""What happens after a message leaves: provider status callbacks, and addresses that refuse us."""

from __future__ import annotations

from datetime import datetime

from bot.clock import Clock
from storage.database import Database
from storage.repositories import Repositories

STATUS_RANK = {"pending": 0, "sending": 0, "sent": 1, "delivered": 2, "failed": 2, "suppressed": 2}


def refuse_address(repos: Repositories, channel: str, address: str, now: datetime) -> None:
    """The provider refuses this address (21610, a blocked bot): stop messaging it and tell staff (SMS-11)."""
    participant_id = repos.participants.mark_unreachable(channel, address, now)
    if participant_id is None:
        return
    participant = repos.participants.get(participant_id)
    if participant.opted_out:
        return  # they said STOP themselves: staff already know, and nothing more is sent
    repos.participants.update(participant_id, now, opted_out_at=now)
    repos.audit.append(
        at=now, actor="system", action="opted_out", participant_id=participant_id,
        old={"opted_out": False}, new={"keyword": f"{channel}_refused"},
        reason="the provider refuses this address",
    )  # fmt: skip
    repos.escalations.open(
        participant_id=participant_id, category="unreachable", severity="normal", at=now, inbound_id=None
    )


def apply_status(
    database: Database, clock: Clock, *, outbox_id: int, channel: str, provider_id: str, provider_status: str,
    status: str, error: str | None = None, unreachable: bool = False,
) -> bool:  # fmt: skip
    """Record a provider's status for one of our rows; never move a row backwards. True if it changed."""
    now = clock.now()
    with database.write() as connection:
        repos = Repositories(connection)
        row = repos.outbox.get(outbox_id)
        if row is None or row.channel != channel:
            return False
        if row.provider_message_id and provider_id and row.provider_message_id != provider_id:
            return False  # a callback about some other message
        if STATUS_RANK.get(status, 0) <= STATUS_RANK.get(row.status, 0) and row.status != "sending":
            return False
        repos.outbox.provider_update(
            outbox_id, now, status=status, provider_status=provider_status, provider_message_id=provider_id,
            error=error,
        )  # fmt: skip
        if unreachable:
            refuse_address(repos, row.channel, row.address, now)
        return True
