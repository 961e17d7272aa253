"""Benchmarks for the tutor service: ``python -m bench [webhook|worker|rss]``.

Results and the machine they were measured on go to ``docs/BENCHMARKS.md``.
"""
