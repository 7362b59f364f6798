"""Runs whose runner died (SIGKILL, OOM, a lost machine) before finalizing their record.

A live run's `.partial` record holds runner.json (pid and process start time). A `.partial` record whose runner is
gone is stale: the next `scenario run` and `scenario cleanup --local` end the processes that still carry its run
marker (runner.execute.local.processes), copy what they wrote into the private staging folder since the runner died
into the record (every staged file again from its start, redacted with what can be known of its secrets: the scenario
files it named, the environment, credential-shaped text), delete the staging folder, write an INCOMPLETE verdict and
run.json, and finalize it. Records of runners older than the staging folder had their logs in clear: their files are
redacted in place (redact_tree).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from runner.execute.local import mirror
from runner.execute.local.processes import end_marked
from runner.records.record import (
    RUN_FORMAT,
    RUNNER_FILE,
    VERDICT_FORMAT,
    RunRecord,
    _iso,
    is_secret_name,
    read_json,
    redact_tree,
    runner_alive,
    staging_dir,
    write_json,
)
from runner.records.redaction import Redactor, for_scenario
from runner.scenario.resolve import Library, resolve
from runner.scenario.validate import build

INCOMPLETE = "INCOMPLETE"


def stale_records(results_dir: Path) -> list[Path]:
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return []
    return sorted(p for p in results_dir.glob("*/*.partial") if p.is_dir() and not runner_alive(p))


def recover_stale_runs(results_dir: Path) -> list[tuple[Path, list[int]]]:
    """Recover every stale record; returns (finalized record, pids still alive) for each."""
    recovered = []
    for path in stale_records(results_dir):
        try:
            recovered.append(recover(path))
        except OSError:
            continue  # a record that cannot be written stays as it is; the next attempt tries again
    return recovered


def recover(partial: Path) -> tuple[Path, list[int]]:

    run_id = partial.name[: -len(".partial")]
    survivors = end_marked(run_id)
    info = read_json(partial / RUNNER_FILE) or {}
    redactor = _redactor_for(partial)
    cause = f"the runner (pid {info.get('pid', '?')}) stopped before it finalized the record"
    meta = read_json(partial / "run.json")
    write_json(partial / "verdict.json", {"format": VERDICT_FORMAT, "scenario": partial.parent.name, "run_id": run_id,
                                          "status": INCOMPLETE, "summary": f"{INCOMPLETE}: {cause}", "results": []})
    started = os.path.getmtime(partial / RUNNER_FILE) if (partial / RUNNER_FILE).exists() else time.time()
    write_json(partial / "run.json", {**(meta if isinstance(meta, dict) else {}), "format": RUN_FORMAT,
                                      "scenario": partial.parent.name, "run_id": run_id, "status": INCOMPLETE,
                                      "started": (meta or {}).get("started") if isinstance(meta, dict) and meta.get("started") else _iso(started),
                                      "ended": _iso(time.time()), "facts": {"run_state": "incomplete", "run_message": cause,
                                                                             "orphans_left": survivors}})
    staging = staging_dir(partial.with_name(run_id))
    if staging.is_dir():
        mirror.copy_all(staging, partial, redactor.block)
        mirror.remove(staging)
    else:  # a record from before the staging folder: its logs were written in clear
        redact_tree(partial, redactor)
    record = RunRecord.__new__(RunRecord)  # finalize an existing folder with RunRecord's own rule
    record.dir, record.final_dir = partial, partial.with_name(run_id)
    return record.finalize(), survivors


def _redactor_for(partial: Path):
    """The secrets a dead run may have written: from the scenario it ran (its files are named in runner.json),
    and from this process's environment (usually the same as the dead runner's)."""

    info = read_json(partial / RUNNER_FILE) or {}
    target = info.get("scenario_file") if isinstance(info, dict) else None
    if isinstance(target, str) and target:
        try:

            resolved = resolve(target, Library(Path(info.get("library") or Path(target).parent)))
            return for_scenario(build(resolved), os.environ)
        except Exception:  # noqa: BLE001  (a scenario that no longer resolves: fall back to the environment)
            pass

    return Redactor([v for k, v in os.environ.items() if is_secret_name(k)])
