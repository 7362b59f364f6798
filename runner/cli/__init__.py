"""The `scenario` command line.

A command is a short burst of allocation (a library's YAML nodes, rendered objects, compiled templates). With
Python's default threshold of 700 allocations the cyclic collector ran about 150 times in one `scenario validate`,
mostly rescanning what the imports had created. Collect every 100,000 allocations instead (not once in that
validation); the few cycles a long run makes are still collected. At the end, runner.cli.main.entry freezes what is
left rather than have the interpreter's shutdown collect it."""
import gc

gc.set_threshold(100_000, 20, 20)
