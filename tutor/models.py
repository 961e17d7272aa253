"""SQL tables: learners, inbox, outbox, conversations, turns, dead letters, leases, LLM calls,
error events, spaced-repetition cards with their reviews, and pronunciation attempts (scores and
transcripts only: never audio), payments, and the staff of the web app with their audit log.

One schema for SQLite, PostgreSQL and Oracle: JSON columns are native JSON on
Oracle 21c+ (SQLAlchemy 2.1), JSONB on PostgreSQL and JSON text on SQLite;
timestamps are always timezone-aware UTC in Python.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import oracle
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; always hands back an aware UTC datetime (SQLite and Oracle drop the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "oracle":
            # Oracle's DateTime is DATE: whole seconds and no zone.
            return dialect.type_descriptor(oracle.TIMESTAMP(timezone=True))
        return dialect.type_descriptor(self.impl_instance)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONDocument = JSON().with_variant(JSONB(), "postgresql")
Id = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _id() -> Column[Any]:
    return Column("id", Id, Identity(), primary_key=True)


learners = Table(
    "learners",
    metadata,
    _id(),
    Column("key", String(160), nullable=False, unique=True),
    Column("channel", String(16), nullable=False),
    Column("chat_id", String(160), nullable=False),
    Column("profile", JSONDocument, nullable=False),
    Column("state", JSONDocument, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("last_inbound_at", UTCDateTime()),
    # The channel refused us for good (a blocked bot): nothing is scheduled for them.
    Column("inactive_at", UTCDateTime()),
    # When their next practice reminder is due (tutor/reminders.py); None: no reminders.
    Column("next_reminder_at", UTCDateTime()),
    Index(None, "last_inbound_at"),  # the nightly memory job's learners of the day
    Index(None, "next_reminder_at"),  # the reminder job's learners of the minute
)

inbox = Table(
    "inbox",
    metadata,
    _id(),
    Column("channel", String(16), nullable=False),
    Column("provider_message_id", String(191), nullable=False),
    Column("learner_key", String(160), nullable=False),
    Column("status", String(16), nullable=False),  # pending | done | failed
    Column("attempts", Integer, nullable=False),
    Column("message", JSONDocument, nullable=False),
    Column("raw", JSONDocument),
    Column("correlation_id", String(32), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("processed_at", UTCDateTime()),
    Column("error", Text),
    UniqueConstraint("channel", "provider_message_id"),
    Index(None, "learner_key", "status", "id"),
    Index(None, "status", "received_at"),
)

outbox = Table(
    "outbox",
    metadata,
    _id(),
    Column("inbox_id", Id, ForeignKey("inbox.id")),
    Column("learner_key", String(160), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("chat_id", String(160), nullable=False),
    Column("reply", JSONDocument, nullable=False),
    # pending | sent | dead | skipped (free-form text outside WhatsApp's 24-hour window)
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("provider_message_ids", JSONDocument),
    Column("correlation_id", String(32), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    Column("error", Text),
    Index(None, "learner_key", "status", "id"),
    Index(None, "status", "next_attempt_at"),
)

conversations = Table(
    "conversations",
    metadata,
    _id(),
    Column("learner_id", Id, ForeignKey("learners.id"), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("last_turn_at", UTCDateTime(), nullable=False),
    Column("closed_at", UTCDateTime()),
    Column("document", JSONDocument, nullable=False),
    # memory.sessions: the open session's compressed earlier turns, then the closed
    # session's summary ("learned X, struggled with Y"); read without the turns.
    Column("summary", JSONDocument),
    Index(None, "learner_id", "started_at"),
)

turns = Table(
    "turns",
    metadata,
    _id(),
    Column("learner_id", Id, ForeignKey("learners.id"), nullable=False),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False),
    Column("inbox_id", Id, ForeignKey("inbox.id"), unique=True),
    Column("agent", String(32), nullable=False),
    Column("inbound", JSONDocument, nullable=False),
    Column("reply", JSONDocument, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(None, "learner_id", "id"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    _id(),
    Column("source", String(16), nullable=False),  # inbox | outbox
    Column("ref_id", Id, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("learner_key", String(160), nullable=False),
    Column("error", Text, nullable=False),
    Column("correlation_id", String(32), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("source", "ref_id"),
)

learner_leases = Table(
    "learner_leases",
    metadata,
    Column("learner_key", String(160), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

llm_calls = Table(
    "llm_calls",
    metadata,
    _id(),
    Column("created_at", UTCDateTime(), nullable=False),
    # One id per provider call (or cache hit): a retried turn never records a call twice.
    Column("request_id", String(64), nullable=False, unique=True),
    Column("learner_key", String(160)),  # None for system work (nightly summaries)
    Column("agent", String(32), nullable=False),
    Column("task", String(16), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("model", String(128), nullable=False),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    # Floats in Python: SQLite has no decimal type, and cents of a cent need no Decimal.
    Column("cost_usd", Numeric(12, 6, asdecimal=False), nullable=False),
    Column("latency_ms", Integer, nullable=False),
    Column("cache", String(16), nullable=False),  # none | exact | semantic
    Column("outcome", String(64), nullable=False),  # ok | an error class name
    Index(None, "created_at"),
    Index(None, "learner_key", "created_at"),
    Index(None, "provider", "created_at"),
)

error_events = Table(
    "error_events",
    metadata,
    _id(),
    Column("learner_id", Id, ForeignKey("learners.id"), nullable=False),
    Column("inbox_id", Id, ForeignKey("inbox.id")),  # None for work outside a turn
    Column("created_at", UTCDateTime(), nullable=False),
    Column("code", String(16), nullable=False),  # taxonomy: GENDER | SER_ESTAR | PREP | ...
    Column("category", String(24), nullable=False),  # finer: gender_agreement, por_para, ...
    Column("rule", String(64), nullable=False),  # grammar point id or built-in check id
    Column("source", String(16), nullable=False),  # rules | model | scorer
    Column("wrong", String(200), nullable=False),
    Column("correction", String(200), nullable=False),
    Column("span_start", Integer, nullable=False),
    Column("span_end", Integer, nullable=False),
    Column("sentence", String(500), nullable=False),  # the learner's text around it, for reviews
    Index(None, "learner_id", "created_at"),
    Index(None, "learner_id", "rule"),
    Index(None, "learner_id", "code"),
)

cards = Table(
    "cards",
    metadata,
    _id(),
    Column("learner_id", Id, ForeignKey("learners.id"), nullable=False),
    Column("kind", String(8), nullable=False),  # word | error
    Column("item_key", String(160), nullable=False),  # "es-for-en@1:cuchara", "error:es-ser-estar"
    Column("created_at", UTCDateTime(), nullable=False),
    Column("due", UTCDateTime(), nullable=False),
    Column("state", Integer, nullable=False),  # fsrs State: 1 learning, 2 review, 3 relearning
    Column("reps", Integer, nullable=False),
    Column("lapses", Integer, nullable=False),
    Column("last_review", UTCDateTime()),
    Column("retired_at", UTCDateTime()),  # disputed or removed: never due again
    Column("card", JSONDocument, nullable=False),  # fsrs Card.to_dict()
    UniqueConstraint("learner_id", "item_key"),
    Index(None, "learner_id", "due"),
)

card_reviews = Table(
    "card_reviews",
    metadata,
    _id(),
    Column("card_id", Id, ForeignKey("cards.id"), nullable=False),
    Column("learner_id", Id, ForeignKey("learners.id"), nullable=False),
    Column("reviewed_at", UTCDateTime(), nullable=False),
    Column("exercise", String(16), nullable=False),  # translate | meaning | cloze | choice
    Column("verdict", String(16), nullable=False),  # the answer checker's kind
    Column("rating", Integer, nullable=False),  # fsrs Rating 1..4
    Column("response_ms", Integer),
    Column("request_id", String(64), nullable=False),  # one review per delivered message
    Column("log", JSONDocument, nullable=False),  # fsrs ReviewLog.to_dict()
    UniqueConstraint("request_id"),
    Index(None, "learner_id", "reviewed_at"),
)

pronunciation_attempts = Table(
    "pronunciation_attempts",
    metadata,
    _id(),
    Column("learner_id", Id, ForeignKey("learners.id"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("drill_id", String(64)),  # None: the learner spoke freely
    Column("language", String(8), nullable=False),
    Column("transcript", String(1000), nullable=False),
    Column("accuracy", Integer, nullable=False),
    Column("completeness", Integer, nullable=False),
    Column("fluency", Integer, nullable=False),
    Column("words", JSONDocument, nullable=False),  # [{word, score, heard}]
    Column("sounds", JSONDocument, nullable=False),  # {sound id: score}
    Index(None, "learner_id", "created_at"),
)

memory_notes = Table(
    "memory_notes",
    metadata,
    _id(),
    Column("learner_id", Id, ForeignKey("learners.id"), nullable=False),
    # "error:<rule>", "helped:<what>", "progress:<marker>", "preference:<what>": one per learner
    Column("key", String(160), nullable=False),
    Column("kind", String(16), nullable=False),  # error | helped | progress | preference
    Column("facts", JSONDocument, nullable=False),  # counts, examples: rendered when shown
    Column("text", String(1000), nullable=False),  # what is embedded (both languages)
    Column("embedding", LargeBinary),  # float32 little-endian, L2-normalised
    Column("embedder", String(64), nullable=False),  # re-embedded when the embedder changes
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("wrong_at", UTCDateTime()),  # the learner or a teacher said it is wrong: not used
    UniqueConstraint("learner_id", "key"),
)

memory_runs = Table(
    "memory_runs",
    metadata,
    _id(),
    Column("learner_id", Id, ForeignKey("learners.id"), nullable=False),
    Column("day", String(10), nullable=False),  # the learner's local date summarised
    Column("done_at", UTCDateTime(), nullable=False),
    Column("notes", Integer, nullable=False),  # notes written or updated
    UniqueConstraint("learner_id", "day"),
)

entitlements = Table(
    "entitlements",
    metadata,
    _id(),
    Column("learner_id", Id, ForeignKey("learners.id"), nullable=False, unique=True),
    # An opaque id for payment links (Stripe's client_reference_id): never the chat id.
    Column("reference", String(40), nullable=False, unique=True),
    Column("plan", String(32), nullable=False),  # "free" or the subscription's plan id
    Column("rail", String(16)),  # stars | stripe | whatsapp | grant: how it was paid
    Column("subscription_active", Boolean, nullable=False),
    Column("subscription_ref", String(191)),  # Stripe subscription id, first Stars charge id
    Column("customer_ref", String(191)),  # Stripe customer id
    Column("cancel_at_period_end", Boolean, nullable=False),
    Column("next_payment_date", UTCDateTime()),  # the paid period's end
    Column("lessons_remaining", Integer, nullable=False),  # from packs
    Column("lesson_open_until", UTCDateTime()),  # the current lesson goes on until then
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "subscription_ref"),
)

payment_events = Table(
    "payment_events",
    metadata,
    _id(),
    Column("provider", String(16), nullable=False),  # telegram | stripe | whatsapp | admin
    Column("event_id", String(191), nullable=False),  # the provider's id: applied once
    Column("kind", String(24), nullable=False),  # payments.ledger.EventKind
    Column("learner_id", Id, ForeignKey("learners.id")),  # None: not matched yet, or erased
    Column("plan", String(32)),
    Column("amount", Integer),  # whole Stars, or the currency's minor units
    Column("currency", String(8)),
    Column("object_ref", String(191)),  # the payment it is about: refunds find it by this
    Column("subscription_ref", String(191)),
    Column("status", String(16), nullable=False),  # applied | pending | ignored
    Column("detail", String(200), nullable=False),  # why it was ignored, what it changed
    Column("occurred_at", UTCDateTime(), nullable=False),  # the provider's time
    Column("received_at", UTCDateTime(), nullable=False),
    Column("data", JSONDocument, nullable=False),  # the normalised event, never card details
    UniqueConstraint("provider", "event_id"),
    Index(None, "learner_id", "received_at"),
    Index(None, "object_ref"),
    Index(None, "subscription_ref"),
    Index(None, "status", "received_at"),
)

usage_events = Table(
    "usage_events",
    metadata,
    _id(),
    Column("learner_id", Id, ForeignKey("learners.id"), nullable=False),
    Column("feature", String(16), nullable=False),  # lesson | voice
    Column("source", String(64), nullable=False),  # the message that used it: metered once
    Column("paid_by", String(16), nullable=False),  # free | pack | subscription
    Column("used_at", UTCDateTime(), nullable=False),
    UniqueConstraint("learner_id", "feature", "source"),
    Index(None, "learner_id", "feature", "used_at"),
)

payment_links = Table(
    "payment_links",
    metadata,
    _id(),
    Column("provider", String(16), nullable=False),
    Column("plan", String(32), nullable=False),
    Column("fingerprint", String(64), nullable=False),  # the price it sells: a new one, a new link
    Column("price_ref", String(191), nullable=False),
    Column("link_ref", String(191), nullable=False),
    Column("url", String(500), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("provider", "plan", "fingerprint"),
)

payment_reconciliations = Table(
    "payment_reconciliations",
    metadata,
    _id(),
    Column("provider", String(16), nullable=False),
    Column("ran_at", UTCDateTime(), nullable=False),
    Column("checked", Integer, nullable=False),
    Column("drift", JSONDocument, nullable=False),  # [{learner_id, subscription, what, ...}]
)

# Staff of the web app (tutor/staff.py): admins and teachers, never learners.
users = Table(
    "users",
    metadata,
    _id(),
    Column("email", String(254), nullable=False, unique=True),  # always lower-cased
    Column("password_hash", String(255), nullable=False),  # argon2id, never the password
    Column("role", String(16), nullable=False),  # admin | teacher
    Column("display_name", String(120), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_login_at", UTCDateTime()),
    Column("disabled_at", UTCDateTime()),  # set: cannot sign in
)

# What staff did (tutor/audit.py): grants, revokes, sign-ins; kept when learners are erased.
audit_log = Table(
    "audit_log",
    metadata,
    _id(),
    Column("at", UTCDateTime(), nullable=False),
    Column("user_id", Id, ForeignKey("users.id")),  # None: the command line
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=False),  # e.g. a learner key
    Column("detail", JSONDocument, nullable=False),
    Column("ip", String(64)),
    Index(None, "at"),
    Index(None, "user_id", "at"),
)

# Curricula written in the web app (tutor/curricula.py); the shipped files are not copied here.
curricula = Table(
    "curricula",
    metadata,
    _id(),
    Column("curriculum_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("title", String(200), nullable=False),
    Column("target_language", String(8), nullable=False),
    Column("source", Text, nullable=False),  # the YAML as the teacher wrote it
    Column("status", String(16), nullable=False),  # draft | published
    Column("created_by", Id, ForeignKey("users.id")),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("published_at", UTCDateTime()),
    UniqueConstraint("curriculum_id", "version"),
)

# A teacher's class: learners join with its code and study its curriculum toward its weekly goal.
cohorts = Table(
    "cohorts",
    metadata,
    _id(),
    Column("name", String(120), nullable=False),
    Column("join_code", String(16), nullable=False, unique=True),
    Column("teacher_id", Id, ForeignKey("users.id"), nullable=False),
    Column("curriculum", String(80)),  # "es-for-en@2"; None: each learner's own
    Column("weekly_goal", Integer, nullable=False),  # lessons a week
    Column("created_at", UTCDateTime(), nullable=False),
    Column("archived_at", UTCDateTime()),
    Index(None, "teacher_id"),
)

# Who is in which cohort: one cohort per learner at a time.
cohort_members = Table(
    "cohort_members",
    metadata,
    _id(),
    Column("cohort_id", Id, ForeignKey("cohorts.id"), nullable=False),
    Column("learner_id", Id, ForeignKey("learners.id"), nullable=False, unique=True),
    Column("joined_at", UTCDateTime(), nullable=False),
    Index(None, "cohort_id"),
)

# A message or exercise a teacher sent to a whole cohort, with what became of it.
assignments = Table(
    "assignments",
    metadata,
    _id(),
    Column("cohort_id", Id, ForeignKey("cohorts.id"), nullable=False),
    Column("sent_by", Id, ForeignKey("users.id")),
    Column("kind", String(16), nullable=False),  # message | exercise
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("outcome", JSONDocument, nullable=False),  # {"sent": n, "template": n, "skipped": n}
    Index(None, "cohort_id", "created_at"),
)

# Every reminder decided for a learner, sent or not (and why not): one per learner, kind and
# slot (their local date for a daily reminder), so a restarted scheduler never sends twice.
reminders = Table(
    "reminders",
    metadata,
    _id(),
    Column("learner_id", Id, ForeignKey("learners.id"), nullable=False),
    Column("kind", String(24), nullable=False),  # review | streak | expiry
    Column("slot", String(40), nullable=False),
    Column("scheduled_for", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),  # queued | skipped
    Column("reason", String(64)),  # why skipped: quiet_hours, cap, window, stopped, ...
    Column("outbox_id", Id),
    UniqueConstraint("learner_id", "kind", "slot"),
    Index(None, "learner_id", "created_at"),
)
