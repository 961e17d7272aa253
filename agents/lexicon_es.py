"""Spanish word knowledge for the offline checks: morphology and word frequencies.

Morphology comes from Apertium's Spanish analyser and generator (Debian
packages ``apertium-eng-spa`` and ``lttoolbox``), each run as one long-lived
``lt-proc -z`` process per worker process, started on first use. Frequencies
come from ``wordfreq``. When a resource is missing, :func:`analyser` returns
``None`` (or :func:`zipf` returns 0.0) and the checks that need it are skipped.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

APERTIUM_DIR = Path("/usr/share/apertium/apertium-eng-spa")
ANALYSER_BIN = APERTIUM_DIR / "spa-eng.automorf.bin"
GENERATOR_BIN = APERTIUM_DIR / "eng-spa.autogen.bin"
#: Characters with a meaning in Apertium's stream format, sent as spaces instead.
_STREAM_SPECIAL = str.maketrans({c: " " for c in "^$/\\<>[]{}@*#+~\0"})
#: Failed calls in a row after which the analyser is given up on in this process.
MAX_FAILURES = 5
_UNIT = re.compile(r"\^([^$]*)\$")
_TAG = re.compile(r"<([^>]+)>")


@dataclass(frozen=True, slots=True)
class Reading:
    """One analysis of a word: lemma and tags (``<n><f><sg>`` -> ``("n", "f", "sg")``).

    ``more`` holds the tags of any further parts (``del`` = de + el, a verb's
    enclitic pronouns).
    """

    lemma: str
    tags: tuple[str, ...]
    more: tuple[tuple[str, ...], ...] = ()

    @property
    def pos(self) -> str:
        return self.tags[0] if self.tags else ""

    def has(self, *tags: str) -> bool:
        return all(tag in self.tags for tag in tags)


@dataclass(frozen=True, slots=True)
class Token:
    """A word (or a fixed multiword like "por ejemplo") and every analysis of it."""

    text: str
    start: int
    end: int
    readings: tuple[Reading, ...]

    @property
    def known(self) -> bool:
        return bool(self.readings)

    @property
    def lower(self) -> str:
        return self.text.casefold()

    def poses(self) -> set[str]:
        return {reading.pos for reading in self.readings}

    def only(self, *poses: str) -> bool:
        """Known, and every analysis has one of ``poses`` as its part of speech."""
        return self.known and all(reading.pos in poses for reading in self.readings)

    def can_be(self, pos: str, *tags: str) -> bool:
        return any(r.pos == pos and r.has(*tags) for r in self.readings)


class _Transducer:
    """One ``lt-proc -z`` process: a request is a NUL-terminated text, so is the answer."""

    def __init__(self, binary: Path, *flags: str) -> None:
        self._argv = [shutil.which("lt-proc") or "lt-proc", "-z", *flags, str(binary)]
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._pid = 0  # the worker that started it: a forked child starts its own
        self.failed = False
        self._failures = 0  # in a row; MAX_FAILURES turns the checks off for good

    def _start(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._pid != os.getpid() or self._process.poll() is not None:
            if self._process is None:
                atexit.register(self.close)
            elif self._pid == os.getpid():
                self._discard()  # it died: close our ends of its pipes
            self._process = subprocess.Popen(
                self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
            self._pid = os.getpid()
        return self._process

    def close(self) -> None:
        """End this worker's process (a forked child leaves its parent's alone)."""
        with self._lock:
            process, self._process = self._process, None
            if process is None or self._pid != os.getpid():
                return
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
            process.terminate()
            process.wait(timeout=5)

    def run(self, text: str) -> str | None:
        """The transducer's answer; a crashed process is restarted, up to a few times in a row."""
        if self.failed:
            return None
        with self._lock:
            for _attempt in range(2):
                try:
                    answer = self._ask(text)
                except OSError:
                    self._discard()
                    self._failures += 1
                    if self._failures >= MAX_FAILURES:
                        logger.warning("lt-proc keeps failing; Spanish morphology checks are off")
                        self.failed = True
                        return None
                    continue
                self._failures = 0
                return answer
        return None

    def _ask(self, text: str) -> str:
        process = self._start()
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(text.encode("utf-8") + b"\0")
        process.stdin.flush()
        chunks = []
        while True:
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                raise OSError("lt-proc closed its output")
            chunks.append(chunk)
            if chunk.endswith(b"\0"):
                break
        return b"".join(chunks)[:-1].decode("utf-8", errors="replace")

    def _discard(self) -> None:
        """Forget a broken process (killed if still there) so the next call starts afresh."""
        process, self._process = self._process, None
        if process is None or self._pid != os.getpid():
            return
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):  # a dead reader: the flush fails
                    stream.close()
        process.kill()
        process.wait(timeout=5)


