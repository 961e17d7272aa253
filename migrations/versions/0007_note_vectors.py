"""note vectors: memory_notes.embedding_vector where the database has a vector type

Adds the column only where it can exist: PostgreSQL with the pgvector extension
available on the server (the extension is created if it is not yet; a role that may
not create it leaves the schema as it was) and Oracle 23ai or later. SQLite, other
PostgreSQL servers and older Oracle are left untouched, and memory notes are ranked
with numpy there. Existing notes' vectors are copied from their float32 blobs.

Offline (``--sql``) the server cannot be asked, so the column is written only when
asked for: ``alembic -x note_vectors=true upgrade head --sql`` (for Oracle 23ai).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 17:00:00.000000
"""

from __future__ import annotations

import array
import logging

import numpy as np
import sqlalchemy as sa
from alembic import context, op
from pgvector.sqlalchemy import VECTOR as PG_VECTOR
from sqlalchemy.dialects import oracle

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

logger = logging.getLogger("alembic.runtime.migration")

COLUMN = "embedding_vector"
BATCH = 500


def _vector_type(dialect: str) -> sa.types.TypeEngine[object]:
    if dialect == "postgresql":
        return PG_VECTOR()
    return oracle.VECTOR(storage_format=oracle.VectorStorageFormat.FLOAT32)  # type: ignore[no-untyped-call]


def _asked_offline() -> bool:
    return context.get_x_argument(as_dictionary=True).get("note_vectors") == "true"


def _has_column(bind: sa.Connection) -> bool:
    return COLUMN in {column["name"] for column in sa.inspect(bind).get_columns("memory_notes")}


def _supported(bind: sa.Connection) -> bool:
    """Whether this server can hold the column (creating pgvector's extension if needed)."""
    dialect = bind.dialect.name
    if dialect == "oracle":
        return (bind.dialect.server_version_info or (0,)) >= (23,)
    if dialect != "postgresql":
        return False
    available = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    ).first()
    if available is None:
        return False
    try:
        with bind.begin_nested():  # a refusal must not abort the migration's transaction
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    except sa.exc.DBAPIError as exc:
        logger.warning("pgvector is available but cannot be created here: %s", exc.orig)
        return False
    return True


def upgrade() -> None:
    if context.is_offline_mode():
        if _asked_offline():
            dialect = context.get_context().dialect.name
            op.add_column("memory_notes", sa.Column(COLUMN, _vector_type(dialect)))
        return
    bind = op.get_bind()
    if not _supported(bind) or _has_column(bind):
        return
    dialect = bind.dialect.name
    op.add_column("memory_notes", sa.Column(COLUMN, _vector_type(dialect)))
    _copy_vectors(bind, dialect)


def _copy_vectors(bind: sa.Connection, dialect: str) -> None:
    """Fill the column from the float32 blobs, ``BATCH`` notes at a time (keyset by id)."""
    notes = sa.table(
        "memory_notes",
        sa.column("id", sa.BigInteger()),
        sa.column("embedding", sa.LargeBinary()),
        sa.column(COLUMN, _vector_type(dialect)),
    )
    after = 0
    while True:
        rows = bind.execute(
            sa.select(notes.c.id, notes.c.embedding)
            .where(notes.c.id > after, notes.c.embedding.is_not(None))
            .order_by(notes.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            values = np.frombuffer(bytes(row.embedding), dtype="<f4")
            vector = array.array("f", values.tobytes()) if dialect == "oracle" else values.tolist()
            bind.execute(sa.update(notes).where(notes.c.id == row.id).values({COLUMN: vector}))
        after = int(rows[-1].id)


def downgrade() -> None:
    if context.is_offline_mode():
        if _asked_offline():
            op.drop_column("memory_notes", COLUMN)
        return
    bind = op.get_bind()
    if bind.dialect.name in ("postgresql", "oracle") and _has_column(bind):
        op.drop_column("memory_notes", COLUMN)
