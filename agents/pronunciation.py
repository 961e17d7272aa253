"""Pronunciation (menu 3, and every voice note): drills from the curriculum, scored.

Starting the activity gives a drill of the learner's level: a sentence and the
sound it trains. A voice note is fetched from its channel, decoded in memory,
transcribed (the learner's target language passed to the recogniser) and
scored against the open drill's sentence, or against what the recogniser
heard when no drill is open: from the audio itself with the local model
(:mod:`voice.gop`), from the recogniser's word confidences otherwise
(:mod:`voice.score`). The reply names the words
and sounds to work on, with the drill's tip, and offers the next drill or
another try. A sound scored under 60 becomes a spaced-repetition card, and
drills for due sounds come first. Only the transcript and the scores are stored; the audio exists
in this call's variables and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

import httpx
from fsrs import Rating
from sqlalchemy import Engine, insert

from agents.base import Context, Outcome
from agents.curriculum import Drill
from agents.library import CurriculumAgent, Library, Placement, localised, pick, units_for, without
from tutor import cards
from tutor.i18n import language_name, name_of, t
from tutor.messages import Inbound, Kind, Reply
from tutor.models import pronunciation_attempts, utcnow
from tutor.settings import Settings
from voice import fetch
from voice import service as voice_service
from voice.decode import AudioError
from voice.gop import gop
from voice.score import Score, from_evidence, score, words_of
from voice.stt import FasterWhisper, Samples, SpeechError, Transcriber, Transcript, other_language

logger = logging.getLogger(__name__)

#: Cards of sounds to drill again ("sound:trilled_r").
SOUND_PREFIX = "sound:"
UNRECOGNISED_LOGPROB = -0.8  # below it, with none of the drill's words heard: ask


class PronunciationAgent(CurriculumAgent):
    name = "pronunciation"

    def __init__(
        self,
        library: Library,
        engine: Engine,
        http: httpx.Client,
        settings: Settings,
        transcriber: Callable[[], Transcriber] | None = None,
        clock: Callable[[], datetime] = utcnow,
        voice_url: Callable[[str, str], str | None] = lambda text, language: None,
    ) -> None:
        super().__init__(library)
        self.voice_url = voice_url
        self.engine = engine
        self.http = http
        self.settings = settings
        self.transcriber = transcriber
        self.clock = clock

    def start(self, context: Context) -> Outcome:
        return self.placed(context, lambda placement: self._drill(context, placement, ""))

    def handle(self, inbound: Inbound, context: Context) -> Outcome:
        if inbound.kind not in (Kind.VOICE, Kind.AUDIO):
            return self.start(context)
        return self.placed(context, lambda placement: self._attempt(inbound, context, placement))

    # A drill -------------------------------------------------------------------

    def _drill(self, context: Context, placement: Placement, lead: str) -> Outcome:
        lang = context.lang
        level = str(context.profile.get("level") or "A1")
        drills = [d for unit in units_for(placement.curriculum, level) for d in unit.drills]
        if not drills:
            return Outcome(self.name, (Reply(t("drill_none", lang)),))
        done = list(context.profile.get("drills_done", []))
        fresh = [d for d in drills if d.id not in done] or drills
        weak = self._due_sounds(context)
        targeted = [d for d in drills if weak & set(d.sounds)]
        drill: Drill = pick(targeted or fresh, f"{context.learner_key}:{len(done)}")
        text = t(
            "drill_ask",
            lang,
            sentence=drill.sentence,
            tip=localised(drill.tip, lang),
        )
        state = {
            **without(context.state, "exercise", "menu"),
            "exercise": {"agent": self.name, "drill": drill.id},
        }
        model_answer = self.voice_url(drill.sentence, placement.curriculum.target_language)
        reply = Reply(f"{lead}{text}" if lead else text, voice_url=model_answer)
        return Outcome(self.name, (reply,), state=state)

    def _open_drill(self, context: Context, placement: Placement) -> Drill | None:
        exercise = context.state.get("exercise")
        if not isinstance(exercise, dict) or exercise.get("agent") != self.name:
            return None
        for unit in placement.curriculum.units():
            for drill in unit.drills:
                if drill.id == exercise.get("drill"):
                    return drill
        return None

    # A voice note ----------------------------------------------------------------

    def _attempt(self, inbound: Inbound, context: Context, placement: Placement) -> Outcome:
        lang = context.lang
        target = placement.curriculum.target_language
        if not voice_service.hears(self.settings, target):
            text = t("voice_no_model", lang, language=language_name(target, lang))
            return Outcome(self.name, (Reply(text),))
        try:
            samples, transcript = self._listen(inbound, target)
        except fetch.FetchError as exc:
            return Outcome(self.name, (Reply(t(f"voice_{exc.reason}", lang)),))
        except AudioError as exc:
            return Outcome(self.name, (Reply(t(f"voice_{exc.reason}", lang)),))
        except SpeechError:
            logger.exception("speech recognition failed")
            return Outcome(self.name, (Reply(t("voice_unavailable", lang)),))
        spoken = other_language(transcript, target)
        if spoken is not None:
            text = t("voice_other_language", lang, language=language_name(target, lang))
            return Outcome(self.name, (Reply(text),))
        language = language_name(target, lang)
        if not transcript.text.strip() or _no_speech(transcript):
            return Outcome(self.name, (Reply(t("voice_no_speech", lang, language=language)),))
        drill = self._open_drill(context, placement)
        reference = drill.sentence if drill is not None else transcript.text
        result = self._score(reference, samples, transcript, drill.sounds if drill else (), target)
        del samples
        self._store(context, drill, target, transcript, result)
        self._remember_sounds(context, result)
        feedback = self._feedback(transcript, result, drill, lang)
        if drill is not None and _unrecognised(result, transcript):
            feedback += "\n" + t("voice_not_the_sentence", lang, language=language)
        if drill is None:
            return Outcome(self.name, (Reply(feedback),))
        done = [*context.profile.get("drills_done", []), drill.id][-100:]
        profile = {**context.profile, "drills_done": done}
        if result.accuracy >= 80 and result.completeness >= 90:
            outcome = self._drill(context, placement, f"{feedback}\n\n{t('drill_next', lang)}\n")
            return Outcome(self.name, outcome.replies, profile=profile, state=outcome.state)
        again = t("drill_again", lang, sentence=drill.sentence)
        return Outcome(self.name, (Reply(f"{feedback}\n{again}"),), profile=profile)

    def _listen(self, inbound: Inbound, target: str) -> tuple[Samples, Transcript]:
        return voice_service.listen(
            self.http,
            self.settings,
            inbound,
            target,
            self._recogniser(),
            engine=self.engine,
            agent=self.name,
        )

    def _recogniser(self) -> Transcriber:
        if self.transcriber is not None:
            return self.transcriber()
        return voice_service.transcriber(self.settings)

    def _score(
        self,
        reference: str,
        samples: Samples,
        transcript: Transcript,
        sounds: Sequence[str],
        language: str,
    ) -> Score:
        """Scores measured on the audio when the local model is there (:mod:`voice.gop`),
        else the recogniser's word confidences (:mod:`voice.score`)."""
        recogniser = self._recogniser()
        if isinstance(recogniser, FasterWhisper) and words_of(reference):
            try:
                measured = gop(recogniser, samples, reference)
            except (SpeechError, ValueError):
                logger.warning("scoring on the audio failed; using the recogniser's confidence")
            else:
                triples = [(w.word, w.score, w.heard) for w in measured.words]
                return from_evidence(triples, transcript, sounds, language=language)
        return score(reference, transcript, sounds, language=language)

    def _due_sounds(self, context: Context) -> set[str]:
        """The sounds whose review is due: the next drill trains one of them."""
        if context.learner_id is None:
            return set()
        due = cards.due(self.engine, context.learner_id, now=self.clock(), kinds=("sound",))
        return {card.item_key.removeprefix(SOUND_PREFIX) for card in due}

    def _remember_sounds(self, context: Context, result: Score) -> None:
        """A sound scored under 60 becomes a review card; a sound with a card is reviewed
        by the score (80 and up Good, 60 and up Hard, else Again)."""
        if context.learner_id is None:
            return
        now = self.clock()
        for sound, value in result.sounds.items():
            key = SOUND_PREFIX + sound
            stored = cards.get(self.engine, context.learner_id, key)
            if stored is None:
                if value < 60:
                    cards.add(self.engine, context.learner_id, key, kind="sound", now=now)
                continue
            rating = Rating.Good if value >= 80 else Rating.Hard if value >= 60 else Rating.Again
            cards.review(
                self.engine,
                stored,
                rating,
                exercise="drill",
                verdict=str(value),
                request_id=f"{context.request_id or now.isoformat()}:{sound}",
                now=now,
            )

    def _store(
        self,
        context: Context,
        drill: Drill | None,
        language: str,
        transcript: Transcript,
        result: Score,
    ) -> None:
        if context.learner_id is None:
            return
        with self.engine.begin() as connection:
            connection.execute(
                insert(pronunciation_attempts),
                {
                    "learner_id": context.learner_id,
                    "created_at": self.clock(),
                    "drill_id": drill.id if drill else None,
                    "language": language,
                    "transcript": transcript.text.strip()[:1000],
                    "accuracy": result.accuracy,
                    "completeness": result.completeness,
                    "fluency": result.fluency,
                    "words": [
                        {"word": w.word, "score": w.score, "heard": w.heard} for w in result.words
                    ],
                    "sounds": dict(result.sounds),
                },
            )

    @staticmethod
    def _feedback(transcript: Transcript, result: Score, drill: Drill | None, lang: str) -> str:
        lines = [t("voice_heard", lang, text=transcript.text.strip())]
        lines.append(
            t(
                "voice_scores",
                lang,
                accuracy=result.accuracy,
                completeness=result.completeness,
                fluency=result.fluency,
            )
        )
        weak = result.weakest()
        if weak:
            listed = ", ".join(f"{w.word} ({w.score}%)" for w in weak)
            lines.append(t("voice_work_on", lang, words=listed))
        for sound, value in result.sounds.items():
            lines.append(t("voice_sound", lang, sound=name_of("sound", sound, lang), score=value))
        if drill is not None and (weak or any(v < 70 for v in result.sounds.values())):
            lines.append(f"💡 {localised(drill.tip, lang)}")
        if not weak and result.accuracy >= 80:
            lines.append(t("voice_well_done", lang))
        return "\n".join(lines)


def _unrecognised(result: Score, transcript: Transcript) -> bool:
    """None of the drill's words was heard and the recogniser is unsure of what it wrote:
    perhaps another language (an English-only model turns other languages into unsure
    English), perhaps a very poor attempt (2 in 100 of the speechocean762 recordings, both
    rated 4 or less out of 10 by the experts), so the attempt is still scored."""
    logprob = transcript.avg_logprob if transcript.avg_logprob is not None else 0.0
    return result.completeness == 0 and logprob < UNRECOGNISED_LOGPROB


def _no_speech(transcript: Transcript) -> bool:
    """Noise or music rather than words: the recogniser says it heard no speech, or is
    unsure of everything it wrote."""
    no_speech = transcript.no_speech_prob or 0.0
    logprob = transcript.avg_logprob if transcript.avg_logprob is not None else 0.0
    return no_speech > 0.6 and logprob < -0.7 or logprob < -1.2
