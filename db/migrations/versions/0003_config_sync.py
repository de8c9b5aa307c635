"""The digest of the sources.yaml last synced, so an unchanged file costs no sync.

New table config_sync (one row). A database upgraded to this revision has none, so its next check
syncs as before and writes the row.

Revision ID: 0003_config_sync
Revises: 0002_review_audit_alerts_leases
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_config_sync"
down_revision = "0002_review_audit_alerts_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_sync",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("synced_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("config_sync")
