"""``python -m bench.fuzz TARGET [--runs N | --seconds S]``: coverage-guided fuzzing (atheris).

Targets, each the code that reads untrusted bytes or text:

- ``webhooks``: a body as JSON, then what the webhook endpoints parse it with (Telegram's
  pre-checkout and update parsers, WhatsApp's webhook parser and its Pay statuses, the Stripe
  event reader); only :class:`~tutor.errors.PayloadError` may come out.
- ``curriculum``: text through :func:`agents.curriculum.parse` and the store's ``header``;
  only :class:`~agents.curriculum.CurriculumError` may come out.
- ``audio``: bytes through :func:`voice.decode.decode`; only ``AudioError`` may come out.
  FFmpeg is not instrumented, so coverage guides the search only through our own code.
- ``answers``: an expected form and an answer through :func:`agents.answers.check_answer`,
  and the answer through the English and Spanish checks; no exception (a ValueError only for
  an expected text without a form).

Each target runs in a child process (``atheris.Fuzz`` ends its process), with a corpus kept
in ``var/fuzz/TARGET/corpus`` (seeded with real payloads, curricula and voice notes on first
use) and crashing inputs written to ``var/fuzz/TARGET/``; the parent reads libFuzzer's final
statistics and prints runs, runs/s, corpus growth and crashes. ``all`` runs every target in
turn. The exit status is 1 when an input crashed a target or hit the per-input timeout.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "var" / "fuzz"
TARGETS = ("webhooks", "curriculum", "audio", "answers")
#: The packages whose code coverage guides each target (instrumented when imported).
INSTRUMENT = {
    "webhooks": ["tutor.channels", "tutor.text", "payments", "telegram"],
    "curriculum": ["agents.curriculum", "tutor.curricula", "yaml"],
    "audio": ["voice"],
    "answers": ["agents.answers", "agents.checks_en", "agents.checks_es", "agents.rules"],
}
_STARTED = "bench.fuzz: fuzzing from"
MAX_LEN = {"webhooks": 8192, "curriculum": 16384, "audio": 65536, "answers": 4096}


# The targets (built inside the child, after instrumentation is on) ---------------------


def _webhooks() -> Callable[[bytes], None]:
    import copy
    import json

    from payments import stripe_events, whatsapp_pay
    from tutor.channels import telegram, whatsapp
    from tutor.errors import PayloadError

    def one_input(data: bytes) -> None:
        try:
            body = json.loads(data)
        except (ValueError, RecursionError):  # the endpoints answer 400 before parsing
            return
        try:
            if telegram.parse_pre_checkout(copy.deepcopy(body)) is None:
                telegram.parse_update(copy.deepcopy(body))
        except PayloadError:
            pass
        try:
            for status in whatsapp.parse_webhook(copy.deepcopy(body)).payments:
                whatsapp_pay.events_from_status(status)
        except PayloadError:
            pass
        if isinstance(body, dict):
            stripe_events.events_from(body, lambda link: None)

    return one_input


def _curriculum() -> Callable[[bytes], None]:
    from agents.curriculum import CurriculumError, parse
    from tutor.curricula import header, version_line

    def one_input(data: bytes) -> None:
        text = data.decode("utf-8", errors="surrogateescape")
        try:
            parse(text, "fuzz")
        except CurriculumError:
            pass
        header(text)
        version_line(text)

    return one_input


def _audio() -> Callable[[bytes], None]:
    from voice.decode import AudioError, decode

    def one_input(data: bytes) -> None:
        try:
            decode(data, max_seconds=30)
        except AudioError:
            pass

    return one_input


def _answers() -> Callable[[bytes], None]:
    import atheris

    from agents.answers import check_answer, normalise
    from agents.checks_en import EnglishChecks
    from agents.checks_es import SpanishChecks

    english, spanish = EnglishChecks("en"), SpanishChecks("es")

    def one_input(data: bytes) -> None:
        provider = atheris.FuzzedDataProvider(data)
        language = provider.PickValueInList(["es", "en"])
        expected = provider.ConsumeUnicode(provider.ConsumeIntInRange(0, 80))
        answer = provider.ConsumeUnicode(provider.remaining_bytes())
        try:
            check_answer(expected, answer, language=language, explain_in=language)
        except ValueError:
            if any(normalise(part) for part in expected.replace(";", "/").split("/")):
                raise
        for checks in (english, spanish):
            for event in checks.check(answer):
                if not 0 <= event.start < event.end:
                    raise AssertionError(f"finding at impossible offsets: {event}")

    return one_input


BUILD: dict[str, Callable[[], Callable[[bytes], None]]] = {
    "webhooks": _webhooks,
    "curriculum": _curriculum,
    "audio": _audio,
    "answers": _answers,
}


# Seeds ----------------------------------------------------------------------------------


def _seeds(target: str) -> list[bytes]:
    """Real inputs to start the corpus from."""
    if target == "webhooks":
        import json

        from tests.reliability.test_properties_webhooks import SEEDS, STRIPE_SEEDS

        return [json.dumps(seed).encode() for seed in [*SEEDS, *STRIPE_SEEDS]]
    if target == "curriculum":
        from tests.reliability.test_properties_curricula import SMALL

        return [SMALL.encode(), b"id: x\nversion: 1\n", b"{a: [1, {b: 2}]}\n"]
    if target == "audio":
        from tests.reliability.test_properties_audio import SEEDS as NOTES

        return [note[: MAX_LEN["audio"]] for note in NOTES]
    return [b"\x00el perro\x00El  perro!", b"\x01an apple\x00a apple", b"\x00una casa\x00un casa"]


def _tokens(target: str) -> list[bytes]:
    """Words of the input's grammar for libFuzzer's dictionary: JSON keys and literals for
    the webhooks, the format's keys and values for curricula (mutations that keep the input
    parseable find far more code than flipped bytes in a JSON string)."""
    if target == "webhooks":
        import json

        from tests.reliability.test_properties_webhooks import SEEDS, STRIPE_SEEDS

        keys: set[str] = set()
        stack: list[Any] = [*SEEDS, *STRIPE_SEEDS]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                keys.update(node)
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, str) and len(node) < 24:
                keys.add(node)
        literals = [b"null", b"true", b"false", b"[]", b"{}", b'"\\ud800"', b"1e400", b"-0"]
        return sorted(json.dumps(key).encode() for key in keys) + literals
    if target == "curriculum":
        from tests.reliability.test_properties_curricula import SMALL_DATA

        words = {"id: ", "version: ", "levels:", "units:", "- code: ", "&a ", "*a", "<<: *a"}
        stack = [SMALL_DATA]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                words.update(f"{key}: " for key in node)
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
        return sorted(word.encode() for word in words)
    return []


def _dictionary(target: str, folder: Path) -> list[str]:
    """The libFuzzer flag naming the target's dictionary file (written here), if it has one."""
    tokens = _tokens(target)
    if not tokens:
        return []
    path = folder / "tokens.dict"
    lines = ['"' + "".join(_escaped(byte) for byte in token) + '"' for token in tokens]
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return [f"-dict={path}"]


