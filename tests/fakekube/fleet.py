"""A fleet of GPU nodes where some nodes' fabric is degraded: what the fake's nccl-tests launchers print.

    kube = FakeKube(nodes=fleet_nodes(16))
    kube.script(Match(kind="MPIJob", role="launcher"),
                Behavior.succeeds(log=DegradedFleet(FIXTURE.read_text(), {"gpu-7": 0.25}), log_every=0.0))

A launcher whose run has a pod on a degraded node prints the real fixture with that node's factor
applied to the figures of every result row (time / factor, algbw and busbw x factor, each number
keeping the field width and decimals the fixture has) and to the `# Avg bus bandwidth` line; every
other line is the fixture's own. A ring all-reduce runs at the pace of its slowest link, so the set's
figures are the slowest node's. See tests/fixtures/k8s/README.md.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from .behaviors import PodPlacement
from .seeds import GPU_TAINT, node

PREFIX = re.compile(r"^(\[\d+,\d+\]<std(?:out|err)>:)?")
ROW = re.compile(r"^\s+\d+\s+\d+\s+\S+\s+\S+\s+-?\d+(\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+(\d+|N/A)){2}\s*$")
AVG = re.compile(r"^(# Avg bus bandwidth\s*: )([\d.]+)(.*)$")
TIME_FIELDS, RATE_FIELDS = (5, 9), (6, 7, 10, 11)


def fleet_nodes(count: int, instance_type: str = "p5.48xlarge", prefix: str = "gpu-", **kwargs) -> list[dict]:
    return [node(f"{prefix}{i}", instance_type, taints=[GPU_TAINT], **kwargs) for i in range(count)]


def _scaled(token: str, factor: float) -> str:
    decimals = len(token.split(".", 1)[1]) if "." in token else 0
    return f"{float(token) * factor:.{decimals}f}"


def _replace_fields(line: str, changes: Mapping[int, float]) -> str:
    """Each changed number right-aligned in its field (the spaces before it plus itself), as printf's %7.1f is."""
    out, last = [], 0
    for index, match in enumerate(re.finditer(r"\S+", line)):
        width = match.end() - last
        token = _scaled(match.group(), changes[index]) if index in changes else None
        out.append(line[last:match.end()] if token is None else (token.rjust(width) if len(token) < width else " " + token))
        last = match.end()
    return "".join(out) + line[last:]


def degrade(text: str, factor: float) -> str:
    """The nccl-tests log with its bandwidth figures scaled by `factor` (and times by 1 / factor)."""
    changes = {**{i: 1 / factor for i in TIME_FIELDS}, **{i: factor for i in RATE_FIELDS}}
    lines = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        prefix = PREFIX.match(body).group(0)
        rest = body[len(prefix):]
        if ROW.match(rest):
            rest = _replace_fields(rest, changes)
        elif (avg := AVG.match(rest)):
            rest = avg.group(1) + _scaled(avg.group(2), factor) + avg.group(3)
        lines.append(prefix + rest + line[len(body):])
    return "".join(lines)


@dataclass(frozen=True)
class DegradedFleet:
    """A Behavior log callable: the healthy text, or the degraded one when the run touches a degraded node."""
    text: str
    degraded: Mapping[str, float] = field(default_factory=dict)   # node -> factor (0.25: a quarter of the rate)

    def __call__(self, placement: PodPlacement) -> str:
        factors = [self.degraded[n] for n in placement.run_nodes if n in self.degraded]
        return degrade(self.text, min(factors)) if factors else self.text
