"""The public archive: one row per new snapshot submitted to the Internet Archive's Save Page
Now (its job, status, archived URL and capture time), written with the snapshot.

Revision ID: 0008_archive
Revises: 0005_desk
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_archive"
down_revision = "0007_archived"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("job_id", sa.String(length=100), nullable=True),
        sa.Column("archived_url", sa.Text(), nullable=True),
        sa.Column("captured_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("tried_at", sa.DateTime(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["snapshot_id"], ["snapshot.id"]),
        sa.ForeignKeyConstraint(["source_id"], ["source.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("snapshot_id"),
    )
    op.create_index("ix_archive_status_due", "archive", ["status", "next_attempt_at"])
    op.create_index("ix_archive_source_id", "archive", ["source_id"])
    op.create_index("ix_archive_tried_at", "archive", ["tried_at"])
    op.create_index("ix_archive_submitted_at", "archive", ["submitted_at"])


def downgrade() -> None:
    op.drop_index("ix_archive_submitted_at", table_name="archive")
    op.drop_index("ix_archive_tried_at", table_name="archive")
    op.drop_index("ix_archive_source_id", table_name="archive")
    op.drop_index("ix_archive_status_due", table_name="archive")
    op.drop_table("archive")
