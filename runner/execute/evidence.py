"""One cause per failure: the evidence of ranks or pods that failed alike, folded into one.

`fold_tails(logs)` groups the logs whose last lines differ only in numbers (rank ids, pids, addresses, times), so a
failure on 8 ranks is shown once, "and 7 more ranks alike". `fold_tagged_lines(text)` does the same inside one log
that interleaves every rank's output (mpirun --tag-output: `[1,3]<stderr>:...`): each line once, with how many more
ranks printed it.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Sequence

from runner.execute.contract import log_tail

FOLD_READ = 64                 # logs read to fold their tails (the others are counted, not read)
FOLDED_TAIL_BYTES = 4096       # of each log after the first
_NUMBERS = re.compile(r"\d+")
_MPI_TAG = re.compile(r"^\[\d+,(\d+)\]<(?:stdout|stderr)>:")


def _shape(text: str) -> str:
    return _NUMBERS.sub("N", text)


def fold_tails(logs: Sequence[Path], lines: int = 20, read: Callable[[Path, int, int], str] | None = None) -> list[tuple[str, list[str]]]:
    """[(tail, [log names])]: the last lines of each log, logs whose tails differ only in numbers folded into the first
    one's. Logs beyond FOLD_READ are not read."""
    read = read or (lambda path, count, size: log_tail(path, count, max_bytes=size))
    groups: dict[str, tuple[str, list[str]]] = {}
    for index, path in enumerate(logs[:FOLD_READ]):
        tail = read(path, lines, 32768 if index == 0 else FOLDED_TAIL_BYTES)
        if tail:
            groups.setdefault(_shape(tail), (tail, []))[1].append(Path(path).name)
    return list(groups.values())


def fold_named_tails(tails: Sequence[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """The same for tails already read: [(name, tail)] -> [(tail, [names])]."""
    groups: dict[str, tuple[str, list[str]]] = {}
    for name, tail in tails:
        if tail:
            groups.setdefault(_shape(tail), (tail, []))[1].append(name)
    return list(groups.values())


def folded_text(tail: str, names: list[str], total: int | None = None, noun: str = "rank") -> str:
    """`last lines of rank-0.log (and 7 more ranks alike: rank-1.log .. rank-7.log):` followed by the tail."""
    more = len(names) - 1
    unread = f"; {total - FOLD_READ} more not read" if total and total > FOLD_READ else ""
    alike = f" (and {more} more {noun}{'s' if more != 1 else ''} alike: {_span(names[1:])}{unread})" if more else ""
    return f"last lines of {names[0]}{alike}:\n{tail}"


def fold_tagged_lines(text: str) -> str:
    """Lines of one log that several MPI ranks printed alike, once each: `[1,0]<stderr>:error: X` then
    `(and 7 more ranks alike)`; untagged lines and lines only one rank printed stay as they are."""
    seen: dict[str, list[int]] = {}
    order: list[tuple[str, str]] = []
    for line in text.splitlines():
        tag = _MPI_TAG.match(line)
        if not tag:
            order.append(("", line))
            continue
        key = _shape(line[tag.end():])
        if key not in seen:
            seen[key] = []
            order.append((key, line))
        seen[key].append(int(tag.group(1)))
    out = []
    for key, line in order:
        ranks = seen.get(key, [])
        out.append(line + (f"  (and {len(ranks) - 1} more rank{'s' if len(ranks) > 2 else ''} alike)" if len(ranks) > 1 else ""))
    return "\n".join(out)


def _span(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 3 else f"{names[0]} .. {names[-1]}"
