"""Benchmarks of the flow engine: `python -m bench.<name> --help` (see docs/benchmarks.md)."""
