"""The memory-tier benchmark at a tiny scale on SQLite, so it cannot rot."""

from __future__ import annotations

import argparse
import json
import math
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from bench import memory as bench
from tutor.db import make_engine
from tutor.learners import turn_summary
from tutor.messages import Channel, Inbound, Kind, Media, Reply

SHAPE = bench.Shape(learners=50, days=14, seed=3)


def test_generated_documents_have_the_workers_shapes() -> None:
    rows = next(bench.generate(SHAPE, chunk=10))[1]
    first = rows.turns[0]
    inbound, reply, at = json.loads(first[3]), json.loads(first[4]), first[5]
    media = Media.from_dict(inbound["media"]) if inbound["media"] else None
    built = Inbound(
        Channel(inbound["channel"]),
        inbound["chat_id"],
        inbound["learner_key"],
        inbound["provider_message_id"],
        Kind(inbound["kind"]),
        inbound["text"],
        media,
        sent_at=datetime.fromisoformat(inbound["sent_at"]),
    )
    assert built.to_dict() == inbound
    assert reply == [Reply(reply[0]["text"]).to_dict()]
    session = next(c for c in rows.conversations if c[0] == first[1])
    document = json.loads(session[5])
    summary = json.loads(session[6])
    assert document["version"] == 1 and summary["open"] is False
    assert summary["turns"] == len(document["turns"])
    when = datetime.fromisoformat(inbound["sent_at"])
    assert at == when.replace(tzinfo=None).isoformat(" ") + ".000000"
    assert turn_summary(first[2], inbound, reply, when) in document["turns"]


def test_generation_is_deterministic() -> None:
    one = [rows for _, rows in bench.generate(SHAPE, chunk=20)]
    two = [rows for _, rows in bench.generate(SHAPE, chunk=20)]
    assert one == two
    other = next(bench.generate(bench.Shape(50, 14, 4), chunk=20))[1]
    assert other.turns != one[0].turns


def test_load_run_resume_and_assemble_on_sqlite(tmp_path: Path, redis_url: str) -> None:
    bases = bench.ensure_bases(SHAPE, ("sqlite",), "", folder=tmp_path, say=lambda _: None)
    location, seconds = bases["sqlite"]
    assert seconds is not None and seconds > 0
    assert bench.ensure_bases(SHAPE, ("sqlite",), "", folder=tmp_path)["sqlite"] == (location, None)

    url = bench.sqlite_copy(Path(location), tmp_path / "run.sqlite3")
    engine = make_engine(url)
    counts = bench.count_rows(engine)
    with engine.connect() as connection:
        old = connection.execute(
            text("SELECT count(*) FROM turns WHERE created_at < :cutoff"),
            {"cutoff": bench._stamp(bench.NOW - timedelta(days=90))},
        ).scalar_one()
    engine.dispose()
    assert counts["learners"] == 50 and counts["memory_notes"] == counts["memory_runs"] == 0
    assert counts["turns"] > 50 * 5 and counts["error_events"] > 0 and old > 0

    clean = bench.run_nightly(url)
    assert clean.seen == clean.done == 50 and not clean.killed
    assert clean.notes > 50 and clean.pruned_turns == old
    assert clean.cpu_seconds > 0 and clean.peak_rss_mib > 10
    totals = bench.memory_totals(url)
    assert totals == (clean.notes, 50)

    resumed = bench.resume_check(url, clean, totals, say=lambda _: None)
    assert resumed.same and resumed.runs == 50
    assert resumed.rerun.done + resumed.done_when_killed == 50

    latency = bench.measure_assembly(url, redis_url, 50, 40, seed=1, primed=20)
    assert len(latency.ms) == 40 and latency.hits == 40 and latency.notes_found > 0
    assert all(math.isfinite(value) and value > 0 for value in latency.ms)
    assert latency.p(50) <= latency.p(95) <= latency.p(99)


def test_one_backend_end_to_end_and_its_report(tmp_path: Path, redis_url: str) -> None:
    base = bench.ensure_bases(SHAPE, ("sqlite",), "", folder=tmp_path)["sqlite"]
    args = argparse.Namespace(
        learners=50, days=14, backend="sqlite", queries=30, seed=0, no_resume=False,
        resume_learners=0, parallel=False, pg_url="", redis_url=redis_url, note=[],
    )  # fmt: skip
    result = bench.run_backend("sqlite", SHAPE, base, base, args, say=lambda _: None)
    assert result.clean.done == 50 and result.clean.statements > 50 * 5
    assert result.resumed is not None and result.resumed.same
    assert not (tmp_path / "memory-run.sqlite3").exists()

    run = bench.Run(result, bench._command(args), 12.0, "2026-11-26 12:00 UTC")
    block = bench.section([run], args)
    assert "| SQLite | 50 |" in block
    assert "--learners 50 --days 14 --backend sqlite --queries 30 --write" in block
    assert bench.summary([result]).startswith(f"sqlite_p95_ms={result.latency.p(95):.2f} ")
