"""Benchmarks: one command each, loopback only, figures written to docs/benchmarks.md."""
