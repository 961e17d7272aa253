"""Learner memory: the hot tier (Redis), the session store, nightly summaries."""
