"""memory: session summaries, memory notes with embeddings, nightly runs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 16:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import oracle, postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True).with_variant(oracle.TIMESTAMP(timezone=True), "oracle")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("summary", DOCUMENT, nullable=True))
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_learners_last_inbound_at"), ["last_inbound_at"])
    op.create_table(
        "memory_notes",
        sa.Column("id", ID, sa.Identity(always=False), nullable=False),
        sa.Column("learner_id", ID, nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("facts", DOCUMENT, nullable=False),
        sa.Column("text", sa.String(length=1000), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("embedder", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("wrong_at", UTC_TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_memory_notes_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memory_notes")),
        sa.UniqueConstraint("learner_id", "key", name=op.f("uq_memory_notes_learner_id_key")),
    )
    op.create_table(
        "memory_runs",
        sa.Column("id", ID, sa.Identity(always=False), nullable=False),
        sa.Column("learner_id", ID, nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("done_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("notes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_memory_runs_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memory_runs")),
        sa.UniqueConstraint("learner_id", "day", name=op.f("uq_memory_runs_learner_id_day")),
    )


def downgrade() -> None:
    op.drop_table("memory_runs")
    op.drop_table("memory_notes")
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learners_last_inbound_at"))
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("summary")
