"""``python -m bench.voice [--runs N] [--write]``: a voice note to transcript and scores.

Times the pipeline a voice note goes through after its download, in one
process on the machine's cores: decoding in memory (PyAV), transcription with
faster-whisper ``tiny.en`` (int8, greedy) and scoring, for a real 11-second
recording (``jfk.flac``) and a 9-10-second espeak-ng sentence sent as OGG/Opus
like a Telegram voice note. The model is loaded (and its load timed) before
the runs; the RSS of the process with the model loaded is reported. Target
(issue): a 10 s note to transcript and scores under 1.5 s on 2 cores; a worker
with the model loaded under 400 MB.

It also prices a voice exchange on the paid back ends (Groq's hosted Whisper
and ElevenLabs, at the prices in the settings, which the ledger charges with
:mod:`voice.costs`) against a published figure of $0.036 per 30-second exchange.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from agents.library import Library
from bench import machine, markdown
from tutor.llm.ledger import price
from tutor.settings import Settings
from voice import costs
from voice.decode import decode
from voice.score import score
from voice.speech import Espeak
from voice.stt import FasterWhisper

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT.parent / "shared" / "reference" / "data" / "audio"
DOC = ROOT / "docs" / "BENCHMARKS.md"
SENTENCE = (
    "The chairs and tables are in his rooms, and every morning we walk to the park "
    "near the river before the shops open."
)


def _spoken_ogg() -> bytes:
    """A sentence spoken by espeak-ng, encoded as OGG/Opus as a phone would send it."""
    with tempfile.TemporaryDirectory() as folder:
        wav, ogg = Path(folder) / "s.wav", Path(folder) / "s.ogg"
        subprocess.run(
            ["espeak-ng", "-v", "en-us", "-s", "115", "-w", str(wav), SENTENCE], check=True
        )
        subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(wav), "-c:a", "libopus", "-b:a", "24k", str(ogg)],
            check=True,
        )
        return ogg.read_bytes()


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


PUBLISHED_USD = 0.036  # per 30 s exchange (15 s spoken each way), a comparable tutor
NOTE_SECONDS = 15.0
REPLY_CHARS_PER_SECOND = 15  # about what a slow, clear voice reads in a second
TURN_TOKENS = (900, 120)  # a conversation turn's prompt and reply on the fast tier


def exchange_costs() -> list[tuple[str, str, str, str, str]]:
    """US dollars per exchange: what the tutor spends, by part, on the paid back ends."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    sentences = [
        drill.sentence
        for curriculum in (Library().get(key) for key in ("es-for-en@1", "en-for-es@1"))
        if curriculum is not None
        for unit in curriculum.units()
        for drill in unit.drills
    ]
    drill_chars = statistics.mean(len(sentence) for sentence in sentences)
    heard = costs.transcription_cost(settings, NOTE_SECONDS)
    drill = costs.speech_cost(settings, "x" * round(drill_chars))
    spoken_reply = costs.speech_cost(settings, "x" * round(NOTE_SECONDS * REPLY_CHARS_PER_SECOND))
    turn = price(*TURN_TOKENS, settings.groq_price_input, settings.groq_price_output)
    rows = []
    for name, parts in (
        ("Pronunciation drill (scored offline, model answer spoken)", (heard, 0.0, drill)),
        ("For comparison: a conversation turn spoken both ways", (heard, turn, spoken_reply)),
    ):
        total = sum(parts)
        rows.append(
            (
                name,
                *(f"${part:.5f}" for part in parts),
                f"${total:.4f} ({total / PUBLISHED_USD:.0%} of $0.036)",
            )
        )
    return rows


