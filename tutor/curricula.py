"""Curricula written in the staff app: drafts, published versions, diffs and chat previews.

The shipped files (``curricula/*.vN.yaml``) are read-only here; teachers change a
curriculum by starting a new version, a draft row in the ``curricula`` table. A draft
keeps whatever text it was saved with, valid or not, so no work is lost; publishing
needs a text that :func:`agents.curriculum.parse` accepts and a version above every
shipped or published version of that id. Published rows never change again: the worker's
:class:`agents.library.Library` loads each one once. Every key is ``"id@version"``.

Writes take the caller's :class:`~sqlalchemy.Connection`, so the staff app's audited
transaction covers the change and its audit row together.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from agents.curriculum import (
    MINIMUMS,
    Curriculum,
    CurriculumError,
    Problem,
    flow_too_deep,
    parse,
    shipped,
)
from tutor.models import curricula, utcnow

Status = Literal["shipped", "draft", "published"]
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_DIGITS = re.compile(r"[0-9]{1,18}")
_VERSION_LINE = re.compile(r"^(version:[ \t]*)(\d+)", re.MULTILINE)
_KINDS = ("units", "vocabulary", "grammar", "scenarios", "drills")


class CurriculaError(Exception):
    """A change the store refuses; ``message`` says why in words a teacher understands."""

    def __init__(self, message: str, problems: Iterable[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class Checked:
    """A text after validation: the curriculum when it is valid, else the problems."""

    curriculum: Curriculum | None
    problems: tuple[Problem, ...]


@dataclass(frozen=True, slots=True)
class Entry:
    """One version of a curriculum, shipped or stored, as the list shows it."""

    curriculum_id: str
    version: int
    title: str
    target_language: str
    status: Status
    source: str = field(repr=False)
    checked: Checked = field(repr=False)
    created_by: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    published_at: datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.curriculum_id}@{self.version}"

    @property
    def counts(self) -> dict[str, int] | None:
        return self.checked.curriculum.counts() if self.checked.curriculum else None

    @property
    def live(self) -> bool:
        """Shipped or published: what learners can be taught from."""
        return self.status != "draft"


# -- reading ---------------------------------------------------------------------------


def check(text: str) -> Checked:
    """Validate curriculum YAML (cached by content: a full curriculum takes half a second)."""
    # surrogatepass: a lone surrogate is the YAML reader's problem to report, not a crash here
    return _check(hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(), text)


@lru_cache(maxsize=32)
def _check(_digest: str, text: str) -> Checked:
    try:
        return Checked(parse(text, "curriculum"), ())
    except CurriculumError as exc:
        return Checked(None, tuple(exc.problems))


def shortfalls(curriculum: Curriculum) -> list[str]:
    """Where a curriculum holds less than a shipped one must (a warning, never a refusal)."""
    counts = curriculum.counts()
    return [
        f"{counts[kind]} {kind} (a shipped curriculum has at least {least})"
        for kind, least in MINIMUMS.items()
        if counts[kind] < least
    ]


def entries(engine: Engine) -> list[Entry]:
    """Every version, shipped and stored, by id then version."""
    found = _shipped_entries()
    with engine.connect() as connection:
        rows = connection.execute(select(curricula)).mappings().all()
    found += [_row_entry(row) for row in rows]
    return sorted(found, key=lambda e: (e.curriculum_id, e.version, e.status))


def find(source: Engine | Connection, key: str) -> Entry | None:
    """The version ``key`` ("id@version"), shipped or stored."""
    for entry in _shipped_entries():
        if entry.key == key:
            return entry
    parsed = _split(key)
    if parsed is None:
        return None
    with _reading(source) as connection:
        row = connection.execute(_by_key(*parsed)).mappings().first()
    return _row_entry(row) if row is not None else None


@contextmanager
def _reading(source: Engine | Connection) -> Iterator[Connection]:
    """A connection to read with: the caller's own (inside its transaction), else a new one."""
    if isinstance(source, Connection):
        yield source
        return
    with source.connect() as connection:
        yield connection


