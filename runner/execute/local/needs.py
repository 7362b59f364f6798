"""What a local run's commands need of this machine, known before anything starts.

`refusals(plan)` reads the process plan (the command each workload will run: its fallback when the first program is
not on PATH) and names each need this machine cannot meet, with a hint for that need, so the run is refused up front
instead of failing on every rank.
"""
from __future__ import annotations

import glob
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence


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
