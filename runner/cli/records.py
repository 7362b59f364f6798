"""`scenario history`, `scenario compare`, `scenario report`: reading run records back. Thin: the work is in
runner.records (history, compare) and runner.report."""
from __future__ import annotations

import json
from pathlib import Path

import click
from tabulate import tabulate

from runner.base.units import format_value
from runner.cli.options import current_library, library_option
from runner.flows.regenerate import regenerate_reports, regenerate_sweep_reports
from runner.flows.triage.regenerate import regenerate_triage_reports
from runner.flows.triage.report import triage_table
from runner.records.compare import (
    compare_runs,
    comparison_document,
    comparison_rows,
    inconclusive,
    samples_of,
)
from runner.records.history import (
    TRIAGE_SUFFIX,
    check_metrics,
    find_run,
    metric_entry,
    past_runs,
)
from runner.records.record import default_results_dir
from runner.records.sweeps import load_sweep
from runner.records.trend import change_points, run_values, sparkline
from runner.scenario.resolve import resolve

RESULTS_OPTION = click.option("--results", "results_dir", type=click.Path(file_okay=False, path_type=Path),
                              help="Where run records are (default: results/, or $SCENARIO_RESULTS).")
OUTPUT_OPTION = click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True)


def _results(results_dir: Path | None) -> Path:

    return Path(results_dir or default_results_dir())


def _find(results_dir: Path, ref: str, param: str):

    run = find_run(results_dir, ref)
    if run is None:
        raise click.BadParameter(f"no run record {ref!r} (give a run id found under {results_dir}, or a record's path)", param_hint=param)
    return run


@click.command()
@click.argument("name")
@library_option
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True, help="Show the last N runs.")
@OUTPUT_OPTION
@RESULTS_OPTION
def history(name: str, limit: int, output: str, results_dir: Path | None) -> None:
    """Past runs of scenario NAME, oldest first: date, run id, verdict and the metrics its checks use.

    Below the table, a trend per metric (the median of each run) and its change points: where the 5 runs before
    and the 5 from there on differ (two-sided exact Mann-Whitney U at 0.01, i.e. no overlap) by more than 5%.
    A change point is marked with `!` in the table, on the first run after it.
    """

    results_dir = _results(results_dir)
    runs = past_runs(results_dir, name, incomplete=True)[-limit:]
    if not runs:
        click.echo(f"no runs of {name} under {results_dir}", err=True)
        if output == "json":
            click.echo("[]")
        return
    keys = _scenario_metrics(name) or _union(check_metrics(run.verdict()) for run in runs)
    rows = []
    for run in runs:
        meta, metrics = run.meta(), run.metrics()
        try:
            values = {key: metric_entry(metrics, key) for key in keys}
            values = {k: v if isinstance(v, dict) else None for k, v in values.items()}
            variant, overrides = meta.get("variant") or {}, meta.get("overrides") or []
            if not isinstance(variant, dict) or not isinstance(overrides, list):
                raise TypeError("run.json")
            status = run.status
        except (TypeError, AttributeError, ValueError):  # a corrupt record is listed, not fatal
            values, variant, overrides, status = {k: None for k in keys}, {}, [], "CORRUPT"
        rows.append({"started": run.started, "run_id": run.run_id, "status": status,
                     "variant": variant, "sweep": meta.get("sweep") if isinstance(meta.get("sweep"), str) else "",
                     "overrides": [str(o) for o in overrides],
                     "metrics": {k: (v or {}).get("value") for k, v in values.items()},
                     "units": {k: str((v or {}).get("unit", "")) for k, v in values.items()},
                     "entries": values})
    trends = _trends(rows, keys)
    for key, (_, points) in trends.items():
        for point in points:
            rows[point.index].setdefault("change_points", {})[key] = round(point.change_pct, 2)
    if output == "json":
        click.echo(json.dumps([{k: v for k, v in r.items() if k not in ("units", "entries")} for r in rows], indent=2, default=str))
        return
    varied = any(r["variant"] or r["overrides"] for r in rows)
    headers = ["date", "run id", "verdict"] + (["variant / overrides"] if varied else []) + keys
    table = []
    for r in rows:
        change = ",".join(f"{k.split('.')[-1]}={v}" for k, v in r["variant"].items()) or " ".join(r["overrides"])
        table.append([r["started"].replace("T", " ")[:19], r["run_id"], r["status"]] + ([change] if varied else [])
                     + [format_value(r["metrics"][k], r["units"][k]) + (" !" if k in r.get("change_points", {}) else "") for k in keys])
    click.echo(tabulate(table, headers=headers, tablefmt="simple"))
    lines = _trend_lines(rows, trends)
    if lines:
        click.echo("\ntrend (median of each run, oldest first):\n" + "\n".join(lines))


