"""The learner in control of their data: what is remembered, the export, the erasure.

    "what do you remember about me?"  → the memory notes, numbered, in plain words
        "forget 2" / "olvida la 2"    → note 2 deleted
        "2 is wrong" / "la 2 está mal" → note 2 marked wrong: never used again
    "export my data"                  → a JSON file of everything stored about them
    "delete my data"                  → are you sure? 1. yes  2. no
        yes                           → erased everywhere (:mod:`memory.erase`), goodbye
        no                            → nothing deleted

The listing and the question stay open as ``state["exercise"]`` owned by this agent,
so the dispatcher brings the follow-up here and numbers mean what was shown; any
other message closes them and goes to the fallback agent. The export is only named
in the reply (``Reply(document="export")``): the outbox builds the file when it
sends it, so it is never stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from agents.base import Agent, Context, Outcome
from agents.library import without
from memory import erase, notes
from tutor import logs, outbox
from tutor.i18n import name_of, t
from tutor.messages import Channel, Inbound, Option, Reply
from tutor.models import utcnow
from tutor.text import fold, parse_choice

_NUMBER = r"#?(\d{1,3})"
_FILLER = r"(?:(?:note|number|no|the|la|el|nota|numero) )*"
FORGET = re.compile(
    rf"^(?:please )?(?:forget|delete|remove|erase|olvida|olvidate de|borra|elimina|quita) "
    rf"{_FILLER}{_NUMBER}(?: please| por favor)?$"
)
WRONG = re.compile(
    rf"^{_FILLER}{_NUMBER} (?:is (?:wrong|incorrect|false|not true|not right)|isn t (?:true|right)"
    r"|(?:es|esta) (?:mal|incorrecta|incorrecto|equivocada|equivocado|falsa|falso)"
    r"|no es (?:cierta|cierto|verdad))$"
    rf"|^(?:wrong|incorrect|mal|incorrecta) {_FILLER}{_NUMBER}$"
)
DELETE = re.compile(
    r"\b(?:delete|erase|remove|wipe|borrar|borra|eliminar|elimina|forget everything|forget me"
    r"|olvida(?:te de)? todo|olvidame)\b"
)
EXPORT = re.compile(r"\b(?:export|download|exportar|exporta|descargar|descarga)\b")
REMEMBER = re.compile(
    r"\b(?:remember|know|store|recuerdas|sabes|guardas|memory|memoria|privacy|privacidad"
    r"|my data|mis datos|personal data|datos personales)\b"
)
_YES = frozenset({"yes", "y", "si", "confirm", "confirmo", "delete", "borrar", "borra"})
_NO = frozenset({"no", "nope", "nah", "cancel", "cancelar", "keep", "stop"})
#: How long "are you sure?" stays open: a later "yes" gets the question again.
CONFIRM_WITHIN = timedelta(minutes=30)
#: Channels that can carry a file.
FILE_CHANNELS = frozenset({Channel.TELEGRAM, Channel.WHATSAPP})


class DataAgent:
    """Lists, forgets and corrects memory notes; exports and erases the learner's data."""

    name = "data"

    def __init__(
        self,
        engine: Engine,
        redis: Any,
        fallback: Agent | None = None,
        *,
        hot: erase.HotTier | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.redis = redis
        self.fallback = fallback
        self.hot = hot
        self.clock = clock

    # Entry points -------------------------------------------------------------

    def start(self, context: Context) -> Outcome:
        return self._listing(context)

    def handle(self, inbound: Inbound, context: Context) -> Outcome:
        if context.learner_id is None:
            return Outcome(self.name, (Reply(t("data_unavailable", context.lang)),))
        folded = fold(inbound.text)
        exercise = context.state.get("exercise")
        if not isinstance(exercise, dict) or exercise.get("agent") != self.name:
            exercise = None
        answered = self._follow_up(inbound, context, exercise, folded) if exercise else None
        if answered is not None:
            return answered
        if DELETE.search(folded):
            return self._ask_delete(context)
        if EXPORT.search(folded):
            return self._export(inbound, context)
        if exercise is not None and not REMEMBER.search(folded):
            return self._lapse(inbound, context)
        return self._listing(context)

    def _follow_up(
        self, inbound: Inbound, context: Context, exercise: dict[str, Any], folded: str
    ) -> Outcome | None:
        """The answer to the open question or list; None when the message is not one."""
        if exercise.get("type") == "confirm_delete":
            confirmed = _confirmation(inbound)
            if confirmed is True and self._stale(exercise):
                return self._ask_delete(context)  # a "yes" long after the question: ask again
            if confirmed is True:
                return self._erase(inbound, context)
            if confirmed is False:
                state = without(context.state, "exercise")
                kept = Reply(t("data_delete_kept", context.lang))
                return Outcome(self.name, (kept,), state=state)
        if exercise.get("type") == "memory_list":
            for pattern, forget in ((FORGET, True), (WRONG, False)):
                found = pattern.match(folded)
                if found:
                    number = int(next(group for group in found.groups() if group))
                    return self._on_note(context, exercise, number, forget=forget)
        return None

    # What is remembered --------------------------------------------------------

    def _listing(self, context: Context) -> Outcome:
        lang = context.lang
        if context.learner_id is None:
            return Outcome(self.name, (Reply(t("data_unavailable", lang)),))
        state = without(context.state, "exercise", "menu", "correction")
        found = notes.listing(self.engine, context.learner_id)
        session = self._last_session(context)
        if not found:
            lines = [t("data_remember_nothing", lang), *([session] if session else [])]
            return Outcome(self.name, (Reply("\n".join(lines)),), state=state)
        listed = [f"{number}. {notes.describe(note, lang)}" for number, note in enumerate(found, 1)]
        text = "\n".join([t("data_remember_intro", lang), *listed, *([session] if session else [])])
        exercise = {"agent": self.name, "type": "memory_list", "notes": [n.id for n in found]}
        replies = (Reply(text), Reply(t("data_remember_how", lang)))
        return Outcome(self.name, replies, state={**state, "exercise": exercise})

    def _last_session(self, context: Context) -> str | None:
        """One line on the last closed session, when there is one."""
        if not context.memory.sessions:
            return None
        last = context.memory.sessions[0]
        lang = context.lang
        try:
            end = datetime.fromisoformat(str(last["end"]))
        except (KeyError, ValueError):
            return None
        days = (self.clock().date() - end.date()).days
        if days <= 0:
            when = t("when_earlier_today", lang)
        elif days == 1:
            when = t("when_yesterday", lang)
        else:
            when = t("when_days_ago", lang, days=days)
        when = when[:1].lower() + when[1:]
        turns = int(last.get("turns", 0))
        errors = last.get("errors") or []
        if errors:
            label = name_of("code", str(errors[0].get("code", "")), lang)
            return t("data_last_session_hard", lang, when=when, turns=turns, label=label)
        return t("data_last_session", lang, when=when, turns=turns)

    def _on_note(
        self, context: Context, exercise: dict[str, Any], number: int, *, forget: bool
    ) -> Outcome:
        lang = context.lang
        assert context.learner_id is not None
        shown: list[int | None] = list(exercise.get("notes") or [])
        if not 1 <= number <= len(shown):
            text = t("data_no_such_note", lang, number=number, count=len(shown))
            return Outcome(self.name, (Reply(text),))
        note_id = shown[number - 1]
        current = {n.id: n for n in notes.listing(self.engine, context.learner_id)}
        note = current.get(note_id) if note_id is not None else None
        if note is None:
            return Outcome(self.name, (Reply(t("data_note_gone", lang, number=number)),))
        if forget:
            done = notes.forget(self.engine, context.learner_id, note.id)
        else:
            done = notes.mark_wrong(self.engine, context.learner_id, note.id, self.clock())
        if not done:
            return Outcome(self.name, (Reply(t("data_note_gone", lang, number=number)),))
        shown[number - 1] = None  # the other numbers keep meaning what was shown
        key = "data_forgot" if forget else "data_marked_wrong"
        text = t(key, lang, note=notes.describe(note, lang))
        state = {**context.state, "exercise": {**exercise, "notes": shown}}
        return Outcome(self.name, (Reply(text),), state=state)

    # Export ----------------------------------------------------------------------

    def _export(self, inbound: Inbound, context: Context) -> Outcome:
        lang = context.lang
        state = without(context.state, "exercise", "menu")
        if inbound.channel not in FILE_CHANNELS:
            return Outcome(self.name, (Reply(t("data_export_elsewhere", lang)),), state=state)
        reply = Reply(t("data_export_ready", lang), document="export")
        return Outcome(self.name, (reply,), state=state)

    # Erasure ---------------------------------------------------------------------

    def _ask_delete(self, context: Context) -> Outcome:
        lang = context.lang
        options = (
            Option("erase:yes", t("data_delete_yes", lang)),
            Option("erase:no", t("data_delete_no", lang)),
        )
        state = {
            **without(context.state, "exercise", "menu", "correction"),
            "exercise": {
                "agent": self.name,
                "type": "confirm_delete",
                "asked_at": self.clock().isoformat(),
            },
        }
        return Outcome(self.name, (Reply(t("data_delete_confirm", lang), options),), state=state)

    def _stale(self, exercise: dict[str, Any]) -> bool:
        """Whether the question was asked too long ago for a bare "yes" to answer it."""
        try:
            asked = datetime.fromisoformat(str(exercise.get("asked_at")))
        except ValueError:
            return True
        return self.clock() - asked > CONFIRM_WITHIN

    def _erase(self, inbound: Inbound, context: Context) -> Outcome:
        """Erase the learner and queue the goodbye in the same transaction.

        The message being processed is marked done and scrubbed by the erasure, so the
        worker finds it already handled and stores no turn: nothing of the learner is
        written after the erasure. The goodbye's outbox row is emptied once it is sent.
        """
        inbox_id = _inbox_id(context.request_id)
        if inbox_id is None:  # not from the inbox: nothing could stop the turn being stored
            return Outcome(self.name, (Reply(t("internal_error", context.lang)),))
        goodbye = Reply(t("data_deleted", context.lang), scrub_when_sent=True)
        correlation_id = str(logs.current().get("correlation_id") or logs.new_correlation_id())

        def queue_goodbye(connection: Connection) -> None:
            outbox.add(
                connection,
                inbox_id=inbox_id,
                learner_key=context.learner_key,
                channel=inbound.channel,
                chat_id=inbound.chat_id,
                replies=(goodbye,),
                correlation_id=correlation_id,
            )

        erase.erase(
            self.engine,
            self.redis,
            context.learner_key,
            confirming_inbox_id=inbox_id,
            also=queue_goodbye,
            hot=self.hot,
        )
        return Outcome(self.name, (), erased=True)

    def _lapse(self, inbound: Inbound, context: Context) -> Outcome:
        """Something else entirely: the list or question closes and the message goes on."""
        state = without(context.state, "exercise")
        if self.fallback is not None:
            return self.fallback.handle(inbound, replace(context, state=state))
        return self._listing(replace(context, state=state))


def _confirmation(inbound: Inbound) -> bool | None:
    """True for yes, False for no, None for anything else."""
    if inbound.button in ("erase:yes", "erase:no"):
        return inbound.button == "erase:yes"
    choice = parse_choice(inbound.text, 2)
    if choice is not None:
        return choice == 0
    words = fold(inbound.text).split()
    if not words:
        return None
    if words[0] in _YES:
        return True
    if words[0] in _NO:
        return False
    return None


def _inbox_id(request_id: str) -> int | None:
    """The inbox row behind a turn's request id (``inbox-<id>``)."""
    number = request_id.removeprefix("inbox-")
    return int(number) if request_id.startswith("inbox-") and number.isdigit() else None
