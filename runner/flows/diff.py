"""`scenario diff A B`: what differs between two scenarios after resolution (extends, --set), for review.

A side is `NAME` (or a path) in the library, or `NAME@REV`: the library as git holds it at revision REV (any
revision git understands: HEAD~3, a branch, a commit), read with `git archive` into a temporary folder, nothing
checked out. Both sides are resolved (and validated when they can be: an invalid side is still compared, its
problems listed). The differences are grouped:

- settings: metadata, executors, platform, parameters, timeouts, the `local:` block and anything else;
- images, env (the scenario's and each workload's);
- workloads: each workload's fields, by name;
- checks: by identity (runner.scenario.checks): added, removed, or changed, each threshold with the value it has
  after templates and its source (the check's description).
"""
from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from runner.base.errors import Problem, RunnerError, ScenarioError
from runner.flows.check import Inspection, inspect
from runner.scenario.checks import check_name
from runner.scenario.model import Check, thaw
from runner.scenario.resolve import Library

SECTIONS = ("settings", "images", "env", "workloads", "checks")
IGNORED = {("extends",), ("metadata", "name")}  # the two sides' names and chains are in the header
THRESHOLD_FIELDS = ("op", "value", "baseline", "count", "absent", "statistic", "skip", "kind")
GIT_TIMEOUT_S = 60


@dataclass(frozen=True)
class Side:
    """One side of a diff: what was asked for, where it was read, what it resolved to."""

    spec: str
    label: str                                  # NAME, or NAME@REV (commit)
    inspection: Inspection
    chain: tuple[str, ...] = ()


@dataclass(frozen=True)
class Change:
    section: str
    path: str                                   # e.g. decode.replicas, checks 'completed'.value
    before: Any = None
    after: Any = None
    kind: str = "changed"                       # added | removed | changed
    source: str = ""                            # a threshold's source: the check's description


@dataclass(frozen=True)
class ScenarioDiff:
    a: Side
    b: Side
    changes: tuple[Change, ...] = field(default_factory=tuple)

    @property
    def problems(self) -> dict[str, tuple[Problem, ...]]:
        return {side.label: side.inspection.problems for side in (self.a, self.b) if side.inspection.problems}


def diff_scenarios(spec_a: str, spec_b: str, library: Library, overrides_b: tuple[str, ...] = ()) -> ScenarioDiff:
    """Resolve both sides and compare them. `overrides_b` apply to B only (what `--set` would change)."""
    with tempfile.TemporaryDirectory(prefix="scenario-diff-") as scratch:
        a = _side(spec_a, library, Path(scratch) / "a", ())
        b = _side(spec_b, library, Path(scratch) / "b", overrides_b)
    return ScenarioDiff(a, b, tuple(compare(a.inspection, b.inspection)))


def _side(spec: str, library: Library, scratch: Path, overrides: tuple[str, ...]) -> Side:
    name, _, revision = spec.partition("@")
    label = spec
    if revision:
        commit = _commit(library.root, revision)
        library = library_at(library.root, commit, scratch)
        label = f"{name}@{revision} ({commit[:12]})"
    found = inspect(name, library, overrides)
    if found.resolved is None:
        raise ScenarioError([Problem(f"{label}: {p.message}", p.location, p.hint) for p in found.problems])
    return Side(spec, label, found, tuple(p.stem for p in found.resolved.files))


# --- the library at a git revision -----------------------------------------------------------------


def _git(folder: Path, *args: str, binary: bool = False) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=not binary, timeout=GIT_TIMEOUT_S)
    except FileNotFoundError as error:
        raise RunnerError("`scenario diff NAME@REV` reads the library from git, and git is not installed",
                          hint="install git, or compare two scenarios of the working tree") from error


def _commit(root: Path, revision: str) -> str:
    if revision.startswith("-"):
        raise ScenarioError(f"{revision!r} is not a git revision", hint="e.g. sglang-1p1d@HEAD~3 or sglang-1p1d@main")
    done = _git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    if done.returncode != 0:
        where = _git(root, "rev-parse", "--show-toplevel")
        hint = ("the library is not in a git checkout" if where.returncode != 0 else
                "any revision git understands: HEAD~3, a branch, a tag, a commit (`git log --oneline` lists them)")
        raise ScenarioError(f"no git revision {revision!r} for the library {root}", hint=hint)
    return done.stdout.strip()


def library_at(root: Path, commit: str, scratch: Path) -> Library:
    """The library folder as it was at `commit`, extracted into `scratch` (regular files and folders only)."""
    top = Path(_git(root, "rev-parse", "--show-toplevel").stdout.strip())
    inside = Path(root).resolve().relative_to(top.resolve())
    archive = _git(top, "archive", "--format=tar", commit, "--", str(inside) if str(inside) != "." else ".", binary=True)
    if archive.returncode != 0:
        message = archive.stderr.decode(errors="replace").strip()
        raise ScenarioError(f"the library {inside} does not exist at {commit[:12]}: {message}",
                            hint="the scenarios may have lived elsewhere then: give a later revision")
    scratch.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(scratch, members=[m for m in tar.getmembers() if m.isfile() or m.isdir()], filter="data")
    return Library(scratch / inside)


# --- comparing ---------------------------------------------------------------------------------------


