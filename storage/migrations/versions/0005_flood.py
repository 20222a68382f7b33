"""Flood control: how fast each person has been writing, and until when replies are paused (bot/flood.py).

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("burst_started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        # server_default: existing rows start with an empty window.
        batch_op.add_column(sa.Column("burst_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("paused_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("safety_replied_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_column("safety_replied_at")
        batch_op.drop_column("paused_until")
        batch_op.drop_column("burst_count")
        batch_op.drop_column("burst_started_at")