def _escaped(byte: int) -> str:
    if byte in (ord('"'), ord("\\")) or not 32 <= byte < 127:
        return f"\\x{byte:02x}"
    return chr(byte)


def _seed_corpus(target: str, corpus: Path) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    if any(corpus.iterdir()):
        return
    for number, seed in enumerate(_seeds(target)):
        (corpus / f"seed-{number:03d}").write_bytes(seed)


def _child(target: str, flags: list[str]) -> None:
    """Fuzz ``target`` in this process; libFuzzer ends it (sys.exit) when done."""
    import atheris

    with atheris.instrument_imports(include=INSTRUMENT[target]):
        one_input = BUILD[target]()
    corpus = WORK / target / "corpus"
    _seed_corpus(target, corpus)
    flags = [*flags, *_dictionary(target, WORK / target)]
    atheris.Setup([sys.argv[0], *flags, str(corpus)], one_input)
    # The parent times the fuzzing from here (imports and seeding take seconds).
    print(f"{_STARTED} {time.time()}", file=sys.stderr, flush=True)
    atheris.Fuzz()


# The parent: run, read the statistics, report --------------------------------------------


@dataclass(frozen=True, slots=True)
class Result:
    target: str
    runs: int
    seconds: float
    new_units: int
    corpus: int
    peak_rss_mb: int
    crashed: bool
    artifacts: tuple[str, ...]

    @property
    def rate(self) -> float:
        return self.runs / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        verdict = "CRASH " + ", ".join(self.artifacts) if self.crashed else "no crash"
        return (
            f"{self.target:<11} {self.runs:>9,} runs in {self.seconds:6.1f} s = "
            f"{self.rate:8,.0f}/s; corpus {self.corpus} (+{self.new_units}); "
            f"peak RSS {self.peak_rss_mb} MB; {verdict}"
        )


def _stat(output: str, name: str) -> int:
    match = re.search(rf"stat::{name}:\s+(\d+)", output)
    return int(match.group(1)) if match else 0


def run(target: str, runs: int | None, seconds: float, timeout: int) -> Result:
    """Fuzz one target in a child process and read its statistics."""
    folder = WORK / target
    folder.mkdir(parents=True, exist_ok=True)
    flags = [
        f"-max_len={MAX_LEN[target]}",
        f"-timeout={timeout}",
        "-rss_limit_mb=4096",
        "-print_final_stats=1",
        f"-artifact_prefix={folder}/",
    ]
    flags.append(f"-runs={runs}" if runs is not None else f"-max_total_time={round(seconds)}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.fuzz", target, "--child", "--", *flags],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    ended = time.time()
    output = done.stdout + done.stderr
    match = re.search(rf"{_STARTED} ([0-9.]+)", output)
    elapsed = ended - float(match.group(1)) if match else time.perf_counter() - started
    (folder / "last.log").write_text(output, encoding="utf-8")
    artifacts = tuple(sorted(set(re.findall(r"Test unit written to (\S+)", output))))
    crashed = done.returncode != 0 or bool(artifacts)
    corpus = folder / "corpus"
    return Result(
        target=target,
        runs=_stat(output, "number_of_executed_units"),
        seconds=elapsed,
        new_units=_stat(output, "new_units_added"),
        corpus=sum(1 for _ in corpus.iterdir()) if corpus.exists() else 0,
        peak_rss_mb=_stat(output, "peak_rss_mb"),
        crashed=crashed,
        artifacts=artifacts,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("target", choices=[*TARGETS, "all"])
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--runs", type=int, help="inputs to try (libFuzzer -runs)")
    budget.add_argument("--seconds", type=float, default=60.0, help="time per target")
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args: Any
    args, flags = parser.parse_known_args(argv)
    if args.child:  # the libFuzzer flags follow "--"
        _child(args.target, [flag for flag in flags if flag != "--"])
        return 0  # pragma: no cover - libFuzzer exits first
    if flags:
        parser.error(f"unrecognized arguments: {' '.join(flags)}")
    targets = TARGETS if args.target == "all" else (args.target,)
    results = []
    for target in targets:
        result = run(target, args.runs, args.seconds, args.timeout)
        print(result.line(), flush=True)
        results.append(result)
    if any(result.crashed for result in results):
        print(f"crashing inputs and logs are in {WORK}/<target>/", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
