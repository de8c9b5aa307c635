"""A fact-check's failed backfill says so: why it failed, in one line, kept beside the mark that
ended it. A backfill `check` or the daemon ended because it failed for anything but the database
is finished (its sources go back to live checks), and until now looked like one that loaded
everything to `status`, the REST API and the desk. Existing rows have no reason: a backfill
finished before this revision reads as finished, as before.

Revision ID: 0011_backfill_error
Revises: 0010_backfill_marks
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_backfill_error"
down_revision = "0010_backfill_marks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("factcheck") as batch:
        batch.add_column(sa.Column("backfill_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("factcheck") as batch:
        batch.drop_column("backfill_error")
