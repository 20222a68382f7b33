"""Scheduled messages: indexes without the status column, so a sweep that marks 100,000 rows sent does not
move each of them inside two indexes (half the cost of that UPDATE on SQLite).

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    """Apply this revision."""
    op.drop_index("ix_scheduled_due", table_name="scheduled_message")
    op.create_index(
        "ix_scheduled_pending", "scheduled_message", ["due_at"], sqlite_where=PENDING, postgresql_where=PENDING
    )
    op.drop_index("ix_scheduled_participant", table_name="scheduled_message")
    op.create_index("ix_scheduled_participant", "scheduled_message", ["participant_id", "day_number"])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index("ix_scheduled_participant", table_name="scheduled_message")
    op.create_index("ix_scheduled_participant", "scheduled_message", ["participant_id", "status", "day_number"])
    op.drop_index("ix_scheduled_pending", table_name="scheduled_message")
    op.create_index("ix_scheduled_due", "scheduled_message", ["status", "due_at"])
