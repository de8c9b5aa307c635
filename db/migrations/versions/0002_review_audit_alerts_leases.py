"""Review, the audit log, alerts and leases: everything added since the first release.

New tables review, verdict (a claim's verdict history), audit_event and audit_head (the hash
chain and its one-row head), alert (the outbox). New columns claim.config_verdict,
evidence.accepted_outcome_id, source.lease_owner and source.lease_until. claimwatch_meta goes:
alembic_version now says which schema a database has.

Existing claims get config_verdict = verdict and one verdict row as published (origin
"sources.yaml", dated now: when it was published is not known); the chain starts empty.

Revision ID: 0002_review_audit_alerts_leases
Revises: 0001_spine
Create Date: 2026-11-25
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0002_review_audit_alerts_leases"
down_revision = "0001_spine"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flag_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("reviewer", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("verdict_before", sa.Text(), nullable=True),
        sa.Column("verdict_after", sa.Text(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["flag_id"], ["flag.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("flag_id"),
    )
    verdict = op.create_table(
        "verdict",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claim.id"]),
        sa.ForeignKeyConstraint(["review_id"], ["review.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_verdict_claim_id", "verdict", ["claim_id"])
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("claim", sa.String(length=200), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("seq"),
    )
    op.create_index("ix_audit_event_at", "audit_event", ["at"])
    op.create_index("ix_audit_event_claim", "audit_event", ["claim"])
    op.create_index("ix_audit_event_source", "audit_event", ["source"])
    audit_head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("flag_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("digest_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["flag_id"], ["flag.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_id"),
    )
    op.create_index("ix_alert_flag_id", "alert", ["flag_id"])
    op.create_index("ix_alert_status_due", "alert", ["status", "next_attempt_at"])

    op.add_column("claim", sa.Column("config_verdict", sa.Text(), nullable=True))
    op.add_column("source", sa.Column("lease_owner", sa.String(length=100), nullable=True))
    op.add_column("source", sa.Column("lease_until", sa.DateTime(), nullable=True))
    # evidence → outcome → evidence: a foreign key SQLite can only add by copying the table
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(sa.Column("accepted_outcome_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_evidence_accepted_outcome", "outcome",
                                 ["accepted_outcome_id"], ["id"])

    claim = sa.table("claim", sa.column("id", sa.Integer()), sa.column("verdict", sa.Text()),
                     sa.column("config_verdict", sa.Text()))
    op.execute(claim.update().values(config_verdict=claim.c.verdict))
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    op.execute(verdict.insert().from_select(
        ["claim_id", "verdict", "origin", "at"],
        sa.select(claim.c.id, claim.c.verdict, sa.literal("sources.yaml", sa.String()),
                  sa.literal(now, sa.DateTime())).order_by(claim.c.id)))
    op.bulk_insert(audit_head, [{"id": 1, "seq": 0, "hash": "0" * 64}])
    op.drop_table("claimwatch_meta")


def downgrade() -> None:
    meta = op.create_table(
        "claimwatch_meta",
        sa.Column("key", sa.String(length=50), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.bulk_insert(meta, [{"key": "schema", "value": "1"}])
    with op.batch_alter_table("evidence") as batch:
        batch.drop_constraint("fk_evidence_accepted_outcome", type_="foreignkey")
        batch.drop_column("accepted_outcome_id")
    with op.batch_alter_table("source") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")
    with op.batch_alter_table("claim") as batch:
        batch.drop_column("config_verdict")
    for table in ("alert", "audit_head", "audit_event", "verdict", "review"):
        op.drop_table(table)
