"""Escalations count the later messages about the same worry that joined them, so alerts can say so.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("escalation", schema=None) as batch_op:
        # server_default: escalations opened before this revision have none counted.
        batch_op.add_column(sa.Column("joined_messages", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("escalation", schema=None) as batch_op:
        batch_op.drop_column("joined_messages")
