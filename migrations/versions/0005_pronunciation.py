"""pronunciation attempts: transcripts and scores, never audio

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import oracle, postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True).with_variant(oracle.TIMESTAMP(timezone=True), "oracle")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "pronunciation_attempts",
        sa.Column("id", ID, sa.Identity(always=False), nullable=False),
        sa.Column("learner_id", ID, nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("drill_id", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("transcript", sa.String(length=1000), nullable=False),
        sa.Column("accuracy", sa.Integer(), nullable=False),
        sa.Column("completeness", sa.Integer(), nullable=False),
        sa.Column("fluency", sa.Integer(), nullable=False),
        sa.Column("words", DOCUMENT, nullable=False),
        sa.Column("sounds", DOCUMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"],
            ["learners.id"],
            name=op.f("fk_pronunciation_attempts_learner_id_learners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pronunciation_attempts")),
    )
    with op.batch_alter_table("pronunciation_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pronunciation_attempts_learner_id_created_at"),
            ["learner_id", "created_at"],
        )


def downgrade() -> None:
    with op.batch_alter_table("pronunciation_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pronunciation_attempts_learner_id_created_at"))
    op.drop_table("pronunciation_attempts")
