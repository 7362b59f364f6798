"""The walk of `scenario run NAME`: which of runner's modules it enters, how often the run flow enters each stage,
and how often a lower stage calls back up into a higher one. Measures a checkout's tree in-process.

    python bench/walk.py [NAME] [--tree DIR] [RUN OPTIONS]   # default: mooncake-tcp-loopback, this checkout
    python bench/walk.py nccl-allreduce --dry-run=client       # the Kubernetes path, no cluster

Stages are runner's packages in the order data flows (base < parse < scenario < render < execute < verdict <
records < report < flows < cli). A tree from before the layout (flat modules) is mapped onto the same stages by
OLD_LAYOUT, so the two walks compare. Counted are call sites (caller line, called function), not calls: a loop
over ranks is one site.
- entries of a stage: call sites in the flow (flows/cli) that call into that stage;
- climbs back up: call sites in a stage that call into a higher one (a callback, an upward import).
"""
from __future__ import annotations

import argparse
import collections
import importlib
import sys
import tempfile
import threading
from pathlib import Path

# the function that does each stage's whole work once: how often a run calls it
STAGE_WORK = {"validate_resolved": "scenario (validate)", "render_kubernetes": "render (objects)", "plan": "execute (plan)",
              "collect_metrics": "verdict (collect)", "judge": "verdict (judge)", "redact_tree": "records (redact a tree)",
              "finalize": "records (finalize)"}
STAGES = ["base", "parse", "scenario", "render", "execute", "verdict", "records", "report", "flows", "cli"]
RANK = {name: level for level, name in enumerate(STAGES)}
OLD_LAYOUT = {  # module of the flat layout -> stage (render.py's string templating counted as render there)
    "errors": "base", "registry": "base", "saferegex": "base", "limits": "base", "stats": "base", "platforms": "base",
    "resources": "base", "parse": "parse", "catalog": "parse", "parsers": "parse", "load": "scenario", "resolve": "scenario",
    "schemas": "scenario", "model": "scenario", "sandbox": "scenario", "validate": "scenario", "meaning": "scenario",
    "lints": "scenario", "delta": "scenario", "render": "render", "execute": "execute", "executors": "execute",
    "schedule": "execute", "progress": "execute", "kube": "execute", "judge": "verdict", "repeats": "verdict",
    "ranking": "verdict", "record": "records", "redaction": "records", "history": "records", "compare": "records",
    "trend": "records", "report": "report", "reporters": "report", "run": "flows", "check": "flows", "sweep": "flows",
    "baseline": "flows", "rejudge": "flows", "stale": "flows", "docs": "flows", "triage": "flows", "cli": "cli",
    "cli_records": "cli", "cli_judge": "cli", "cli_options": "cli",
}


def module_of(filename: str, root: Path) -> str | None:
    path = Path(filename)
    try:
        parts = path.resolve().relative_to(root).with_suffix("").parts
    except ValueError:
        return None
    return ".".join(p for p in parts if p != "__init__") or "runner"


def stage_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) < 2:
        return ""
    if parts[1] in RANK:
        return parts[1]
    if parts[1] == "reporters" and len(parts) > 2 and parts[2] == "regenerate":
        return "flows"
    return OLD_LAYOUT.get(parts[1], "")


def walk(name: str, tree: Path, extra: list[str]) -> dict:
    sys.path.insert(0, str(tree))
    root = tree.resolve()
    entered: set[str] = set()
    entries: dict[str, set] = collections.defaultdict(set)
    climbs: set = set()
    work: collections.Counter = collections.Counter()

    def profile(frame, event, arg):
        if event != "call":
            return
        callee = module_of(frame.f_code.co_filename, root)
        if not callee or not callee.startswith("runner"):
            return
        entered.add(callee)
        if frame.f_code.co_name in STAGE_WORK:
            work[STAGE_WORK[frame.f_code.co_name]] += 1
        caller_frame = frame.f_back
        caller = module_of(caller_frame.f_code.co_filename, root) if caller_frame else None
        if not caller or not caller.startswith("runner"):
            return
        source, target = stage_of(caller), stage_of(callee)
        site = (caller, caller_frame.f_lineno, callee, frame.f_code.co_name)
        if source in ("flows", "cli") and target not in ("flows", "cli", ""):
            entries[target].add(site)
        if source and target and RANK[target] > RANK[source]:
            climbs.add(site)

    try:
        cli = importlib.import_module("runner.cli.main")
    except ImportError:
        cli = importlib.import_module("runner.cli")
    for module in ("runner.base.limits", "runner.scenario.sandbox", "runner.limits", "runner.sandbox"):
        try:  # tracing every call makes templates slow: their time bound is not what is measured here
            setattr(importlib.import_module(module), "MAX_TEMPLATE_SECONDS", 600.0)
        except ImportError:
            pass
    results = tempfile.mkdtemp(prefix="walk-")
    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        code = cli.main(["--library", str(tree / "scenarios"), "run", name, "--no-progress", "--results", results, *extra])
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return {"exit": code, "modules": sorted(entered), "entries": {s: len(v) for s, v in entries.items()}, "climbs": sorted(climbs), "work": dict(work)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", default="mooncake-tcp-loopback")
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="more `scenario run` options, e.g. --dry-run=client")
    args = parser.parse_args()
    found = walk(args.name, args.tree, args.extra)
    print(f"scenario run {args.name} in {args.tree}: exit {found['exit']}")
    print(f"modules entered: {len(found['modules'])}")
    print("call sites of the run flow into each stage: "
          + ", ".join(f"{s} {found['entries'].get(s, 0)}" for s in STAGES if s not in ("flows", "cli")))
    print("times each stage's work ran: " + ", ".join(f"{k} {v}" for k, v in sorted(found["work"].items())))
    print(f"climbs back up (a stage calling a higher one): {len(found['climbs'])}")
    for caller, line, callee, function in found["climbs"]:
        print(f"  {caller}:{line} -> {callee}.{function}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
