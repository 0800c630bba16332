"""Benchmarks for azbatch-operator (`make bench`): print tables, write bench/results/*.json."""
