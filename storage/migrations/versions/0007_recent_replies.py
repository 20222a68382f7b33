"""Conversations remember the replies sent lately, by digest, so the same reply does not go to one person
more than a few times in half an hour (an auto-responder loop; bot/flood.py hold_repeats). That also holds
back a safety reply repeated in a flood, which `safety_replied_at` (0005) did once per pause: it goes.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "recent_replies",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.drop_column("safety_replied_at")


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("safety_replied_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.drop_column("recent_replies")
