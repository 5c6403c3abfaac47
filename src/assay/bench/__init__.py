"""Benchmarks: load shapes, targets, request records, metrics and resource probes."""
