"""Small helpers shared by the parsers: launcher prefixes, numbers, options, metric maps."""
from __future__ import annotations

import itertools
import math
from typing import Any, Iterable, Iterator, Mapping

from runner.base import saferegex
from runner.base.errors import ParseError
from runner.parse.base import Metric

# mpirun --tag-output writes "[1,0]<stdout>:", srun -l writes "0: " (padded to the widest task id).
_LAUNCHER_PREFIX = saferegex.compile(r"^(?:\[\d+,\d+\]<std(?:out|err)>:|\s*\d+: )")
EXCERPT = 200  # characters of a log line quoted in a message: a line can be a megabyte


def strip_launcher_prefix(line: str) -> str:
    if not line[:1] or not (line[0] == "[" or line[0].isspace() or line[0].isdigit()):
        return line  # most lines: no regex call at all
    match = _LAUNCHER_PREFIX.match(line)
    return line[match.end():] if match else line


def excerpt(line: str) -> str:
    """A log line for a message: quoted, and cut to EXCERPT characters."""
    text = line.strip()
    return repr(text) if len(text) <= EXCERPT else f"{text[:EXCERPT]!r}... ({len(text):,} characters)"


def sniff_first_char(lines: Iterator[str]) -> tuple[str, Iterator[str]]:
    """The first non-blank character ("" for an empty input) and the same lines, none lost."""
    blank = 0
    for line in lines:
        stripped = line.lstrip()
        if stripped:
            return stripped[0], itertools.chain(itertools.repeat("\n", blank), [line], lines)
        blank += 1
    return "", iter(())


def as_number(text: str) -> int | float | None:
    """An int or a finite float, or None when the text is not a number."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def int_option(parser: str, source: str, options: Mapping[str, Any], key: str) -> int | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParseError(parser, source, f"option {key!r} must be an integer, got {value!r}")
    return value


def metric_map(metrics: Iterable[Metric]) -> dict[str, Metric]:
    return {m.name: m for m in metrics if m.value is not None}


def summary(values: list[float]) -> tuple[float, float, float]:
    """min, mean, max of a non-empty list."""
    return min(values), sum(values) / len(values), max(values)
