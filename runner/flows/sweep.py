"""Sweeps: every combination of a scenario's `matrix:` (and `--matrix key=v1,v2`) runs as its own linked run.

Variants are ranked by the median of their samples (run the sweep with repeats: `repeat:` or `--repeat N`).
The top variant is marked best only when it is distinguishable from the runner-up: a one-sided exact
Mann-Whitney U test (runner.stats) at BEST_ALPHA = 0.05 says the runner-up's samples are worse. With 3 samples
a side that means their ranges do not overlap; with one sample a side nothing is ever distinguishable. Otherwise
the sweep names the variants tied with the top one (those the test cannot tell from it) and marks no best.

Each variant is the scenario with `--set path=value` overrides on top of the user's, validated again,
and run through the normal pipeline; its run.json names the sweep and its variant. The sweep record
results/<scenario>/<sweep-id>.sweep/ (sweep.json, summary.md, report.html) lists the variant runs; it
is rewritten after every variant, so a sweep killed half-way still says what it did.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from runner.base.errors import Location, Problem, RunnerError, ScenarioError
from runner.base.units import format_value
from runner.flows.check import validate_scenario
from runner.flows.run import run_scenario
from runner.records.history import SWEEP_SUFFIX
from runner.records.record import (
    atomic_write,
    default_results_dir,
    new_run_id,
    write_json,
)
from runner.records.sweeps import SweepResult, VariantRun, sweep_document
from runner.report.sweep import sweep_html, sweep_markdown
from runner.scenario.load import load_value
from runner.scenario.model import Check, Scenario
from runner.scenario.resolve import Library, matrix_variants, variant_suffix
from runner.verdict.judge import CheckStatus
from runner.verdict.ranking import rank

HIGHER_OPS, LOWER_OPS = (">=", ">"), ("<=", "<")


def parse_matrix_options(texts: Iterable[str]) -> dict[str, list]:
    """`--matrix parameters.threads=2,4` -> {"parameters.threads": [2, 4]} (each value YAML-typed; `key=[[1,2],[3]]` for lists)."""
    axes: dict[str, list] = {}
    for text in texts:
        key, sep, values = text.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise ScenarioError(Problem(f"--matrix {text!r}: expected dotted.path=v1,v2,...", Location("--matrix"),
                                        "for example --matrix parameters.threads=2,4,8"))
        if values.strip().startswith("["):
            parsed = load_value(values, f"--matrix {text}")
            items = parsed if isinstance(parsed, list) else [parsed]
        else:
            items = [_yaml_value(v.strip()) for v in values.split(",")]
        axes[key.strip()] = items
    return axes


def _yaml_value(text: str) -> Any:
    try:
        return load_value(text, f"--matrix {text}") if text else ""
    except ScenarioError as error:
        if all("syntax error" in p.message for p in error.problems):
            return text
        raise


def variant_overrides(variant: Mapping[str, Any]) -> list[str]:
    """The variant as --set strings (JSON is YAML, so every value comes back with its type)."""
    return [f"{path}={json.dumps(value)}" for path, value in variant.items()]


# --- planning --------------------------------------------------------------------------------


def plan_sweep(name: str, library: Library | None = None, overrides: Sequence[str] = (),
               extra_matrix: Mapping[str, list] | None = None) -> tuple[Scenario, list[tuple[dict, list[str], Scenario]]]:
    """The base scenario and every variant (variant, overrides, validated scenario). All are validated
    before anything runs; every invalid variant is reported, each problem prefixed with its variant."""

    library = library or Library()
    base = validate_scenario(name, library, overrides)
    variants = matrix_variants({k: list(v) for k, v in base.matrix.items()}, dict(extra_matrix or {}))
    if not variants:
        raise ScenarioError(Problem(f"scenario {base.name} has no matrix to sweep", base.sources.with_path(()),
                                    "add `matrix: {parameters.threads: [2, 4]}` to the scenario, or pass --matrix parameters.threads=2,4"))
    planned, problems = [], []
    for variant in variants:
        variant_sets = list(overrides) + variant_overrides(variant) + ["matrix={}"]
        try:
            planned.append((variant, variant_sets, validate_scenario(name, library, variant_sets)))
        except ScenarioError as error:
            problems += [Problem(f"variant {variant_suffix(variant)}: {p.message}", p.location, p.hint) for p in error.problems]
    if problems:
        raise ScenarioError(problems)
    return base, planned


def key_checks(scenario: Scenario) -> list[Check]:
    return [c for c in scenario.checks if c.metric and not c.log]


def best_check(scenario: Scenario) -> Check | None:
    """The first performance check with a metric: what 'best variant' means."""
    return next((c for c in key_checks(scenario) if c.kind == "performance"), None)


# --- running ---------------------------------------------------------------------------------


def _stderr_line(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def run_sweep(name: str, library: Library | None = None, overrides: Sequence[str] = (), extra_matrix: Mapping[str, list] | None = None,
              run_fn: Callable[..., Any] | None = None, progress: Any = None, *, results_dir: Path | None = None,
              announce: Callable[[str], None] | None = _stderr_line, **run_options: Any) -> SweepResult:
    """Run every variant as its own run record, linked by a sweep id, and write the sweep record.

    run_fn is runner.run.run_scenario (or a stand-in with its signature); run_options (executor_name,
    timeout_s, options, stop) go to it unchanged. progress is the per-run progress display; announce gets
    one line per variant ("variant 3/4: threads=4,block_size=65536") and its outcome.
    """
    run_fn = run_fn or run_scenario
    base, planned = plan_sweep(name, library, overrides, extra_matrix)
    results_dir = Path(results_dir or default_results_dir())
    sweep_id = new_run_id()
    folder = results_dir / base.name / f"{sweep_id}{SWEEP_SUFFIX}"
    folder.mkdir(parents=True, exist_ok=False)
    axes = {**{k: list(v) for k, v in base.matrix.items()}, **{k: list(v) for k, v in (extra_matrix or {}).items()}}
    check = best_check(base)
    keys = tuple(c.metric for c in key_checks(base))
    runs = [VariantRun(i, variant) for i, (variant, _, _) in enumerate(planned)]
    started = time.time()
    state = "running"
    announce = announce or (lambda text: None)
    result = _result(sweep_id, base, folder, axes, runs, keys, check, state)
    try:
        for i, (variant, variant_sets, scenario) in enumerate(planned):
            announce(f"variant {i + 1}/{len(planned)}: {variant_suffix(variant)}")
            runs[i] = _run_variant(i, variant, variant_sets, scenario, run_fn, progress, results_dir, sweep_id, keys,
                                   {**run_options, "library": library})
            announce(_outcome_line(i, len(planned), runs[i], check))
            result = _result(sweep_id, base, folder, axes, runs, keys, check, state)
            write_sweep_record(result, started)
            if runs[i].status == CheckStatus.INTERRUPTED:
                state = "interrupted"
                break
        else:
            state = "complete"
    except BaseException:
        state = "interrupted"
        raise
    finally:
        result = _result(sweep_id, base, folder, axes, runs, keys, check, state)
        write_sweep_record(result, started, ended=time.time(), reports=True)
    return result


def _outcome_line(i: int, total: int, run: VariantRun, check: Check | None) -> str:
    line = f"variant {i + 1}/{total}: {run.label} -> {run.status}"
    if check and run.metrics.get(check.metric) is not None:
        line += f", {check.metric} {format_value(run.metrics[check.metric], run.units.get(check.metric, ''))}"
    return line + (f" ({run.message})" if run.message else "")


def _run_variant(index: int, variant: dict, variant_sets: list[str], scenario: Scenario, run_fn, progress, results_dir: Path,
                 sweep_id: str, keys: Sequence[str], run_options: Mapping[str, Any]) -> VariantRun:
    try:
        run = run_fn(scenario, results_dir=results_dir, progress=progress, overrides=variant_sets, variant=variant,
                     parent=sweep_id, **run_options)
    except RunnerError as error:
        return VariantRun(index, variant, status=CheckStatus.ERROR, message=str(error).splitlines()[0] if str(error) else type(error).__name__)
    values, units, better, samples = {}, {}, {}, {}
    for key in keys:
        workload, _, metric_name = key.partition(".")
        entry = run.metrics.get(workload)
        metric = entry.result.metrics.get(metric_name) if entry and entry.result else None
        values[key] = metric.value if metric else None
        units[key] = metric.unit if metric else ""
        if metric and metric.better:
            better[key] = metric.better
        if metric is not None:
            samples[key] = tuple(metric.samples or (metric.value,))
    return VariantRun(index, variant, run.run_id, str(run.record), run.verdict.status, values, units, better, samples=samples)


def _result(sweep_id: str, base: Scenario, folder: Path, axes: Mapping, runs: list[VariantRun], keys: tuple[str, ...],
            check: Check | None, state: str) -> SweepResult:
    better = _direction(check, runs)
    best, tied = rank(runs, check.metric, better) if check else (None, ())
    return SweepResult(sweep_id, base.name, folder, axes, tuple(runs), keys, check.metric if check else "", better, best, state, tied)


def _direction(check: Check | None, runs: Sequence[VariantRun]) -> str:
    """The metric's own direction (from the parser), else the check's: `>=` means higher is better."""
    if check is None:
        return ""
    for run in runs:
        if run.better.get(check.metric):
            return run.better[check.metric]
    return "higher" if check.op in HIGHER_OPS else "lower" if check.op in LOWER_OPS else ""


def best_index(runs: Sequence[VariantRun], metric: str, better: str) -> int | None:
    """The distinguishable best variant, or None."""
    return rank(runs, metric, better)[0]


# --- output ----------------------------------------------------------------------------------


def write_sweep_record(result: SweepResult, started: float | None = None, ended: float | None = None, reports: bool = False) -> list[Path]:
    """sweep.json always; summary.md and report.html when `reports` (at the end, also after an interrupt)."""
    folder = Path(result.record)
    document = sweep_document(result, started, ended)
    write_json(folder / "sweep.json", document)
    written = [folder / "sweep.json"]
    if reports:
        for filename, render in (("summary.md", sweep_markdown), ("report.html", sweep_html)):
            try:
                atomic_write(folder / filename, render(result))
                written.append(folder / filename)
            except Exception as error:  # a broken report must not lose the sweep record
                atomic_write(folder / f"{filename}.error.txt", f"{type(error).__name__}: {error}\n")
    return written
