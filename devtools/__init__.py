"""Helpers for developing the service: starting it for tests and benchmarks."""
