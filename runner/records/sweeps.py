"""A sweep's record: its variants' runs, the ranking's answer, and sweep.json written and read back."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from runner.base.errors import EXIT_INTERRUPTED
from runner.records.record import to_jsonable
from runner.scenario.resolve import variant_suffix
from runner.verdict.judge import EXIT_CODES, SEVERITY, CheckStatus
from runner.verdict.ranking import BEST_ALPHA

SWEEP_FORMAT = "scenario-runner/sweep/v1"
NOT_RUN = "NOT RUN"  # a variant the sweep did not reach (not a check status)


@dataclass(frozen=True)
class VariantRun:
    index: int
    variant: Mapping[str, Any]
    run_id: str = ""
    record: str = ""
    status: str = NOT_RUN
    metrics: Mapping[str, Any] = field(default_factory=dict)   # key metric -> value
    units: Mapping[str, str] = field(default_factory=dict)
    better: Mapping[str, str] = field(default_factory=dict)    # key metric -> higher | lower (from the parser)
    message: str = ""
    samples: Mapping[str, tuple] = field(default_factory=dict)  # key metric -> every repeat's value

    @property
    def label(self) -> str:
        return variant_suffix(dict(self.variant))


@dataclass(frozen=True)
class SweepResult:
    sweep_id: str
    scenario: str
    record: Path
    axes: Mapping[str, Sequence[Any]]
    variants: tuple[VariantRun, ...]
    key_metrics: tuple[str, ...]
    best_metric: str = ""
    better: str = ""
    best: int | None = None          # index into variants
    state: str = "complete"          # running | complete | interrupted
    tied: tuple[int, ...] = ()       # variants that cannot be told apart from the top one (no best then)

    @property
    def exit_code(self) -> int:
        if self.state == "interrupted":
            return EXIT_INTERRUPTED
        statuses = [v.status for v in self.variants if v.status in SEVERITY]
        worst = max(statuses, key=lambda s: SEVERITY[s], default=CheckStatus.ERROR)
        return EXIT_CODES[worst]



def sweep_document(result: SweepResult, started: float | None = None, ended: float | None = None) -> dict:
    def iso(ts: float | None) -> str:
        return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds") if ts else ""

    best = result.variants[result.best] if result.best is not None else None
    return to_jsonable({
        "format": SWEEP_FORMAT,
        "sweep_id": result.sweep_id,
        "scenario": result.scenario,
        "state": result.state,
        "started": iso(started),
        "ended": iso(ended),
        "axes": dict(result.axes),
        "key_metrics": list(result.key_metrics),
        "best_metric": result.best_metric,
        "better": result.better,
        "best": {"index": best.index, "run_id": best.run_id, "variant": dict(best.variant),
                 "value": best.metrics.get(result.best_metric)} if best else None,
        "tied": list(result.tied),
        "best_method": f"median ranking; best only when the runner-up is worse by a one-sided exact Mann-Whitney U test at {BEST_ALPHA}",
        "variants": [{"index": v.index, "variant": dict(v.variant), "run_id": v.run_id,
                      "record": Path(v.record).name if v.record else "", "status": v.status,
                      "metrics": {k: {"value": v.metrics.get(k), "unit": v.units.get(k, ""), "better": v.better.get(k, ""),
                                      "samples": list(v.samples.get(k) or ())} for k in result.key_metrics},
                      "message": v.message} for v in result.variants],
    })



def load_sweep(folder: Path) -> SweepResult:
    """A sweep record read back (for `scenario report <sweep>`)."""
    document = json.loads((Path(folder) / "sweep.json").read_text())
    variants = tuple(VariantRun(v["index"], v["variant"], v.get("run_id", ""), str(Path(folder).parent / v["record"]) if v.get("record") else "",
                                v.get("status", NOT_RUN), {k: m.get("value") for k, m in (v.get("metrics") or {}).items()},
                                {k: m.get("unit", "") for k, m in (v.get("metrics") or {}).items()},
                                {k: m["better"] for k, m in (v.get("metrics") or {}).items() if m.get("better")}, v.get("message", ""),
                                {k: tuple(m.get("samples") or ()) for k, m in (v.get("metrics") or {}).items() if m.get("samples")})
                     for v in document.get("variants") or [])
    best = (document.get("best") or {}).get("index")
    return SweepResult(document["sweep_id"], document["scenario"], Path(folder), document.get("axes") or {}, variants,
                       tuple(document.get("key_metrics") or ()), document.get("best_metric", ""), document.get("better", ""),
                       best, document.get("state", "complete"), tuple(document.get("tied") or ()))