def _shipped_entries() -> list[Entry]:
    return list(_shipped_files(tuple((path, path.stat().st_mtime_ns) for path in shipped())))


@lru_cache(maxsize=4)
def _shipped_files(files: tuple[tuple[Path, int], ...]) -> tuple[Entry, ...]:
    """The shipped files as entries, read again only when one changes on disk."""
    found = []
    for path, mtime_ns in files:
        text = path.read_text(encoding="utf-8")
        checked = check(text)
        curriculum = checked.curriculum
        loose = _loose(text) if curriculum is None else {}
        found.append(
            Entry(
                curriculum.id if curriculum else str(loose.get("id") or path.stem),
                curriculum.version if curriculum else _int(loose.get("version")),
                curriculum.title if curriculum else path.name,
                curriculum.target_language if curriculum else "",
                "shipped",
                text,
                checked,
                updated_at=datetime.fromtimestamp(mtime_ns / 1e9, UTC),
            )
        )
    return tuple(found)


def _row_entry(row: Any) -> Entry:
    return Entry(
        row["curriculum_id"],
        row["version"],
        row["title"],
        row["target_language"],
        "published" if row["status"] == "published" else "draft",
        row["source"],
        check(row["source"]),
        row["created_by"],
        row["created_at"],
        row["updated_at"],
        row["published_at"],
    )


def _split(key: str) -> tuple[str, int] | None:
    cid, _, version = key.rpartition("@")
    if not _ID.match(cid) or not version.isdigit() or len(version) > 6:
        return None
    return cid, int(version)


def _by_key(cid: str, version: int) -> Any:
    return select(curricula).where(curricula.c.curriculum_id == cid, curricula.c.version == version)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _loose(text: str) -> dict[str, Any]:
    """The top-level scalars of a text that may not be valid (id, version, title...): read
    off their lines, which is quick and works on broken YAML; a full parse only when the
    lines are not there (flow style)."""
    found: dict[str, Any] = {}
    for name in ("id", "version", "title", "target_language"):
        match = re.search(rf"^{name}:[ \t]*(.+?)[ \t]*(?:#.*)?$", text, re.MULTILINE)
        if match:
            value = match.group(1).strip("'\"")
            # ASCII digits only ("²".isdigit() too), and few: int() refuses 4,300 digits
            found[name] = int(value) if _DIGITS.fullmatch(value) else value
    if ("id" in found and "version" in found) or flow_too_deep(text) is not None:
        return found  # (PyYAML takes seconds over a few thousand open brackets)
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError, ValueError, OverflowError):  # deep, 2001-02-30
        return found
    return data if isinstance(data, dict) else found


def header(text: str) -> tuple[str, int] | None:
    """The ``id`` and ``version`` a text says it is, when they can be read at all."""
    loose = _loose(text)
    cid, version = loose.get("id"), _int(loose.get("version"))
    if isinstance(cid, str) and _ID.match(cid) and 1 <= version < 1_000_000:
        return cid, version
    return None


def version_line(text: str) -> int | None:
    """The line of the top-level ``version:`` (where a version problem points)."""
    match = _VERSION_LINE.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def versions(source: Engine | Connection, cid: str, live_only: bool = True) -> dict[int, Status]:
    """The versions of ``cid`` that exist (only shipped and published by default)."""
    found: dict[int, Status] = {
        e.version: e.status for e in _shipped_entries() if e.curriculum_id == cid
    }
    query = select(curricula.c.version, curricula.c.status).where(curricula.c.curriculum_id == cid)
    with _reading(source) as connection:
        for version, status in connection.execute(query):
            if not live_only or status == "published":
                found.setdefault(version, "published" if status == "published" else "draft")
    return found


