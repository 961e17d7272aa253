"""Run the Alembic history programmatically (``tutor db upgrade`` and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

import migrations

SCRIPT_LOCATION = Path(migrations.__file__).resolve().parent


#: Columns a migration adds only where the database supports them (vector types), so
#: they are not in the shared models: comparisons of schema and models leave them out.
DATABASE_ONLY_COLUMNS = frozenset({("memory_notes", "embedding_vector")})


#: Tables another library creates and manages itself: APScheduler's job store.
FOREIGN_TABLES = frozenset({"apscheduler_jobs"})


def include_object(
    item: object, name: str | None, kind: str, reflected: bool, compare_to: object
) -> bool:
    """Alembic's filter: everything but :data:`DATABASE_ONLY_COLUMNS` and the tables other
    libraries own (:data:`FOREIGN_TABLES`)."""
    if kind == "table" and name in FOREIGN_TABLES:
        return False
    table = getattr(getattr(item, "table", None), "name", None)
    return not (kind == "column" and (table, name) in DATABASE_ONLY_COLUMNS)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run twice."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current(engine: Engine) -> str | None:
    """The revision the database is at, or None before the first upgrade."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head() -> str | None:
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    return ScriptDirectory.from_config(config).get_current_head()
