"""Curricula in the staff app: list, upload, edit, validate at the line, preview, publish, diff.

Shipped files and published versions are read-only; changing one starts a new version
(a draft). Every change goes through :func:`tutor.web.staff.change`, so it is audited in
the same transaction. The preview shows a unit as the chat would: the texts are built
with the agents' own formatting and :func:`tutor.i18n.t`, so the preview cannot drift
from what learners receive.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from agents.curriculum import Curriculum, Problem, Unit
from agents.grammar import short as short_explanation
from agents.library import localised
from agents.vocabulary import VocabularyAgent
from tutor import curricula
from tutor.curricula import CurriculaError, Entry
from tutor.i18n import t
from tutor.web.staff import ANY_STAFF, change, require, services, user

blueprint = Blueprint("staff_curricula", __name__, url_prefix="/admin/curricula")

#: Uploads larger than this are refused (the shipped files are about 150 kB).
MAX_UPLOAD_BYTES = 2_000_000
PREVIEW_LANGUAGES = ("en", "es")
_BOLD = re.compile(r"\*([^*\n]+)\*")


def _entry(key: str) -> Entry:
    found = curricula.find(services().engine, key)
    if found is None:
        abort(404)
    return found


def _target(key: str) -> str:
    return f"curriculum:{key}"


# -- list and upload -------------------------------------------------------------------


@blueprint.get("/")
@require(*ANY_STAFF)
def index() -> str:
    return _index_page()


def _index_page(error: str = "", problems: list[Problem] | None = None, text: str = "") -> str:
    all_entries = curricula.entries(services().engine)
    by_id: dict[str, list[Entry]] = defaultdict(list)
    for entry in all_entries:
        by_id[entry.curriculum_id].append(entry)
    return render_template(
        "staff/curricula_index.html",
        entries=all_entries,
        comparable={cid: found for cid, found in by_id.items() if len(found) > 1},
        error=error,
        problems=problems or [],
        text=text,
    )


@blueprint.post("/upload")
@require(*ANY_STAFF)
def upload() -> ResponseReturnValue:
    """A YAML file or pasted text becomes a draft (kept even when it has problems)."""
    text, error = _uploaded_text()
    if error:
        return _index_page(error=error, text=text), 400
    said = curricula.header(text)
    target = _target(f"{said[0]}@{said[1]}" if said else "new")
    try:
        with change("curriculum draft created", target, {"chars": len(text)}) as connection:
            key = curricula.create_draft(connection, text, user().id)
    except CurriculaError as exc:
        return _index_page(error=exc.message, problems=exc.problems, text=text), 409
    flash(f"Saved {key} as a draft.")
    return redirect(url_for(".edit", key=key))


def _uploaded_text() -> tuple[str, str]:
    """The text of the upload (file first, else the pasted text), and an error if any."""
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        raw = upload.read(MAX_UPLOAD_BYTES + 1)
        if len(raw) > MAX_UPLOAD_BYTES:
            return "", "That file is too large (the limit is 2 MB)."
        try:
            return raw.decode("utf-8-sig").replace("\r\n", "\n"), ""
        except UnicodeDecodeError:
            return "", "That file is not UTF-8 text. Save it as UTF-8 and upload it again."
    text = request.form.get("source", "").replace("\r\n", "\n")
    if not text.strip():
        return "", "Choose a YAML file or paste the curriculum text."
    if len(text.encode("utf-8")) > MAX_UPLOAD_BYTES:
        return "", "That text is too large (the limit is 2 MB)."
    return text, ""


# -- one version -----------------------------------------------------------------------


@blueprint.get("/<key>")
@require(*ANY_STAFF)
def view(key: str) -> str:
    entry = _entry(key)
    return render_template("staff/curricula_view.html", entry=entry, **_findings(entry))


def _findings(entry: Entry, text: str | None = None) -> dict[str, Any]:
    """Problems, warnings and the numbered source for ``text`` (the entry's own by default)."""
    engine = services().engine
    source = entry.source if text is None else text
    own = entry.key if entry.status == "draft" else None
    problems = curricula.problems_for(engine, source, own) if own else list(entry.checked.problems)
    warnings: list[str] = []
    checked = curricula.check(source)
    if checked.curriculum is not None:
        warnings += curricula.shortfalls(checked.curriculum)
        if entry.status == "draft":
            cur = checked.curriculum
            blocker = curricula.publish_blocker(engine, cur.id, cur.version)
            warnings += [blocker] if blocker else []
    return {
        "problems": problems,
        "warnings": warnings,
        "lines": source.split("\n"),
        "bad_lines": {p.line for p in problems if p.line},
        "next_version": max(curricula.versions(engine, entry.curriculum_id, False), default=0) + 1,
    }


@blueprint.get("/<key>/edit")
@require(*ANY_STAFF)
def edit(key: str) -> ResponseReturnValue:
    entry = _entry(key)
    if entry.live:
        flash(f"{key} is {entry.status} and cannot be changed; start a new version instead.")
        return redirect(url_for(".view", key=key))
    return render_template(
        "staff/curricula_edit.html", entry=entry, text=entry.source, **_findings(entry)
    )


@blueprint.post("/<key>/edit")
@require(*ANY_STAFF)
def save(key: str) -> ResponseReturnValue:
    """Save draft, Validate (nothing stored) or Publish (save, then publish)."""
    entry = _entry(key)
    text = request.form.get("source", "").replace("\r\n", "\n")
    action = request.form.get("action", "save")
    if entry.live:
        message = f"{key} is {entry.status} and cannot be changed; start a new version instead."
        page = render_template(
            "staff/curricula_view.html", entry=entry, error=message, **_findings(entry)
        )
        return page, 409
    if action not in ("save", "validate", "publish"):
        return _edit_page(entry, text, "Choose Save draft, Validate or Publish."), 400
    if not text.strip():
        return _edit_page(entry, text, "Nothing to save: the text is empty."), 400
    if action == "validate":
        found = _findings(entry, text)
        notice = "No problems found." if not found["problems"] else ""
        return render_template(
            "staff/curricula_edit.html", entry=entry, text=text, notice=notice, **found
        )
    if text == entry.source:
        if action == "save":
            flash("No changes to save.")
    else:
        try:
            key = _save(entry, text)
        except CurriculaError as exc:  # published meanwhile, from another tab
            return _edit_page(entry, text, exc.message), 409
    if action == "save":
        return redirect(url_for(".edit", key=key))
    return _publish(key)


def _save(entry: Entry, text: str) -> str:
    detail = {"problems": len(curricula.check(text).problems)}
    with change("curriculum draft saved", _target(entry.key), detail) as connection:
        key = curricula.save_draft(connection, entry.key, text)
    flash(f"Saved {key}." if key == entry.key else f"Saved as {key} (the text's own version).")
    return key


def _publish(key: str) -> ResponseReturnValue:
    entry = _entry(key)
    counts = entry.counts or {}
    try:
        with change("curriculum published", _target(key), {"counts": counts}) as connection:
            curricula.publish(connection, key)
    except CurriculaError as exc:
        status = 422 if entry.checked.curriculum is None else 409
        return _edit_page(entry, entry.source, exc.message), status
    flash(f"Published {key}. New learners start on it; learners already on a version stay there.")
    return redirect(url_for(".view", key=key))


def _edit_page(entry: Entry, text: str, error: str) -> str:
    found = _findings(entry, text)
    return render_template(
        "staff/curricula_edit.html", entry=entry, text=text, error=error, **found
    )


@blueprint.post("/<key>/new-version")
@require(*ANY_STAFF)
def new_version(key: str) -> ResponseReturnValue:
    """A draft copy of ``key`` with the next free version number."""
    entry = _entry(key)
    try:
        with change("curriculum version started", _target(key), {"from": key}) as connection:
            new_key = curricula.new_version_from(connection, key, user().id)
    except CurriculaError as exc:
        page = render_template(
            "staff/curricula_view.html", entry=entry, error=exc.message, **_findings(entry)
        )
        return page, 409
    flash(f"Started {new_key} from {key}. Edit it, then publish.")
    return redirect(url_for(".edit", key=new_key))


# -- diff ------------------------------------------------------------------------------


@blueprint.get("/diff")
@require(*ANY_STAFF)
def diff() -> ResponseReturnValue:
    a, b = request.args.get("a", ""), request.args.get("b", "")
    if not a or not b:
        return redirect(url_for(".index"))
    old, new = _entry(a), _entry(b)
    if (old.curriculum_id, old.version) > (new.curriculum_id, new.version):
        old, new = new, old
    return render_template(
        "staff/curricula_diff.html", old=old, new=new, diff=curricula.diff(old, new)
    )


# -- preview ---------------------------------------------------------------------------


@blueprint.get("/<key>/preview")
@require(*ANY_STAFF)
def preview(key: str) -> ResponseReturnValue:
    entry = _entry(key)
    curriculum = entry.checked.curriculum
    if curriculum is None:
        flash(f"{key} has problems to fix before it can be previewed.")
        return redirect(url_for(".edit" if entry.status == "draft" else ".view", key=key))
    units = list(curriculum.units())
    unit = next((u for u in units if u.id == request.args.get("unit")), units[0])
    lang = request.args.get("lang", "")
    if lang not in PREVIEW_LANGUAGES:
        lang = curriculum.explanation_languages[0]
    return render_template(
        "staff/curricula_preview.html",
        entry=entry,
        units=units,
        unit=unit,
        lang=lang,
        languages=PREVIEW_LANGUAGES,
        sections=chat_preview(curriculum, unit, lang),
    )


def chat_markup(text: str) -> Markup:
    """A message as WhatsApp shows it: the text escaped, then ``*bold*`` in bold."""
    return Markup(_BOLD.sub(r"<strong>\1</strong>", str(escape(text))))  # noqa: S704 - escaped first


def chat_preview(curriculum: Curriculum, unit: Unit, lang: str) -> list[tuple[str, list[Markup]]]:
    """The messages the tutor sends for ``unit``, explained in ``lang``, by activity."""
    words = [VocabularyAgent.introduce(item, curriculum, lang) for item in unit.vocabulary]
    grammar = [
        "\n".join(
            [
                f"📘 {localised(point.title, lang)}",
                short_explanation(localised(point.explanation, lang)),
                *(f"• {example}" for example in point.examples[:2]),
                "",
                t("grammar_try", lang),
            ]
        )
        for point in unit.grammar
    ]
    scenes = [
        t(
            "scenario_intro",
            lang,
            title=localised(scene.title, lang),
            setting=localised(scene.setting, lang),
            goal=localised(scene.goal, lang),
        )
        + f"\n💬 {scene.opening}"
        for scene in unit.scenarios
    ]
    drills = [
        t("drill_ask", lang, sentence=drill.sentence, tip=localised(drill.tip, lang))
        for drill in unit.drills
    ]
    sections = [("New words", words), ("Grammar", grammar), ("Role-play", scenes)]
    sections.append(("Pronunciation", drills))
    return [(name, [chat_markup(text) for text in texts]) for name, texts in sections if texts]