def publish_blocker(source: Engine | Connection, cid: str, version: int) -> str | None:
    """Why ``cid@version`` cannot go out (a live version at or above it), or None."""
    live = versions(source, cid)
    top = max(live, default=0)
    if version > top:
        return None
    return (
        f"{cid} version {version} cannot be published: version {top} ({live[top]}) is "
        f"already out, and learners only move forward. Change `version:` to {top + 1}."
    )


def problems_for(engine: Engine, text: str, own_key: str | None = None) -> list[Problem]:
    """What is wrong with ``text``: validation problems, and an ``id@version`` already taken."""
    problems = list(check(text).problems)
    said = header(text)
    if said is None:
        if not problems:
            problems.append(Problem(1, "", "the text needs `id:` and `version:` at the top"))
        return problems
    key = f"{said[0]}@{said[1]}"
    if key != own_key and find(engine, key) is not None:
        message = f"{key} already exists; give this draft another version"
        problems.insert(0, Problem(version_line(text), "version", message))
    return problems


# -- writing ---------------------------------------------------------------------------


def create_draft(connection: Connection, text: str, user_id: int | None) -> str:
    """Store an uploaded or pasted text as a new draft; its key. Invalid text is kept too,
    as long as its ``id`` and ``version`` can be read and are free."""
    said = header(text)
    if said is None:
        problems = list(check(text).problems)
        raise CurriculaError("The text needs a readable `id:` and `version:` at the top.", problems)
    key = f"{said[0]}@{said[1]}"
    if find(connection, key) is not None:
        raise CurriculaError(f"{key} already exists. Change `version:` to upload it as a draft.")
    now = utcnow()
    _write(
        connection,
        insert(curricula).values(
            curriculum_id=said[0],
            version=said[1],
            source=text,
            status="draft",
            created_by=user_id,
            created_at=now,
            updated_at=now,
            **_described(text, said[0]),
        ),
    )
    return key


def save_draft(connection: Connection, key: str, text: str) -> str:
    """Replace a draft's text (valid or not); its key, which follows the text's own
    ``id@version`` unless that one is taken."""
    row = _draft(connection, key)
    said = header(text)
    cid, version = row["curriculum_id"], row["version"]
    if (
        said is not None
        and f"{said[0]}@{said[1]}" != key
        and find(connection, f"{said[0]}@{said[1]}") is None
    ):
        cid, version = said
    _write(
        connection,
        update(curricula)
        .where(curricula.c.id == row["id"])
        .values(
            curriculum_id=cid,
            version=version,
            source=text,
            updated_at=utcnow(),
            **_described(text, cid),
        ),
    )
    return f"{cid}@{version}"


def _write(connection: Connection, statement: Any) -> None:
    """Run an insert or update whose ``id@version`` another request may have just taken."""
    try:
        connection.execute(statement)
    except IntegrityError as exc:
        raise CurriculaError("That version was saved by someone else a moment ago.") from exc


def new_version_from(connection: Connection, key: str, user_id: int | None) -> str:
    """A draft copy of ``key`` numbered above every version of its id; the new key."""
    entry = find(connection, key)
    if entry is None:
        raise CurriculaError(f"There is no curriculum {key}.")
    number = max(versions(connection, entry.curriculum_id, live_only=False), default=0) + 1
    text, replaced = _VERSION_LINE.subn(rf"\g<1>{number}", entry.source, count=1)
    if not replaced:
        raise CurriculaError(f"{key} has no top-level `version:` line to change.")
    return create_draft(connection, text, user_id)


