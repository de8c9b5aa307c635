"""Hosts: where each source's requests go, and each host's next free turn, so workers share
sources across hosts and keep a host's spacing between them.

New column source.host (filled from each source's URL) and new table host.

Revision ID: 0004_hosts
Revises: 0003_config_sync
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.leases import host_of

revision = "0004_hosts"
down_revision = "0003_config_sync"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source") as batch:
        batch.add_column(sa.Column("host", sa.String(length=255), nullable=False,
                                   server_default=""))
        batch.create_index("ix_source_host", ["host"])
    source = sa.table("source", sa.column("id", sa.Integer), sa.column("url", sa.Text),
                      sa.column("host", sa.String))
    conn = op.get_bind()
    rows = conn.execute(sa.select(source.c.id, source.c.url)).all()
    for start in range(0, len(rows), 1000):
        conn.execute(source.update().where(source.c.id == sa.bindparam("b_id"))
                     .values(host=sa.bindparam("b_host")),
                     [{"b_id": i, "b_host": host_of(url)} for i, url in rows[start:start + 1000]])
    op.create_table(
        "host",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("next_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("host")
    with op.batch_alter_table("source") as batch:
        batch.drop_index("ix_source_host")
        batch.drop_column("host")
