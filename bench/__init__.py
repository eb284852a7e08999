"""Benchmarks: throughput, latency and planning scale. Separate from tests; see bench/README.md."""
