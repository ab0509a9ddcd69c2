"""End-to-end tests: `telemed serve` in subprocesses, real clients, nginx."""
