"""classes: curricula written in the web app, cohorts with their members, and assignments

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 03:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import oracle, postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True).with_variant(oracle.TIMESTAMP(timezone=True), "oracle")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "curricula",
        sa.Column("id", ID, sa.Identity(always=False), nullable=False),
        sa.Column("curriculum_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("target_language", sa.String(length=8), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("published_at", UTC_TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_curricula_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_curricula")),
        sa.UniqueConstraint(
            "curriculum_id", "version", name=op.f("uq_curricula_curriculum_id_version")
        ),
    )
    op.create_table(
        "cohorts",
        sa.Column("id", ID, sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("join_code", sa.String(length=16), nullable=False),
        sa.Column("teacher_id", ID, nullable=False),
        sa.Column("curriculum", sa.String(length=80), nullable=True),
        sa.Column("weekly_goal", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("archived_at", UTC_TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["teacher_id"], ["users.id"], name=op.f("fk_cohorts_teacher_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohorts")),
        sa.UniqueConstraint("join_code", name=op.f("uq_cohorts_join_code")),
    )
    with op.batch_alter_table("cohorts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cohorts_teacher_id"), ["teacher_id"], unique=False)
    op.create_table(
        "cohort_members",
        sa.Column("id", ID, sa.Identity(always=False), nullable=False),
        sa.Column("cohort_id", ID, nullable=False),
        sa.Column("learner_id", ID, nullable=False),
        sa.Column("joined_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohorts.id"], name=op.f("fk_cohort_members_cohort_id_cohorts")
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_cohort_members_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cohort_members")),
        sa.UniqueConstraint("learner_id", name=op.f("uq_cohort_members_learner_id")),
    )
    with op.batch_alter_table("cohort_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cohort_members_cohort_id"), ["cohort_id"], unique=False
        )
    op.create_table(
        "assignments",
        sa.Column("id", ID, sa.Identity(always=False), nullable=False),
        sa.Column("cohort_id", ID, nullable=False),
        sa.Column("sent_by", ID, nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("outcome", DOCUMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohorts.id"], name=op.f("fk_assignments_cohort_id_cohorts")
        ),
        sa.ForeignKeyConstraint(
            ["sent_by"], ["users.id"], name=op.f("fk_assignments_sent_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
    )
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_assignments_cohort_id_created_at"),
            ["cohort_id", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assignments_cohort_id_created_at"))
    op.drop_table("assignments")
    with op.batch_alter_table("cohort_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cohort_members_cohort_id"))
    op.drop_table("cohort_members")
    with op.batch_alter_table("cohorts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cohorts_teacher_id"))
    op.drop_table("cohorts")
    op.drop_table("curricula")
