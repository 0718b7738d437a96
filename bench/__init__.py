"""Benchmarks: standalone scripts that measure one thing each and print JSON."""