def measure(runs: int) -> dict[str, object]:
    model = FasterWhisper()
    started = time.perf_counter()
    model.load()
    load_s = time.perf_counter() - started
    samples = {
        "jfk.flac (11.0 s, FLAC)": ((AUDIO / "whisper" / "jfk.flac").read_bytes(), None),
        "espeak-ng sentence (OGG/Opus)": (_spoken_ogg(), SENTENCE),
    }
    speaker = Espeak()
    rows = []
    for name, (data, reference) in samples.items():
        timings = []
        seconds = 0.0
        for _ in range(runs):
            began = time.perf_counter()
            audio = decode(data)
            transcript = model.transcribe(audio.samples, language="en")
            score(reference or transcript.text, transcript)
            timings.append(time.perf_counter() - began)
            seconds = audio.duration
        timings.sort()
        trips = []
        for _ in range(runs):
            began = time.perf_counter()
            audio = decode(data)
            transcript = model.transcribe(audio.samples, language="en")
            score(reference or transcript.text, transcript)
            speaker.speak(reference or transcript.text, "en", slow=True)
            trips.append(time.perf_counter() - began)
        trips.sort()
        rows.append(
            (
                name,
                f"{seconds:.1f} s",
                f"{statistics.median(timings):.2f} s",
                f"{timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]:.2f} s",
                f"{seconds / statistics.median(timings):.0f}×",
                f"{statistics.median(trips):.2f} s",
                f"{trips[min(len(trips) - 1, round(0.95 * (len(trips) - 1)))]:.2f} s",
            )
        )
    return {"load_s": load_s, "rows": rows, "rss_mb": _rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.voice", description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    result = measure(args.runs)
    table = markdown.table(
        (
            "Voice note",
            "Length",
            "Decode + transcribe + score p50",
            "p95",
            "Faster than real time",
            "Round trip with a spoken reply p50",
            "p95",
        ),
        result["rows"],  # type: ignore[arg-type]
    )
    cpu = machine._first("/proc/cpuinfo", r"^model name\s*:\s*(.+)$")
    cores = len(os.sched_getaffinity(0))
    summary = (
        f"Model load {result['load_s']:.2f} s; RSS with the model loaded "
        f"{result['rss_mb']:.0f} MB (target under 400 MB)."
    )
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    priced = markdown.table(
        ("Exchange", "Transcription (Groq)", "Model turn (Groq)", "Speech (ElevenLabs)", "Total"),
        exchange_costs(),
    )
    pricing = (
        f"Prices from the settings: Groq `{settings.groq_stt_model}` "
        f"${settings.groq_stt_price_per_hour:g} an hour of audio (at least "
        f"{costs.GROQ_MINIMUM_SECONDS:g} s a request), ElevenLabs `{settings.elevenlabs_model_id}` "
        f"${settings.elevenlabs_price_per_1k_chars:g} per 1,000 characters, Groq "
        f"`{settings.groq_model}` ${settings.groq_price_input:g}/${settings.groq_price_output:g} "
        f"per million tokens in/out ({TURN_TOKENS[0]} in, {TURN_TOKENS[1]} out a turn). The "
        f"learner's note is {NOTE_SECONDS:g} s; a drill's model answer is the mean length of the "
        "curricula's drill sentences; a spoken reply reads "
        f"{REPLY_CHARS_PER_SECOND} characters a second. Identical texts are spoken once, so "
        "repeated drill sentences cost nothing after the first learner; with the local model "
        "and espeak-ng an exchange costs nothing but CPU."
    )
    print(table)
    print(summary)
    print(priced)
    print(pricing)
    if args.write:
        markdown.write_block(
            DOC,
            "voice",
            "\n".join(
                [
                    "## Voice notes: decode, transcribe, score",
                    "",
                    "Each run decodes the note's bytes in memory, transcribes them with "
                    "faster-whisper `tiny.en` (int8, greedy, word timestamps) and scores them; the "
                    "round trip adds the spoken reply (espeak-ng, slow, encoded to OGG/Opus in "
                    "memory, no cache). Targets: a 10 s note under 1.5 s on 2 cores, the round "
                    "trip with offline speech under 2.5 s, a worker with the model loaded under "
                    "400 MB. Network transfer to and from the channel is not included.",
                    "",
                    f"Command: `.venv/bin/python -m bench.voice --runs {args.runs} --write`. "
                    "Run on "
                    f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {cores} cores, {cpu}, "
                    f"{platform.python_implementation()} {platform.python_version()}, "
                    f"faster-whisper {machine._version('faster-whisper')}.",
                    "",
                    table,
                    "",
                    summary,
                    "",
                    "### What a voice exchange costs on the paid back ends",
                    "",
                    priced,
                    "",
                    pricing,
                    "",
                ]
            ),
        )


if __name__ == "__main__":
    main()
