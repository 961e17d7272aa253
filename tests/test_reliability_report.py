"""The labels that docs/RELIABILITY.md is written from."""

from __future__ import annotations

from tests.support.reliability import Description, describe


def test_reads_both_labels_and_joins_wrapped_lines() -> None:
    docstring = """Injects: a worker killed
        part-way through a send.
    Checks: each message answered once.

    More prose that is not part of the label.
    """
    assert describe(docstring) == Description(
        "a worker killed part-way through a send.", "each message answered once."
    )


def test_a_missing_label_is_no_description() -> None:
    assert describe("Injects: bad bytes.") is None
    assert describe("Checks: no crash.") is None
    assert describe("A test with prose only.") is None
    assert describe(None) is None
    assert describe("Injects:\nChecks: nothing injected.") is None
