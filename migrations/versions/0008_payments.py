"""payments: entitlements, payment events applied once, usage metering, payment links,
reconciliation runs

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 23:28:06.074753
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import oracle, postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True).with_variant(oracle.TIMESTAMP(timezone=True), "oracle")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "payment_links",
        sa.Column("id", ID, sa.Identity(always=False), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("plan", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("price_ref", sa.String(length=191), nullable=False),
        sa.Column("link_ref", sa.String(length=191), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_links")),
        sa.UniqueConstraint(
            "provider",
            "plan",
            "fingerprint",
            name=op.f("uq_payment_links_provider_plan_fingerprint"),
        ),
    )
    op.create_table(
        "payment_reconciliations",
        sa.Column("id", ID, sa.Identity(always=False), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("ran_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("checked", sa.Integer(), nullable=False),
        sa.Column("drift", DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_reconciliations")),
    )
    op.create_table(
        "entitlements",
        sa.Column("id", ID, sa.Identity(always=False), nullable=False),
        sa.Column("learner_id", ID, nullable=False),
        sa.Column("reference", sa.String(length=40), nullable=False),
        sa.Column("plan", sa.String(length=32), nullable=False),
        sa.Column("rail", sa.String(length=16), nullable=True),
        sa.Column("subscription_active", sa.Boolean(), nullable=False),
        sa.Column("subscription_ref", sa.String(length=191), nullable=True),
        sa.Column("customer_ref", sa.String(length=191), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("next_payment_date", UTC_TIMESTAMP, nullable=True),
        sa.Column("lessons_remaining", sa.Integer(), nullable=False),
        sa.Column("lesson_open_until", UTC_TIMESTAMP, nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_entitlements_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entitlements")),
        sa.UniqueConstraint("learner_id", name=op.f("uq_entitlements_learner_id")),
        sa.UniqueConstraint("reference", name=op.f("uq_entitlements_reference")),
    )
    with op.batch_alter_table("entitlements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_entitlements_subscription_ref"), ["subscription_ref"], unique=False
        )

    op.create_table(
        "payment_events",
        sa.Column("id", ID, sa.Identity(always=False), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=191), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("learner_id", ID, nullable=True),
        sa.Column("plan", sa.String(length=32), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("object_ref", sa.String(length=191), nullable=True),
        sa.Column("subscription_ref", sa.String(length=191), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("received_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("data", DOCUMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_payment_events_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
        sa.UniqueConstraint(
            "provider", "event_id", name=op.f("uq_payment_events_provider_event_id")
        ),
    )
    with op.batch_alter_table("payment_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_events_learner_id_received_at"),
            ["learner_id", "received_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_payment_events_object_ref"), ["object_ref"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_payment_events_subscription_ref"), ["subscription_ref"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_payment_events_status_received_at"),
            ["status", "received_at"],
            unique=False,
        )

    op.create_table(
        "usage_events",
        sa.Column("id", ID, sa.Identity(always=False), nullable=False),
        sa.Column("learner_id", ID, nullable=False),
        sa.Column("feature", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("paid_by", sa.String(length=16), nullable=False),
        sa.Column("used_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_usage_events_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
        sa.UniqueConstraint(
            "learner_id",
            "feature",
            "source",
            name=op.f("uq_usage_events_learner_id_feature_source"),
        ),
    )
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_usage_events_learner_id_feature_used_at"),
            ["learner_id", "feature", "used_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_events_learner_id_feature_used_at"))

    op.drop_table("usage_events")
    with op.batch_alter_table("payment_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_events_status_received_at"))
        batch_op.drop_index(batch_op.f("ix_payment_events_subscription_ref"))
        batch_op.drop_index(batch_op.f("ix_payment_events_object_ref"))
        batch_op.drop_index(batch_op.f("ix_payment_events_learner_id_received_at"))

    op.drop_table("payment_events")
    with op.batch_alter_table("entitlements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entitlements_subscription_ref"))

    op.drop_table("entitlements")
    op.drop_table("payment_reconciliations")
    op.drop_table("payment_links")
