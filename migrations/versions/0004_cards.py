"""spaced-repetition cards and their reviews

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 14:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import oracle, postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True).with_variant(oracle.TIMESTAMP(timezone=True), "oracle")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "cards",
        sa.Column("id", ID, sa.Identity(always=False), nullable=False),
        sa.Column("learner_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("item_key", sa.String(length=160), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("due", UTC_TIMESTAMP, nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("reps", sa.Integer(), nullable=False),
        sa.Column("lapses", sa.Integer(), nullable=False),
        sa.Column("last_review", UTC_TIMESTAMP, nullable=True),
        sa.Column("retired_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("card", DOCUMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_cards_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cards")),
        sa.UniqueConstraint("learner_id", "item_key", name=op.f("uq_cards_learner_id_item_key")),
    )
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cards_learner_id_due"), ["learner_id", "due"])
    op.create_table(
        "card_reviews",
        sa.Column("id", ID, sa.Identity(always=False), nullable=False),
        sa.Column("card_id", ID, nullable=False),
        sa.Column("learner_id", ID, nullable=False),
        sa.Column("reviewed_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("exercise", sa.String(length=16), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("response_ms", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("log", DOCUMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_card_reviews_card_id_cards")
        ),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_card_reviews_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_reviews")),
        sa.UniqueConstraint("request_id", name=op.f("uq_card_reviews_request_id")),
    )
    with op.batch_alter_table("card_reviews", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_card_reviews_learner_id_reviewed_at"), ["learner_id", "reviewed_at"]
        )


def downgrade() -> None:
    with op.batch_alter_table("card_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_card_reviews_learner_id_reviewed_at"))
    op.drop_table("card_reviews")
    with op.batch_alter_table("cards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cards_learner_id_due"))
    op.drop_table("cards")