def publish(connection: Connection, key: str) -> Curriculum:
    """Make a valid draft live; refused (:class:`CurriculaError`) when it is invalid or its
    version is not above every shipped and published version of its id."""
    row = _draft(connection, key)
    checked = check(row["source"])
    if checked.curriculum is None:
        count = len(checked.problems)
        raise CurriculaError(
            f"{key} has {count} problem{'s' if count != 1 else ''}; fix them to publish.",
            checked.problems,
        )
    curriculum = checked.curriculum
    if f"{curriculum.id}@{curriculum.version}" != key:
        raise CurriculaError(
            f"The text says {curriculum.id}@{curriculum.version}, which already exists."
        )
    blocker = publish_blocker(connection, curriculum.id, curriculum.version)
    if blocker:
        line = version_line(row["source"])
        raise CurriculaError(blocker, [Problem(line, "version", blocker)])
    now = utcnow()
    connection.execute(
        update(curricula)
        .where(curricula.c.id == row["id"], curricula.c.status == "draft")
        .values(status="published", published_at=now, updated_at=now)
    )
    return curriculum


def _draft(connection: Connection, key: str) -> Any:
    parsed = _split(key)
    row = connection.execute(_by_key(*parsed)).mappings().first() if parsed else None
    if row is None:
        if any(e.key == key for e in _shipped_entries()):
            raise CurriculaError(
                f"{key} ships with the tutor and cannot be changed; start a new version."
            )
        raise CurriculaError(f"There is no draft {key}.")
    if row["status"] != "draft":
        raise CurriculaError(f"{key} is published and cannot be changed; start a new version.")
    return row


def _described(text: str, cid: str) -> dict[str, str]:
    loose = _loose(text)
    title, target = loose.get("title"), loose.get("target_language")
    return {
        "title": (title if isinstance(title, str) and title.strip() else cid)[:200],
        "target_language": (target if isinstance(target, str) and target else "?")[:8],
    }


# -- comparing -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DiffLine:
    kind: Literal["head", "hunk", "add", "del", "same"]
    text: str


@dataclass(frozen=True, slots=True)
class Change:
    """One unit, word, grammar point, scenario or drill added, removed or changed."""

    kind: str
    name: str
    what: Literal["added", "removed", "changed"]


@dataclass(frozen=True, slots=True)
class Diff:
    lines: list[DiffLine]
    #: None when either side does not parse (the line diff is still there).
    changes: list[Change] | None


def diff(old: Entry, new: Entry) -> Diff:
    """What changed from ``old`` to ``new``: a unified diff of the YAML and, when both are
    valid, the units, words, grammar points, scenarios and drills added, removed or changed."""
    raw = difflib.unified_diff(
        old.source.splitlines(), new.source.splitlines(), old.key, new.key, lineterm="", n=2
    )
    lines = [DiffLine(_line_kind(text), text) for text in raw]
    a, b = old.checked.curriculum, new.checked.curriculum
    return Diff(lines, _changes(a, b) if a is not None and b is not None else None)


def _line_kind(text: str) -> Literal["head", "hunk", "add", "del", "same"]:
    if text.startswith(("+++", "---")):
        return "head"
    if text.startswith("@@"):
        return "hunk"
    return {"+": "add", "-": "del"}.get(text[:1], "same")  # type: ignore[return-value]


def _parts(curriculum: Curriculum) -> dict[str, dict[str, Any]]:
    units = list(curriculum.units())
    return {
        "unit": {u.id: u.model_dump() for u in units},
        "word": {i.lemma: i.model_dump() for u in units for i in u.vocabulary},
        "grammar point": {g.id: g.model_dump() for u in units for g in u.grammar},
        "scenario": {s.id: s.model_dump() for u in units for s in u.scenarios},
        "drill": {d.id: d.model_dump() for u in units for d in u.drills},
    }


def _changes(old: Curriculum, new: Curriculum) -> list[Change]:
    before, after = _parts(old), _parts(new)
    found: list[Change] = []
    for kind, was in before.items():
        now = after[kind]
        found += [Change(kind, name, "added") for name in now if name not in was]
        found += [Change(kind, name, "removed") for name in was if name not in now]
        found += [
            Change(kind, name, "changed") for name in was if name in now and was[name] != now[name]
        ]
    return found
