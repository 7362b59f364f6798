"""Small helpers shared by the parsers: launcher prefixes, numbers, options, metric maps."""
from __future__ import annotations

import itertools
import math
import re
from typing import Any, Iterable, Iterator, Mapping

from runner.base.errors import ParseError
from runner.parse.base import Metric

# mpirun --tag-output writes "[1,0]<stdout>:", srun -l writes "0: " (padded to the widest task id).
_LAUNCHER_PREFIX = re.compile(r"^(?:\[\d+,\d+\]<std(?:out|err)>:|\s*\d+: )")


def strip_launcher_prefix(line: str) -> str:
    return _LAUNCHER_PREFIX.sub("", line, count=1)


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
