"""Test helpers: private PostgreSQL/Redis servers (see services.py)."""
