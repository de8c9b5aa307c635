"""Versions stored as deltas: a blob may be a zstd frame compressed against another blob (its
base) as a raw-content dictionary (`db.blobs`). Existing blobs are whole bodies: no base,
depth 0, readable as before.

The outcomes of `changes: any` items observed the region's whole text; they now observe its
digest and length (`pipeline.evaluate`), and the upgrade rewrites the stored ones so (the text
is in the snapshot each outcome names). The downgrade leaves them as digests: an older
claimwatch never reads a `changes: any` observation back.

Revision ID: 0006_deltas
Revises: 0005_desk
Create Date: 2026-11-27
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0006_deltas"
down_revision = "0005_desk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("blob", sa.Column("base_sha256", sa.String(length=64), nullable=True))
    op.add_column("blob", sa.Column("depth", sa.Integer(), server_default="0", nullable=False))
    conn = op.get_bind()
    evidence = sa.table("evidence", sa.column("id", sa.Integer), sa.column("expectation", sa.JSON))
    outcome = sa.table("outcome", sa.column("id", sa.Integer), sa.column("evidence_id", sa.Integer),
                       sa.column("observed", sa.JSON))
    items = [i for i, expectation in conn.execute(sa.select(evidence.c.id, evidence.c.expectation))
             if isinstance(expectation, dict) and "changes" in expectation]
    for start in range(0, len(items), 500):
        texts = [(i, observed) for i, observed in conn.execute(
            sa.select(outcome.c.id, outcome.c.observed)
            .where(outcome.c.evidence_id.in_(items[start:start + 500])))
            if isinstance(observed, str)]
        for i, text in texts:
            conn.execute(outcome.update().where(outcome.c.id == i).values(observed={
                "sha256": hashlib.sha256(text.encode()).hexdigest(), "chars": len(text)}))


def downgrade() -> None:
    # a delta cannot be read without its base: store every body whole again first, the
    # shallowest first, so each delta's base is whole by the time it is decoded
    from db import blobs  # noqa: PLC0415 (only a downgrade needs it)

    conn = op.get_bind()
    blob = sa.table("blob", sa.column("sha256", sa.String), sa.column("size", sa.BigInteger),
                    sa.column("data", sa.LargeBinary), sa.column("base_sha256", sa.String),
                    sa.column("depth", sa.Integer))
    for depth in range(1, blobs.CHAIN + 1):
        for sha, size, data, base in conn.execute(
                sa.select(blob.c.sha256, blob.c.size, blob.c.data, blob.c.base_sha256)
                .where(blob.c.depth == depth)).all():
            packed, base_size = conn.execute(sa.select(blob.c.data, blob.c.size)
                                             .where(blob.c.sha256 == base)).one()
            body = blobs.unpack(data, size, blobs.unpack(packed, base_size))
            conn.execute(blob.update().where(blob.c.sha256 == sha).values(
                data=blobs.pack(body), base_sha256=None, depth=0))
    with op.batch_alter_table("blob") as batch:
        batch.drop_column("depth")
        batch.drop_column("base_sha256")
