"""`scenario history`, `scenario compare`, `scenario report`: reading run records back. Thin: the work is in
runner.history, runner.compare and runner.reporters."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

RESULTS_OPTION = click.option("--results", "results_dir", type=click.Path(file_okay=False, path_type=Path),
                              help="Where run records are (default: results/, or $SCENARIO_RESULTS).")
OUTPUT_OPTION = click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True)


def _results(results_dir: Path | None) -> Path:
    from .record import default_results_dir

    return Path(results_dir or default_results_dir())


def _find(results_dir: Path, ref: str, param: str):
    from .history import find_run

    run = find_run(results_dir, ref)
    if run is None:
        raise click.BadParameter(f"no run record {ref!r} (give a run id found under {results_dir}, or a record's path)", param_hint=param)
    return run


@click.command()
@click.argument("name")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True, help="Show the last N runs.")
@OUTPUT_OPTION
@RESULTS_OPTION
def history(name: str, limit: int, output: str, results_dir: Path | None) -> None:
    """Past runs of scenario NAME, oldest first: date, run id, verdict and the metrics its checks use."""
    from tabulate import tabulate

    from .history import check_metrics, metric_entry, past_runs
    from .report import format_value

    results_dir = _results(results_dir)
    runs = past_runs(results_dir, name)[-limit:]
    if not runs:
        click.echo(f"no runs of {name} under {results_dir}", err=True)
        if output == "json":
            click.echo("[]")
        return
    keys = _scenario_metrics(name) or _union(check_metrics(run.verdict()) for run in runs)
    rows = []
    for run in runs:
        meta, metrics = run.meta(), run.metrics()
        values = {key: metric_entry(metrics, key) for key in keys}
        rows.append({"started": run.started, "run_id": run.run_id, "status": run.status,
                     "variant": meta.get("variant") or {}, "sweep": meta.get("sweep") or "", "overrides": meta.get("overrides") or [],
                     "metrics": {k: (v or {}).get("value") for k, v in values.items()},
                     "units": {k: (v or {}).get("unit", "") for k, v in values.items()}})
    if output == "json":
        click.echo(json.dumps([{k: v for k, v in r.items() if k != "units"} for r in rows], indent=2, default=str))
        return
    varied = any(r["variant"] or r["overrides"] for r in rows)
    headers = ["date", "run id", "verdict"] + (["variant / overrides"] if varied else []) + keys
    table = []
    for r in rows:
        change = ",".join(f"{k.split('.')[-1]}={v}" for k, v in r["variant"].items()) or " ".join(r["overrides"])
        table.append([r["started"].replace("T", " ")[:19], r["run_id"], r["status"]] + ([change] if varied else [])
                     + [format_value(r["metrics"][k], r["units"][k]) for k in keys])
    click.echo(tabulate(table, headers=headers, tablefmt="simple"))


def _scenario_metrics(name: str) -> list[str]:
    """The metrics the scenario's checks use today (None when the scenario file is gone or broken)."""
    from .resolve import Library, resolve

    try:
        checks = resolve(name, Library()).data.get("checks") or []
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
@OUTPUT_OPTION
@RESULTS_OPTION
def compare(run_a: str, run_b: str, tolerance: float, output: str, results_dir: Path | None) -> None:
    """Compare two runs (ids or record paths): every metric, both values, the change in %.

    A metric that got worse by more than --tolerance in its `better` direction (higher/lower) is a
    regression; metrics with no known direction are shown but not judged. Exit 1 on any regression, else 0.
    """
    from tabulate import tabulate

    from .compare import compare_runs, comparison_document, comparison_rows

    results_dir = _results(results_dir)
    a, b = _find(results_dir, run_a, "RUN_A"), _find(results_dir, run_b, "RUN_B")
    comparison = compare_runs(a, b, tolerance)
    if output == "json":
        click.echo(json.dumps(comparison_document(comparison), indent=2, default=str))
    else:
        for label, run in (("A", a), ("B", b)):
            click.echo(f"{label}: {run.scenario} {run.run_id} ({run.status}){_settings(run)}")
        if a.scenario != b.scenario:
            click.echo("note: A and B are runs of different scenarios")
        click.echo("")
        headers = ["metric", "A", "B", "change", "better", "verdict"]
        click.echo(tabulate(comparison_rows(comparison), headers=headers, tablefmt="simple") if comparison.changes else "(no metrics)")
        count = len(comparison.regressions)
        names = ", ".join(c.metric for c in comparison.regressions)
        click.echo(f"\n{count} regression{'s' if count != 1 else ''} beyond {tolerance:g}%" + (f": {names}" if names else ""))
    sys.exit(comparison.exit_code)


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

    RUN is a run id, a record's path, or a sweep record (`<sweep-id>.sweep` folder).
    """
    from .reporters.regenerate import regenerate_reports, regenerate_sweep_reports

    results_dir = _results(results_dir)
    folder = Path(run)
    if (folder / "sweep.json").exists():
        written = regenerate_sweep_reports(folder)
    else:
        sweeps = sorted(results_dir.glob(f"*/{run}.sweep")) if "/" not in run else []
        written = regenerate_sweep_reports(sweeps[0]) if sweeps else regenerate_reports(_find(results_dir, run, "RUN").path)
    for path in written:
        click.echo(str(path))


def register(group: click.Group) -> None:
    for command in (history, compare, report):
        group.add_command(command)
