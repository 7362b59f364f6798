"""What a local run's commands need of this machine, known before anything starts; and one cause per failure.

`refusals(plan)` reads the process plan (the command each workload will run: its fallback when the first program is
not on PATH) and names each need this machine cannot meet, with a hint for that need, so the run is refused up front
instead of failing on every rank. `fold_tails(logs)` groups the ranks whose logs end the same way, so a failure that
happened on 8 ranks is shown once, "and 7 more ranks".
"""
from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from runner.execute.contract import log_tail

FOLD_READ = 64                 # rank logs read to fold their tails (the others are counted, not read)
FOLDED_TAIL_BYTES = 4096       # of each rank log after the first


@dataclass(frozen=True)
class Need:
    """Something a command needs of the machine: when it applies, whether the machine has it, and what to say."""

    name: str
    applies: Callable[[Sequence[str]], bool]
    present: Callable[[], bool]
    message: str
    hint: str


def gpu_devices() -> int:
    """NVIDIA GPUs the driver shows (/dev/nvidia0, /dev/nvidia1, ...)."""
    return len(glob.glob("/dev/nvidia[0-9]*"))


def _option(argv: Sequence[str], name: str) -> str:
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            return str(argv[index + 1])
        if str(arg).startswith(name + "="):
            return str(arg).split("=", 1)[1]
    return ""


def _nccl_probe(argv: Sequence[str]) -> bool:
    return "runner.probes.collectives" in argv and _option(argv, "--backend") == "nccl"


NEEDS: tuple[Need, ...] = (
    Need("cuda-device", _nccl_probe, lambda: gpu_devices() > 0,
         "--backend nccl needs a CUDA device, and this machine has none (no /dev/nvidia*): the collectives probe would "
         "stop on every rank",
         "run it on a GPU host; on this machine the same probe runs on CPU with gloo: `scenario run collectives-loopback`"),
)


def command_of(step: Mapping[str, Any], found: Callable[[str], bool]) -> list[str]:
    """The argv a plan step runs: its fallback's when the first program is not found."""
    command = step.get("command")
    argv = command.split() if isinstance(command, str) else [str(a) for a in command or ()]
    fallback = step.get("fallback")
    if fallback and argv and not found(argv[0]):
        return [str(a) for a in fallback.get("command") or ()]
    return argv


def refusals(plan: Mapping[str, Any], found: Callable[[str], bool], needs: Iterable[Need] = NEEDS) -> list[tuple[str, Need]]:
    """(workload, need) for each need of a workload's command that this machine does not meet."""
    missing = []
    for step in plan.get("steps") or ():
        argv = command_of(step, found)
        missing += [(step["workload"], need) for need in needs if need.applies(argv) and not need.present()]
    return missing


# --- one cause per failure -----------------------------------------------------------------------------


_NUMBER = re.compile(r"\d+")


def fold_tails(logs: Sequence[Path], lines: int = 20) -> list[tuple[str, list[str]]]:
    """[(tail, [log names])]: the last lines of each log, logs whose tails differ only in numbers (rank ids, pids,
    addresses) folded into the first one's. Logs beyond FOLD_READ are not read."""
    groups: dict[str, tuple[str, list[str]]] = {}
    for index, path in enumerate(logs[:FOLD_READ]):
        tail = log_tail(path, lines, max_bytes=32768 if index == 0 else FOLDED_TAIL_BYTES)
        if not tail:
            continue
        key = _NUMBER.sub("N", tail)
        groups.setdefault(key, (tail, []))[1].append(Path(path).name)
    return list(groups.values())


def folded_text(tail: str, names: list[str], total: int) -> str:
    """`last lines of rank-0.log (and 7 more ranks alike):` followed by the tail."""
    more = len(names) - 1
    unread = f"; {total - FOLD_READ} rank logs not read" if total > FOLD_READ else ""
    alike = f" (and {more} more rank{'s' if more != 1 else ''} alike: {_span(names[1:])}{unread})" if more else ""
    return f"last lines of {names[0]}{alike}:\n{tail}"


def _span(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 3 else f"{names[0]} .. {names[-1]}"
