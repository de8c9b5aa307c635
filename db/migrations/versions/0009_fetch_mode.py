"""Pages that need a browser: how each snapshot was fetched (`http`, or `browser` for a page
rendered in Chromium), so snapshots of one mode are never compared with the other's, and the
response as served beside a rendered snapshot (a blob's sha256), for WARC.

Revision ID: 0009_fetch_mode
Revises: 0005_desk
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_fetch_mode"
down_revision = "0008_archive"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("snapshot") as batch:
        batch.add_column(sa.Column("fetch_mode", sa.String(length=10), nullable=False,
                                   server_default="http"))
        batch.add_column(sa.Column("raw_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("snapshot") as batch:
        batch.drop_column("raw_sha256")
        batch.drop_column("fetch_mode")
