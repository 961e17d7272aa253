"""``python -m bench.intents [--data FILE] [--write]``: the offline intent router's accuracy.

Runs :class:`tutor.intents.IntentRouter` with no model (rules, then the
offline classifier) over the labelled learner messages in
``tests/data/intents.jsonl`` and reports accuracy overall, on the intents the
rules cover (target 95 %), on the rest, per intent, and the commonest
confusions. ``--write`` also puts them in docs/BENCHMARKS.md (its own section).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import markdown
from tutor.intents import RULE_COVERED, Intent, IntentRouter
from tutor.messages import Channel, Inbound, Kind, Media

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "intents.jsonl"
DOC = ROOT / "docs" / "BENCHMARKS.md"
TARGET = 0.95


@dataclass(frozen=True, slots=True)
class Example:
    id: int
    text: str
    learner: str
    kind: str
    state: dict[str, Any]
    intent: Intent

    @property
    def profile(self) -> dict[str, Any]:
        explain, target = self.learner.split(">")
        return {
            "target_language": target,
            "explanation_language": explain,
            "level": "A1",
            "onboarded": True,
        }

    def inbound(self) -> Inbound:
        kind = Kind(self.kind)
        media = Media("voice-1", "audio/ogg", 3.0, 12000, True) if kind is Kind.VOICE else None
        return Inbound(
            channel=Channel.TELEGRAM,
            chat_id="1",
            learner_key="telegram:1",
            provider_message_id=str(self.id),
            kind=kind,
            text="" if kind is Kind.BUTTON else self.text,
            media=media,
            button=self.text if kind is Kind.BUTTON else None,
            sent_at=datetime.now(UTC),
        )

    def real_state(self) -> dict[str, Any]:
        """The dataset's shorthand as the agents keep it."""
        state: dict[str, Any] = {}
        if self.state.get("menu"):
            state["menu"] = self.state["menu"]
        if self.state.get("correction"):
            state["correction"] = {"rule": "gender", "wrong": "el playa", "right": "la playa"}
        if self.state.get("exercise"):
            state["exercise"] = {"agent": "vocabulary", "kind": self.state["exercise"]}
        return state


def load(path: Path = DATA) -> list[Example]:
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            examples.append(
                Example(
                    row["id"],
                    row["text"],
                    row["learner"],
                    row["kind"],
                    row["state"],
                    Intent(row["intent"]),
                )
            )
    return examples


@dataclass(frozen=True, slots=True)
class Result:
    example: Example
    predicted: Intent
    source: str
    confidence: float


def run(examples: list[Example], router: IntentRouter | None = None) -> list[Result]:
    router = router or IntentRouter()
    results = []
    for example in examples:
        decision = router.classify(example.inbound(), example.profile, example.real_state())
        results.append(Result(example, decision.intent, decision.source, decision.confidence))
    return results


def accuracy(results: list[Result]) -> float:
    return sum(r.predicted is r.example.intent for r in results) / max(len(results), 1)


def report(results: list[Result], seconds: float) -> list[str]:
    covered = [r for r in results if r.example.intent in RULE_COVERED]
    rest = [r for r in results if r.example.intent not in RULE_COVERED]
    lines = [
        f"messages: {len(results)} ({len(covered)} with rule-covered intents, {len(rest)} other)",
        f"accuracy overall: {accuracy(results):.3f}",
        f"accuracy rule-covered intents: {accuracy(covered):.3f} (target {TARGET:.2f})",
        f"accuracy other intents (classifier): {accuracy(rest):.3f}",
        f"decided by rules: {sum(r.source == 'rules' for r in results)}; "
        f"by the offline classifier: {sum(r.source == 'classifier' for r in results)}",
        f"time per message: {seconds / max(len(results), 1) * 1e6:.0f} µs",
        "",
        "per intent (recall / precision / n):",
    ]
    for intent in Intent:
        truth = [r for r in results if r.example.intent is intent]
        said = [r for r in results if r.predicted is intent]
        if not truth and not said:
            continue
        recall = sum(r.predicted is intent for r in truth) / max(len(truth), 1)
        precision = sum(r.example.intent is intent for r in said) / max(len(said), 1)
        lines.append(f"  {intent.value:16} {recall:.3f} / {precision:.3f} / {len(truth)}")
    confusions = Counter(
        (r.example.intent.value, r.predicted.value)
        for r in results
        if r.predicted is not r.example.intent
    )
    if confusions:
        lines += ["", "commonest confusions (truth -> predicted: count):"]
        lines += [f"  {a} -> {b}: {n}" for (a, b), n in confusions.most_common(8)]
    return lines


def write(lines: list[str], data: Path) -> None:
    """The "intents" section of docs/BENCHMARKS.md."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    shown = data.relative_to(ROOT) if data.is_relative_to(ROOT) else data
    markdown.write_block(
        DOC,
        "intents",
        "## Intent routing (offline)\n\n"
        f"Written by `.venv/bin/python -m bench.intents --write` on {stamp} over `{shown}` "
        "(labelled learner messages from both kinds of learner; see tests/data/README.md). "
        "The router runs as it does with no model key: rules, then the cue classifier. "
        f"Target: {TARGET:.0%} on the intents the rules cover.\n\n"
        "```\n" + "\n".join(lines) + "\n```\n",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--write", action="store_true", help=f"also write {DOC.name}")
    parser.add_argument("--errors", action="store_true", help="list every misrouted message")
    args = parser.parse_args()
    examples = load(args.data)
    started = time.perf_counter()
    results = run(examples)
    lines = report(results, time.perf_counter() - started)
    print("\n".join(lines))
    if args.errors:
        for r in results:
            if r.predicted is not r.example.intent:
                print(
                    f"{r.example.id:4} {r.example.intent.value:>15} -> {r.predicted.value:15} "
                    f"{r.source} {r.example.state} {r.example.text!r}"
                )
    if args.write:
        write(lines, args.data)


if __name__ == "__main__":
    main()