def _trends(rows: list[dict], keys: list[str]) -> dict:
    """Per metric: (run medians, change points), for metrics with numbers."""

    trends = {}
    for key in keys:
        entries = [r["entries"].get(key) for r in rows]
        series = [samples_of(entry) for entry in entries]
        if not any(series):
            continue
        better = next((e.get("better", "") for e in entries if e and e.get("kind", "performance") == "performance"), "")
        trends[key] = (run_values(series), change_points(series, better))
    return trends


def _trend_lines(rows: list[dict], trends: dict) -> list[str]:

    lines = []
    for key, (values, points) in trends.items():
        unit = next((r["units"].get(key) for r in rows if r["units"].get(key)), "")
        known = [v for v in values if v is not None]
        text = f"  {key}  {sparkline(values)}  {format_value(known[0], unit)} -> {format_value(known[-1], unit)}"
        if not points:
            text += "; no change point"
        for point in points:
            direction = f", {point.direction}" if point.direction else ""
            text += (f"; change point at run {rows[point.index]['run_id']}: {point.change_pct:+.1f}% "
                     f"({format_value(point.before)} -> {format_value(point.after)}{direction}, p={point.p_value:.2g})")
        lines.append(text)
    return lines


def _scenario_metrics(name: str) -> list[str]:
    """The metrics the scenario's checks use today (None when the scenario file is gone or broken)."""

    try:
        checks = resolve(name, current_library()).data.get("checks") or []
    except Exception:  # an old or broken scenario: fall back to what the records say
        return []
    return _union([[c["metric"] for c in checks if isinstance(c, dict) and isinstance(c.get("metric"), str)]])


def _union(lists) -> list[str]:
    out: list[str] = []
    for items in lists:
        out += [i for i in items if i not in out]
    return out


@click.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option("--tolerance", type=click.FloatRange(min=0), default=5.0, show_default=True, metavar="PCT",
              help="Changes within this many percent are not regressions.")
@click.option("--alpha", type=click.FloatRange(min=0, max=1, min_open=True), default=0.01, show_default=True,
              help="Level of the one-sided Mann-Whitney U test a regression must also pass (with 5 repeats a side at 0.01).")
@OUTPUT_OPTION
@RESULTS_OPTION
def compare(run_a: str, run_b: str, tolerance: float, alpha: float, output: str, results_dir: Path | None) -> None:
    """Compare two runs (ids, record paths, or sweep ids): every metric, both values, the change in %.

    Only performance metrics (see `scenario parse --list`) gate, in their better direction. A regression needs
    the median to move beyond --tolerance and the noise to support it: the one-sided exact Mann-Whitney U test at
    --alpha (enough repeats: 5 a side at 0.01), or with 2-4 samples a side the runs apart by more than either's
    spread. Otherwise a change is "inconclusive", never a regression, and says how many repeats would decide.
    Two sweeps are compared variant by variant; a sweep against a run uses the sweep's best variant. The
    settings that differ between the two resolved scenarios are listed first. Exit 1 on any regression, else 0.
    """

    results_dir = _results(results_dir)
    pairs = _comparison_pairs(results_dir, run_a, run_b)
    comparisons = [compare_runs(a, b, tolerance, alpha, label) for label, a, b in pairs]
    if output == "json":

        documents = [comparison_document(c) for c in comparisons]
        click.echo(json.dumps(documents[0] if len(documents) == 1 and not documents[0]["variant"] else documents, indent=2, default=str))
    else:
        click.echo("\n\n".join(_comparison_text(c) for c in comparisons))
        regressions = [f"{c.label + ': ' if c.label else ''}{r.metric}" for c in comparisons for r in c.regressions]
        confounded = regressions and any(c.conditions for c in comparisons)
        undecided = [r for c in comparisons for r in inconclusive(c)]
        click.echo(f"\n{len(regressions)} regression{'s' if len(regressions) != 1 else ''} beyond {tolerance:g}% and the noise"
                   + (f": {', '.join(regressions)}" if regressions else "")
                   + (" (the host's load differed between the runs: see the conditions above)" if confounded else ""))
        if undecided:
            click.echo(f"{len(undecided)} change{'s' if len(undecided) != 1 else ''} beyond {tolerance:g}% the noise model cannot "
                       f"judge (inconclusive, not regressions): {undecided[0].note.split('; ', 1)[-1]}")
    return max(c.exit_code for c in comparisons)


def _comparison_text(comparison) -> str:

    a, b = comparison.a, comparison.b
    lines = [f"variant {comparison.label}"] if comparison.label else []
    lines += [f"{label}: {run.scenario} {run.run_id} ({run.status}){_settings(run)}" for label, run in (("A", a), ("B", b))]
    if a.scenario != b.scenario:
        lines.append("note: A and B are runs of different scenarios")
    lines.append("settings that differ: " + ("none" if not comparison.settings else ""))
    lines += [f"  {line}" for line in comparison.settings]
    if comparison.conditions:
        lines.append("conditions that differ:")
        lines += [f"  {line}" for line in comparison.conditions]
    lines.append("")
    headers = ["metric", "A", "B", "change", "better", "verdict", "evidence"]
    lines.append(tabulate(comparison_rows(comparison), headers=headers, tablefmt="simple") if comparison.changes else "(no metrics)")
    return "\n".join(lines)


