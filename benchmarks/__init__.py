"""Benchmarks for trialbot: `uv run python -m benchmarks [--quick] [--only NAME] [--json FILE]` (see README.md)."""