def _reading(text: str) -> Reading | None:
    if text.startswith("*"):  # unknown to the dictionary
        return None
    parts = text.split("+")
    heads = []
    for part in parts:
        lemma = part.split("<", 1)[0]
        heads.append((lemma, tuple(_TAG.findall(part))))
    return Reading(heads[0][0], heads[0][1], tuple(tags for _, tags in heads[1:]))


class Analyser:
    """Splits Spanish text into :class:`Token` with all their analyses."""

    def __init__(self) -> None:
        self._analyse = _Transducer(ANALYSER_BIN, "-w")
        self._generate = _Transducer(GENERATOR_BIN, "-g")
        self._forms: dict[tuple[str, tuple[str, ...]], str | None] = {}
        self._known: dict[str, bool] = {}

    def close(self) -> None:
        self._analyse.close()
        self._generate.close()

    def tokens(self, text: str) -> list[Token] | None:
        """Every word and punctuation mark of ``text`` with its offsets (None: no analyser)."""
        clean = text.translate(_STREAM_SPECIAL)
        output = self._analyse.run(clean + "\n")  # a blank ends the last word
        if output is None:
            return None
        found: list[Token] = []
        cursor = 0
        for unit in _UNIT.finditer(output):
            surface, *analyses = unit.group(1).split("/")
            start = clean.find(surface, cursor)
            if start < 0:
                spaced = re.compile(r"\s+".join(map(re.escape, surface.split())))
                match = spaced.search(clean, cursor)
                if match is None:
                    continue
                start, end = match.span()
            else:
                end = start + len(surface)
            readings = tuple(r for r in map(_reading, analyses) if r is not None)
            found.append(Token(text[start:end], start, end, readings))
            cursor = end
        return found

    def known(self, words: list[str]) -> set[str]:
        """Which of ``words`` have an analysis (one request for all, answers cached)."""
        asked = [w for w in dict.fromkeys(words) if w not in self._known]
        if asked:
            tokens = self.tokens(" . ".join(asked)) or []
            found = [t for t in tokens if t.text != "."]
            if len(found) != len(asked) or any(
                t.text != w for t, w in zip(found, asked, strict=True)
            ):
                found = [t for w in asked for t in (self.tokens(w) or [])[:1]]
            if len(self._known) > 65536:
                self._known.clear()
            for word, token in zip(asked, found, strict=False):
                self._known[word] = token.known and token.text == word
        return {w for w in words if self._known.get(w)}

    def generate(self, lemma: str, tags: tuple[str, ...]) -> str | None:
        """The surface form of ``lemma`` with ``tags`` (None: the generator cannot make it)."""
        key = (lemma, tags)
        if key not in self._forms:
            form = None
            if lemma and lemma == lemma.translate(_STREAM_SPECIAL):
                tagged = "".join(f"<{tag}>" for tag in tags)
                output = self._generate.run(f"^{lemma}{tagged}$ ")
                form = (output or "").strip().lstrip("~") or None
                if form is not None and form.startswith(("#", "@", "*")):
                    form = None
            if len(self._forms) > 65536:
                self._forms.clear()
            self._forms[key] = form
        return self._forms[key]


@functools.cache
def analyser() -> Analyser | None:
    """The process-wide analyser, or None when Apertium's Spanish data is not installed."""
    if shutil.which("lt-proc") is None or not ANALYSER_BIN.exists():
        logger.info("Apertium Spanish data not installed; morphology checks are skipped")
        return None
    if not GENERATOR_BIN.exists():
        return None
    return Analyser()


