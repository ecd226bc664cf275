"""Benchmarks: what the hole costs beside the programs it runs."""