def _sweep_folder(results_dir: Path, ref: str) -> Path | None:
    if (Path(ref) / "sweep.json").exists():
        return Path(ref)
    if "/" in ref:
        return None
    found = sorted(results_dir.glob(f"*/{ref.removesuffix('.sweep')}.sweep/sweep.json"))
    return found[0].parent if found else None


def _comparison_pairs(results_dir: Path, ref_a: str, ref_b: str) -> list[tuple[str, object, object]]:
    """(variant label, run A, run B): one pair for two runs, one per shared variant for two sweeps."""
    sweep_a, sweep_b = _sweep_folder(results_dir, ref_a), _sweep_folder(results_dir, ref_b)
    if sweep_a and sweep_b:
        return _variant_pairs(results_dir, sweep_a, sweep_b)
    a = _sweep_best(results_dir, sweep_a, "RUN_A") if sweep_a else _find(results_dir, ref_a, "RUN_A")
    b = _sweep_best(results_dir, sweep_b, "RUN_B") if sweep_b else _find(results_dir, ref_b, "RUN_B")
    return [("", a, b)]


def _sweep_runs(results_dir: Path, folder: Path) -> dict[str, tuple[str, object]]:

    sweep = load_sweep(folder)
    runs = {}
    for variant in sweep.variants:
        run = find_run(results_dir, variant.run_id, sweep.scenario) if variant.run_id else None
        if run is not None:
            runs[json.dumps(dict(variant.variant), sort_keys=True)] = (variant.label, run)
    return runs


def _variant_pairs(results_dir: Path, folder_a: Path, folder_b: Path) -> list[tuple[str, object, object]]:
    runs_a, runs_b = _sweep_runs(results_dir, folder_a), _sweep_runs(results_dir, folder_b)
    shared = [key for key in runs_a if key in runs_b]
    if not shared:
        raise click.BadParameter(f"sweeps {folder_a.name} and {folder_b.name} have no variant in common", param_hint="RUN_B")
    return [(runs_a[key][0], runs_a[key][1], runs_b[key][1]) for key in shared]


def _sweep_best(results_dir: Path, folder: Path, param: str):

    sweep = load_sweep(folder)
    if sweep.best is None:
        tied = ", ".join(v.label for v in sweep.variants if v.index in sweep.tied) if sweep.tied else "no variant passed"
        raise click.BadParameter(f"sweep {folder.name} has no distinguishable best variant ({tied}): give one variant's run id",
                                 param_hint=param)
    best = sweep.variants[sweep.best]
    run = find_run(results_dir, best.run_id, sweep.scenario)
    if run is None:
        raise click.BadParameter(f"the best variant's run {best.run_id} of sweep {folder.name} is not under {results_dir}", param_hint=param)
    return run


def _settings(run) -> str:
    meta = run.meta()
    variant = ",".join(f"{k.split('.')[-1]}={v}" for k, v in (meta.get("variant") or {}).items())
    overrides = " ".join(o for o in meta.get("overrides") or [] if o != "matrix={}")
    return f" [{variant or overrides}]" if variant or overrides else ""


@click.command()
@click.argument("run")
@RESULTS_OPTION
def report(run: str, results_dir: Path | None) -> None:
    """Write a record's report files (junit.xml, summary.md, report.html) again from its JSON files.

    RUN is a run id, a record's path, a sweep record (`<sweep-id>.sweep` folder, or its id) or a triage record
    (`<triage-id>.triage` folder, or its id): a triage's suspects table is printed, and its summary.md and
    report.html (the node x node heatmap) are written again from triage.json.
    """

    results_dir = _results(results_dir)
    folder = Path(run)
    triage = _triage_folder(results_dir, run)
    if triage is not None:

        result, written = regenerate_triage_reports(triage)
        click.echo(triage_table(result))
    elif (folder / "sweep.json").exists():
        written = regenerate_sweep_reports(folder)
    else:
        sweeps = sorted(results_dir.glob(f"*/{run}.sweep")) if "/" not in run else []
        written = regenerate_sweep_reports(sweeps[0]) if sweeps else regenerate_reports(_find(results_dir, run, "RUN").path)
    for path in written:
        click.echo(str(path))


def _triage_folder(results_dir: Path, ref: str) -> Path | None:
    """A triage record: its folder (holding triage.json, or named .triage), or `<triage-id>[.triage]` under results/."""

    folder = Path(ref)
    if (folder / "triage.json").exists() or (folder.is_dir() and folder.name.endswith(TRIAGE_SUFFIX)):
        return folder
    if "/" in ref:
        return None
    found = sorted(results_dir.glob(f"*/{ref.removesuffix(TRIAGE_SUFFIX)}{TRIAGE_SUFFIX}"))
    return found[0] if found else None
