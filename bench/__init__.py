"""Benchmarks: scale data and page latencies (not part of `make test`)."""
