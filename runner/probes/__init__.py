"""Probes: small measurement programs the runner launches on cluster nodes (one process per rank).

Each probe is a module runnable with `python -m runner.probes.<name>` and prints the text format
of the established tool it stands in for, so the existing parsers read its output unchanged.
Probes import heavy dependencies (torch) lazily and fail with one clear line when they are missing.
"""
