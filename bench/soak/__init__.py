"""Soak and fault tests against gunicorn and PostgreSQL on this machine (docs/reliability.md)."""
