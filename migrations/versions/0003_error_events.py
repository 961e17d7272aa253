"""error events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 11:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import oracle

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True).with_variant(oracle.TIMESTAMP(timezone=True), "oracle")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "error_events",
        sa.Column("id", ID, sa.Identity(always=False), nullable=False),
        sa.Column("learner_id", ID, nullable=False),
        sa.Column("inbox_id", ID, nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=24), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("wrong", sa.String(length=200), nullable=False),
        sa.Column("correction", sa.String(length=200), nullable=False),
        sa.Column("span_start", sa.Integer(), nullable=False),
        sa.Column("span_end", sa.Integer(), nullable=False),
        sa.Column("sentence", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["inbox.id"], name=op.f("fk_error_events_inbox_id_inbox")
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_error_events_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_error_events")),
    )
    with op.batch_alter_table("error_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_error_events_learner_id_created_at"),
            ["learner_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_error_events_learner_id_rule"), ["learner_id", "rule"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_error_events_learner_id_code"), ["learner_id", "code"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("error_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_error_events_learner_id_code"))
        batch_op.drop_index(batch_op.f("ix_error_events_learner_id_rule"))
        batch_op.drop_index(batch_op.f("ix_error_events_learner_id_created_at"))
    op.drop_table("error_events")
