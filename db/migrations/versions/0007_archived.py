"""Since publication: a fact-check's publication day, and snapshots loaded by `backfill` from
where versions are kept (an archive, a directory of dated copies, a WARC), marked archived with
the time they were loaded and the archive's address (the capture time is `fetched_at`).

Revision ID: 0007_archived
Revises: 0006_deltas
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_archived"
down_revision = "0006_deltas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("factcheck") as batch:
        batch.add_column(sa.Column("published", sa.Date(), nullable=True))
    with op.batch_alter_table("snapshot") as batch:
        batch.add_column(sa.Column("archived_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("archive_url", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("snapshot") as batch:
        batch.drop_column("archive_url")
        batch.drop_column("archived_at")
    with op.batch_alter_table("factcheck") as batch:
        batch.drop_column("published")