def compare(a: Inspection, b: Inspection) -> Iterator[Change]:
    data_a, data_b = thaw(a.resolved.data), thaw(b.resolved.data)
    yield from _settings(data_a, data_b)
    yield from _workloads(data_a.get("workloads") or [], data_b.get("workloads") or [])
    yield from _checks(data_a.get("checks") or [], data_b.get("checks") or [], _rendered(a), _rendered(b))


def _section(path: tuple) -> str:
    if path[:1] in (("images",), ("env",)):
        return path[0]
    return "settings"


def _settings(a: dict, b: dict) -> Iterator[Change]:
    for key in sorted(set(a) | set(b), key=lambda k: (list(a) + list(b)).index(k)):
        if key in ("workloads", "checks"):
            continue
        for path, before, after in _leaves(a.get(key, _MISSING), b.get(key, _MISSING), (key,)):
            if path not in IGNORED:
                yield _change(_section(path), ".".join(map(str, path)), before, after)


def _workloads(a: list, b: list) -> Iterator[Change]:
    by_name_a = {w.get("name"): w for w in a if isinstance(w, dict)}
    by_name_b = {w.get("name"): w for w in b if isinstance(w, dict)}
    for name in list(by_name_a) + [n for n in by_name_b if n not in by_name_a]:
        before, after = by_name_a.get(name, _MISSING), by_name_b.get(name, _MISSING)
        if before is _MISSING or after is _MISSING:
            yield _change("workloads", str(name), before, after)
            continue
        for path, old, new in _leaves(before, after, ()):
            section = "env" if path[:1] == ("env",) or path[1:2] == ("env",) else "workloads"
            yield _change(section, ".".join(map(str, (name,) + path)), old, new)


def _checks(a: list, b: list, rendered_a: dict, rendered_b: dict) -> Iterator[Change]:
    by_name_a = {check_name(c): c for c in a if isinstance(c, dict)}
    by_name_b = {check_name(c): c for c in b if isinstance(c, dict)}
    for name in list(by_name_a) + [n for n in by_name_b if n not in by_name_a]:
        before, after = by_name_a.get(name, _MISSING), by_name_b.get(name, _MISSING)
        source = (after if after is not _MISSING else before).get("description", "") or "no source given (no description)"
        if before is _MISSING or after is _MISSING:
            shown = _threshold_text(name, before if after is _MISSING else after, rendered_a if after is _MISSING else rendered_b)
            yield Change("checks", repr(name), None if before is _MISSING else shown, None if after is _MISSING else shown,
                         "added" if before is _MISSING else "removed", source)
            continue
        for path, old, new in _leaves(before, after, ()):
            key = path[0]
            if key in THRESHOLD_FIELDS or key in ("metric", "log", "regex", "contains", "role"):
                old, new = _with_rendered(old, rendered_a.get(name), key), _with_rendered(new, rendered_b.get(name), key)
            yield _change("checks", f"{name!r}." + ".".join(map(str, path)), old, new, source if key != "description" else "")
        for key in ("value", "count"):  # a threshold that follows a parameter which changed
            ra, rb = getattr(rendered_a.get(name), key, None), getattr(rendered_b.get(name), key, None)
            if before.get(key) == after.get(key) and before.get(key) is not None and ra != rb and None not in (ra, rb):
                yield Change("checks", f"{name!r}.{key}", f"{before.get(key)} = {ra}", f"{after.get(key)} = {rb}", "changed", source)


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


_MISSING = _Missing()


def _leaves(a: Any, b: Any, path: tuple) -> Iterator[tuple[tuple, Any, Any]]:
    """(path, before, after) of every place where a and b differ; maps are walked, other values compared whole."""
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            yield from _leaves(a.get(key, _MISSING), b.get(key, _MISSING), path + (key,))
        return
    yield path, a, b


def _change(section: str, path: str, before: Any, after: Any, source: str = "") -> Change:
    kind = "added" if before is _MISSING else "removed" if after is _MISSING else "changed"
    return Change(section, path, None if before is _MISSING else before, None if after is _MISSING else after, kind, source)


def _rendered(found: Inspection) -> dict[str, Check]:
    return {check.name: check for check in found.scenario.checks} if found.scenario else {}


def _with_rendered(raw: Any, check: Check | None, key: str) -> Any:
    """A templated threshold with the value it has on this side: `{{ params.num_prompts }} = 128`."""
    value = getattr(check, key, None) if check is not None and hasattr(check, key) else None
    if isinstance(raw, str) and "{{" in raw and value is not None and value != raw:
        return f"{raw} = {value}"
    return raw


def _threshold_text(name: str, raw: dict, rendered: dict[str, Check]) -> str:
    """What an added or removed check asks: `bench.completed == 128`, `prefill log has '...' (at least 8 lines)`."""
    check = rendered.get(name)
    if "metric" in raw:
        if raw.get("baseline"):
            baseline = raw["baseline"]
            bar = f"{baseline.get('scenario')} x{baseline.get('factor', 1)}"
        else:
            bar = check.value if check is not None else raw.get("value")
        return f"{raw['metric']} {raw.get('op')} {bar}"
    count = check.count if check is not None else raw.get("count", 1)
    evidence = raw.get("regex") or raw.get("contains")
    return f"{raw.get('log')} log {'lacks' if raw.get('absent') else 'has'} {evidence!r}" + \
        ("" if raw.get("absent") else f" (count {count})")
