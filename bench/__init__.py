"""Benchmarks that print a table: `python -m bench.collector` for ingestion, `python -m bench` for analytics."""
