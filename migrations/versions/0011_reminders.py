"""reminders: when each learner's next reminder is due, blocked learners, and every
reminder decided (sent or skipped, with why)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 04:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import oracle

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True).with_variant(oracle.TIMESTAMP(timezone=True), "oracle")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inactive_at", UTC_TIMESTAMP, nullable=True))
        batch_op.add_column(sa.Column("next_reminder_at", UTC_TIMESTAMP, nullable=True))
        batch_op.create_index(
            batch_op.f("ix_learners_next_reminder_at"), ["next_reminder_at"], unique=False
        )
    op.create_table(
        "reminders",
        sa.Column("id", ID, sa.Identity(always=False), nullable=False),
        sa.Column("learner_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("slot", sa.String(length=40), nullable=False),
        sa.Column("scheduled_for", UTC_TIMESTAMP, nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("outbox_id", ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_reminders_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.UniqueConstraint(
            "learner_id", "kind", "slot", name=op.f("uq_reminders_learner_id_kind_slot")
        ),
    )
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reminders_learner_id_created_at"),
            ["learner_id", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminders_learner_id_created_at"))
    op.drop_table("reminders")
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_learners_next_reminder_at"))
        batch_op.drop_column("next_reminder_at")
        batch_op.drop_column("inactive_at")
