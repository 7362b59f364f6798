"""Past runs in results/: listing them, reading a record back, and finding a baseline value for `baseline:` checks."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from runner.parse.logs import Metric, ParseResult, Series
from runner.records.record import read_json, runner_alive
from runner.verdict.judge import BaselineValue, CheckResult, CheckStatus, Verdict, WorkloadMetrics

SWEEP_SUFFIX = ".sweep"
TRIAGE_SUFFIX = ".triage"
# --set paths that say where a run's images come from, not what it measures: a run given only these still ran as
# written (every scenario for a real cluster asks for `--set registry=<account>.dkr.ecr.<region>.amazonaws.com/...`).
WHERE_FROM_PATHS = ("registry",)


def override_path(override: str) -> str:
    return override.partition("=")[0].strip()


def measures_as_written(overrides: list[str] | tuple[str, ...]) -> bool:
    """No --set override changes what the run measured (only WHERE_FROM_PATHS were given)."""
    return all(override_path(str(o)) in WHERE_FROM_PATHS for o in overrides)


@dataclass(frozen=True)
class PastRun:
    scenario: str
    run_id: str
    path: Path
    status: str
    started: str

    def metrics(self) -> dict[str, Any]:
        return read_json(self.path / "metrics.json") or {}

    def meta(self) -> dict[str, Any]:
        return read_json(self.path / "run.json") or {}

    def verdict(self) -> dict[str, Any]:
        return read_json(self.path / "verdict.json") or {}

    @property
    def pristine(self) -> bool:
        """Run as the scenario file says: not a sweep variant, and no --set override but where its images come from."""
        meta = self.meta()
        overrides = meta.get("overrides") or []
        return isinstance(overrides, list) and measures_as_written(overrides) and not (meta.get("variant") or meta.get("sweep"))




def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _past_run(path: Path, scenario: str = "") -> PastRun:
    meta = read_json(path / "run.json") or {}
    verdict = read_json(path / "verdict.json") or {}
    status = _text(verdict.get("status")) or _text(meta.get("status"))
    if path.name.endswith(".partial"):

        status, name = ("RUNNING" if runner_alive(path) else "INCOMPLETE"), path.name[: -len(".partial")]
    else:
        status, name = status or ("CORRUPT" if (path / "verdict.json").exists() else "?"), path.name
    return PastRun(_text(meta.get("scenario")) or scenario or path.parent.name, name, path, status, _text(meta.get("started")))


def _is_run_dir(path: Path, incomplete: bool = False) -> bool:
    name = path.name
    if name.endswith(".partial"):
        return incomplete and path.is_dir()
    return path.is_dir() and not (name.endswith((SWEEP_SUFFIX, TRIAGE_SUFFIX)) or name.startswith("."))


def _order(path: Path) -> tuple:
    """Run ids start with the start time (to the second); the folder's mtime (its last write) breaks ties."""
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    return path.name[:15], mtime, path.name


def past_runs(results_dir: Path, scenario: str, *, incomplete: bool = False) -> list[PastRun]:
    """Finished runs of a scenario, oldest first; with `incomplete`, also runs still in progress (RUNNING) and
    runs whose runner died (INCOMPLETE)."""
    folder = Path(results_dir) / scenario
    paths = sorted((p for p in folder.iterdir() if _is_run_dir(p, incomplete)), key=_order) if folder.is_dir() else []
    return [_past_run(path, scenario) for path in paths]


def find_run(results_dir: Path, run_ref: str, scenario: str = "") -> PastRun | None:
    """A run by path, or by id (in `scenario` when given, else searched across scenarios)."""
    candidate = Path(run_ref)
    if (candidate / "run.json").exists() or (candidate / "verdict.json").exists():
        return _past_run(candidate)
    if not run_ref or "/" in run_ref or run_ref.startswith("."):
        return None
    folders = [Path(results_dir) / scenario] if scenario else sorted(p for p in Path(results_dir).glob("*") if p.is_dir())
    for folder in folders:
        path = folder / run_ref
        if _is_run_dir(path):
            return _past_run(path, folder.name)
    return None


def metric_entry(metrics: Mapping[str, Any], dotted: str) -> dict[str, Any] | None:
    """`workload.metric` in a metrics.json document; a bare `metric` matches when exactly one workload has it."""
    workloads = metrics.get("workloads") or {}
    if not isinstance(workloads, dict):
        return None
    workload, _, name = dotted.partition(".")
    if name and workload in workloads:
        entry = ((workloads[workload] or {}).get("metrics") or {}).get(name)
        return entry if isinstance(entry, dict) else None
    found = [m[dotted] for w in workloads.values() if isinstance(m := (w or {}).get("metrics"), dict) and isinstance(m.get(dotted), dict)]
    return found[0] if len(found) == 1 else None


def metric_value(metrics: Mapping[str, Any], dotted: str) -> Any:
    entry = metric_entry(metrics, dotted)
    return entry.get("value") if entry else None