def zipf(word: str, language: str = "es") -> float:
    """How common ``word`` is in ``language`` on the Zipf scale (0.0: unknown or no wordfreq)."""
    return _zipf(word.casefold(), language)


@functools.lru_cache(maxsize=65536)
def _zipf(word: str, language: str) -> float:
    try:
        from wordfreq import zipf_frequency
    except ImportError:  # pragma: no cover - a dependency, but the checks fail open
        return 0.0
    return float(zipf_frequency(word, language, wordlist="large" if language == "es" else "best"))


#: Nouns used with either gender (la modelo, el/la mar, el/la capital) where the
#: dictionary lists only one.
EITHER_GENDER = frozenset(
    """modelo bebé piloto testigo miembro cliente presidente jefe paciente joven guía radio mar
    arte azúcar internet calor capital orden cura frente cometa corte final pendiente
    génesis maratón sartén personaje genio ángel lente""".split()
)

#: Adjectives of a passing state or feeling: they go with estar ("estoy cansado").
STATE_ADJECTIVES = frozenset(
    """cansado enojado enfadado preocupado emocionado ocupado sentado muerto embarazado
    enamorado contento estresado agotado harto dormido lleno roto asustado perdido
    mojado sorprendido deprimido frustrado confundido equivocado avergonzado vacío
    decepcionado""".split()
)
#: Adjectives of identity or judgement: they go with ser ("es importante").
IDENTITY_ADJECTIVES = frozenset(
    """importante necesario posible imposible inteligente famoso popular obvio verdad
    interesante conocido similar común responsable fundamental talentoso honesto generoso
    creativo esencial
    mexicano americano estadounidense chino japonés coreano español inglés francés alemán
    italiano cubano salvadoreño guatemalteco colombiano peruano chileno argentino filipino
    vietnamita indio canadiense hondureño nicaragüense venezolano puertorriqueño""".split()
)
#: Nouns for people: after a verb of seeing, visiting, helping... they take the personal "a".
PERSON_NOUNS = frozenset(
    """madre padre mamá papá hermano hermana abuelo abuela tío tía primo prima hijo hija
    amigo amiga novio novia esposo esposa marido mujer familia profesor profesora maestro
    maestra jefe jefa compañero compañera vecino vecina niño niña hombre chico chica persona
    gente padres abuelos hermanos hijos amigos primos tíos estudiante doctor doctora médico
    médica bebé nieto nieta sobrino sobrina suegro suegra pareja entrenador entrenadora
    presidente cliente paciente mamá""".split()
)
#: Nouns of professions and roles: "estoy estudiante" is "soy estudiante".
PROFESSION_NOUNS = frozenset(
    """estudiante profesor profesora maestro maestra médico médica doctor doctora abogado
    abogada ingeniero ingeniera enfermero enfermera camarero camarera mesero mesera cocinero
    cocinera policía bombero artista músico música cantante actor actriz escritor escritora
    periodista científico científica arquitecto arquitecta dentista veterinario veterinaria
    psicólogo psicóloga programador programadora diseñador diseñadora fotógrafo fotógrafa
    piloto entrenador entrenadora bailarín bailarina empresario empresaria político política
    investigador investigadora contador contadora secretario secretaria carpintero
    carpintera vendedor vendedora gerente director directora productor productora rapero
    rapera comediante atleta futbolista tenista activista estudiante consejero consejera
    farmacéutico farmacéutica agricultor agricultora granjero granjera""".split()
)
#: Places that take an article after "a" and "en" ("voy a la escuela"; but "a casa", "a clase").
PLACE_NOUNS = frozenset(
    """escuela universidad colegio iglesia playa parque cine biblioteca tienda mercado hospital
    gimnasio supermercado aeropuerto restaurante oficina museo montaña lago río piscina
    estación centro zoológico teatro campus futuro pasado mundo extranjero cafetería
    residencia laboratorio clínica farmacia banco ciudad pueblo""".split()
)


def known_words(words: list[str]) -> set[str]:
    """Which of ``words`` the Spanish dictionary knows (empty when it is not installed)."""
    morphology = analyser()
    if morphology is None or not words:
        return set()
    return morphology.known(words)
