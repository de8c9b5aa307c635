"""A fact-check's backfill resumes: when a daemon took it and when a backfill of it ended, so
one stopped or killed after its baseline (its items evaluated, no longer "never evaluated") is
still awaiting the rest. Existing rows get neither mark: a fact-check evaluated before this
revision is not awaiting a backfill, as before.

Revision ID: 0010_backfill_marks
Revises: 0009_fetch_mode
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_backfill_marks"
down_revision = "0009_fetch_mode"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("factcheck") as batch:
        batch.add_column(sa.Column("backfill_started_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("backfill_finished_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("factcheck") as batch:
        batch.drop_column("backfill_finished_at")
        batch.drop_column("backfill_started_at")