def latest_passing(results_dir: Path, scenario: str) -> tuple[PastRun | None, int]:
    """The newest PASS run of a scenario that ran as written, and how many passing runs were skipped
    because they had --set overrides (other than the registry) or were sweep variants (their numbers measure
    something else)."""
    passing = [r for r in past_runs(results_dir, scenario) if r.status == CheckStatus.PASS]
    pristine = [r for r in passing if r.pristine]
    return (pristine[-1] if pristine else None), len(passing) - len(pristine)


@dataclass
class BaselineLookup:
    """judge()'s baseline lookup; remembers which run gave each value (run.json "baselines")."""

    results_dir: Path
    used: list[dict[str, Any]] = field(default_factory=list)
    # what to do when the baseline has no passing run, as the command that judges can offer it ({scenario}: the baseline)
    missing_hint: str = "run `scenario run {scenario}` first, or use --with-baseline"

    def __call__(self, scenario: str, metric: str, run_id: str) -> BaselineValue:
        found = self._find(scenario, metric, run_id)
        self.used.append({"scenario": scenario, "metric": metric, "run_id": found.run_id, "value": found.value,
                          "pinned": bool(run_id), "error": found.error})
        return found

    def _find(self, scenario: str, metric: str, run_id: str) -> BaselineValue:
        if run_id:
            run = find_run(self.results_dir, run_id, scenario)
            if run is None:
                other = find_run(self.results_dir, run_id)
                where = f" (it is a run of {other.scenario})" if other else ""
                return BaselineValue(None, run_id, f"baseline run {run_id} of {scenario} not found under {self.results_dir}{where}")
        else:
            run, skipped = latest_passing(self.results_dir, scenario)
            if run is None:
                note = f" ({skipped} passing run(s) with --set overrides other than registry, or from sweeps, do not count)" if skipped else ""
                return BaselineValue(None, "", f"no passing run of baseline scenario {scenario} in {self.results_dir}{note}: "
                                               + self.missing_hint.format(scenario=scenario))
        value = metric_value(run.metrics(), metric)
        if value is None:
            return BaselineValue(None, run.run_id, f"baseline run {run.run_id} of {scenario} has no metric {metric}")
        try:
            return BaselineValue(float(value), run.run_id)
        except (TypeError, ValueError):
            return BaselineValue(None, run.run_id, f"baseline run {run.run_id} of {scenario}: {metric} = {value!r} is not a number")


def baseline_lookup(results_dir: Path, missing_hint: str = "") -> BaselineLookup:
    """`missing_hint`: for a command without --with-baseline (judge), what to say when a baseline has no passing run."""
    return BaselineLookup(Path(results_dir), missing_hint=missing_hint) if missing_hint else BaselineLookup(Path(results_dir))


# --- reading a record back into the objects reporters take ------------------------------------


def load_verdict(document: Mapping[str, Any]) -> Verdict:
    fields = set(CheckResult.__dataclass_fields__)
    results = tuple(CheckResult(**{k: v for k, v in r.items() if k in fields}) for r in document.get("results") or [])
    return Verdict(document.get("scenario", ""), document.get("status", CheckStatus.ERROR), results, document.get("summary", ""),
                   dict(document.get("workloads") or {}))


def load_metrics(document: Mapping[str, Any]) -> dict[str, WorkloadMetrics]:
    loaded = {}
    for name, entry in (document.get("workloads") or {}).items():
        result = None
        if not entry.get("error") or entry.get("metrics"):
            metrics = {m: Metric(m, v.get("value"), v.get("unit", ""), v.get("better", ""), v.get("kind", ""), tuple(v.get("samples") or ()))
                       for m, v in (entry.get("metrics") or {}).items()}
            series = {s: Series(s, tuple(v.get("columns") or ()), tuple(tuple(r) for r in v.get("rows") or ()), tuple(v.get("units") or ()))
                      for s, v in (entry.get("series") or {}).items()}
            result = ParseResult(entry.get("parser", ""), entry.get("source", ""), metrics, series, dict(entry.get("info") or {}))
        loaded[name] = WorkloadMetrics(name, entry.get("parser", ""), entry.get("source", ""), result, entry.get("error", ""))
    return loaded


def check_metrics(verdict: Mapping[str, Any] | Verdict) -> list[str]:
    """`workload.metric` of every metric check in a verdict, in check order (the scenario's key metrics)."""
    try:
        results = verdict.results if isinstance(verdict, Verdict) else load_verdict(verdict).results
    except (TypeError, AttributeError, ValueError):  # a corrupt verdict.json names no metrics
        return []
    keys: list[str] = []
    for result in results:
        if result.kind == "infrastructure" or not result.metric or result.metric.startswith("log:"):
            continue
        key = f"{result.workload}.{result.metric}"
        if key not in keys:
            keys.append(key)
    return keys
