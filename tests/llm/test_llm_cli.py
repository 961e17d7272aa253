"""``tutor llm status|report`` and ``tutor simulate costs`` as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fakes.groq import DEFAULT_API_KEY as GROQ_KEY

TUTOR = Path(sys.executable).parent / "tutor"


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TUTOR_")}
    base.update(
        TUTOR_VAR_DIR=str(tmp_path / "var"), TUTOR_SECRET_KEY="x", TUTOR_LOG_LEVEL="WARNING", **env
    )
    return subprocess.run(
        [str(TUTOR), *args],
        cwd=tmp_path,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_status_without_models_says_the_offline_brain_answers(tmp_path: Path) -> None:
    result = _run(tmp_path, "llm", "status")
    assert result.returncode == 0, result.stderr
    assert "fast     not configured" in result.stdout
    assert "offline  always available" in result.stdout
    assert "Last errors:\n  none" in result.stdout


def test_status_with_groq_shows_its_breaker_and_budget(tmp_path: Path) -> None:
    result = _run(tmp_path, "llm", "status", TUTOR_GROQ_API_KEY=GROQ_KEY)
    assert result.returncode == 0, result.stderr
    assert "fast     groq · llama-3.3-70b-versatile · breaker closed" in result.stdout
    assert "groq       today 0/14400 requests" in result.stdout
    assert GROQ_KEY not in result.stdout + result.stderr


def test_report_and_simulation(tmp_path: Path) -> None:
    report = _run(tmp_path, "llm", "report", "--by", "agent", "--days", "7")
    assert report.returncode == 0, report.stderr
    assert report.stdout.splitlines()[0].split()[:2] == ["agent", "calls"]
    simulated = _run(tmp_path, "simulate", "costs", "--learners", "3", "--days", "2")
    assert simulated.returncode == 0, simulated.stderr
    assert "per active learner per month" in simulated.stdout
