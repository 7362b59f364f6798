"""Bounds for untrusted scenarios: every one is checked before the work it bounds, and breaking one is a
ScenarioError (exit 2) that names the file and line. Scenarios arrive through pull requests and CI validates
them, so `scenario validate` must finish in seconds and bounded memory whatever the file holds.

The numbers are far above what the library uses (its largest file is 8 KB, 5 workloads, nesting depth 9).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Iterable

import yaml

from runner.base.errors import Location, Problem, ScenarioError

MAX_FILE_BYTES = 1 << 20        # a scenario file
MAX_VALUES = 100_000            # values in one document after YAML aliases are expanded (billion laughs)
MAX_DEPTH = 64                  # nesting of maps and lists
MAX_INT_DIGITS = 30             # a 64-bit integer has 20
MAX_EXTENDS = 16                # length of an `extends:` chain
MAX_WORKLOADS = 128
MAX_ATTEMPTS = 1000              # workloads one run starts once repeated jobs are counted attempt by attempt
MAX_CHECKS = 1000
MAX_MAP_ITEMS = 1000            # keys of parameters, env, args, ports, images
MAX_LIST_ITEMS = 10_000         # items of one command, `after`, matrix axis
MAX_MATRIX_VARIANTS = 256       # runs one sweep may start
MAX_RANKS = 4096                # ranks, nodes, replicas, groupSize of one workload (each can become a process or pod)
MAX_TEMPLATE_OUTPUT = 1 << 20   # characters one template may render
MAX_TEMPLATE_SEQUENCE = 100_000  # characters or items one template expression may build ('A'*n, range(n), width)
MAX_TEMPLATE_STEPS = 1_000_000  # range() items and calls in one rendering
MAX_TEMPLATE_SECONDS = 2.0      # wall time of one rendering (enforced by a timer on the main thread)

LIMITS_HINT = "scenario files are bounded (see runner/base/limits.py and the README's 'Limits' section)"


def _problem(message: str, location: Location, hint: str = LIMITS_HINT) -> ScenarioError:
    return ScenarioError(Problem(message, location, hint))


def read_scenario_bytes(path: Path) -> bytes:
    """The bytes of a scenario file, refusing anything that is not a regular file (a FIFO would block, /dev/zero
    never ends) and files over MAX_FILE_BYTES, without reading more than that."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ScenarioError(f"no such scenario file: {path}") from None
    except OSError as error:
        raise _problem(f"cannot read the file: {error.strerror}", Location(str(path)), "") from None
    if not stat.S_ISREG(info.st_mode):
        raise _problem(f"not a regular file ({file_kind(info.st_mode)})", Location(str(path)),
                       "a scenario is a YAML file; devices, FIFOs, sockets and directories are refused")
    if info.st_size > MAX_FILE_BYTES:
        raise _problem(f"the file is {info.st_size:,} bytes; scenario files are at most {MAX_FILE_BYTES:,}", Location(str(path), 1, 1))
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise _problem(f"cannot read the file: {error.strerror}", Location(str(path)), "") from None
    if len(data) > MAX_FILE_BYTES:  # grew after stat
        raise _problem(f"the file is over {MAX_FILE_BYTES:,} bytes", Location(str(path), 1, 1))
    return data


def file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_text_size(text: str, file: str) -> None:
    if len(text) > MAX_FILE_BYTES:
        raise _problem(f"the text is {len(text):,} characters; scenario files are at most {MAX_FILE_BYTES:,} bytes", Location(file, 1, 1))


def check_shape(text: str, file: str) -> None:
    """Walk the YAML events (no document is built) and refuse deep nesting, self-referencing aliases and alias
    expansion past MAX_VALUES, at the place it happens. Syntax errors are left to the loader, which words them."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    total = 0
    sizes: dict[str, int] = {}
    stack: list[tuple[str | None, int]] = []
    try:
        while True:
            try:
                event = loader.get_event()
            except yaml.YAMLError as error:
                if "nesting depth" in str(getattr(error, "problem", "")):  # libyaml's own bound, found while scanning ahead
                    mark = error.problem_mark
                    raise _problem(f"maps and lists are nested more than {MAX_DEPTH} levels deep",
                                   Location(file, mark.line + 1, mark.column + 1)) from None
                return  # a syntax error: the loader words it
            if event is None or isinstance(event, yaml.StreamEndEvent):
                return
            if isinstance(event, yaml.AliasEvent):
                if any(anchor == event.anchor for anchor, _ in stack):
                    raise _problem(f"alias *{event.anchor} refers to the collection that contains it", _mark(file, event),
                                   "a recursive alias would never end: copy the values instead")
                total += sizes.get(event.anchor, 1)
            elif isinstance(event, yaml.ScalarEvent):
                total += 1
                if event.anchor:
                    sizes[event.anchor] = 1
            elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                total += 1
                stack.append((event.anchor, total))
                if len(stack) > MAX_DEPTH:
                    raise _problem(f"maps and lists are nested more than {MAX_DEPTH} levels deep", _mark(file, event))
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)) and stack:
                anchor, started = stack.pop()
                if anchor:
                    sizes[anchor] = total - started + 1
            if total > MAX_VALUES:
                raise _problem(f"the document expands to more than {MAX_VALUES:,} values", _mark(file, event),
                               "YAML aliases (*name) repeat what their anchor names: each use counts in full")
    finally:
        loader.dispose()


def _mark(file: str, event: yaml.Event) -> Location:
    mark = event.start_mark
    return Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)


def check_counts(data: Any, locate) -> None:
    """Counts of a resolved scenario, before the schema and the lints (some lints look at pairs of workloads)."""
    if not isinstance(data, dict):
        return
    problems: list[Problem] = []

    def limit(path: tuple, value: Any, most: int, what: str) -> None:
        if isinstance(value, (list, dict)) and len(value) > most:
            problems.append(Problem(f"{len(value):,} {what}; at most {most:,} are allowed", locate(path), LIMITS_HINT))

    limit(("workloads",), data.get("workloads"), MAX_WORKLOADS, "workloads")
    limit(("checks",), data.get("checks"), MAX_CHECKS, "checks")
    for key in ("parameters", "env", "images", "matrix"):
        limit((key,), data.get(key), MAX_MAP_ITEMS, f"keys in {key}")
    for i, workload in enumerate(data.get("workloads") or () if isinstance(data.get("workloads"), list) else ()):
        if not isinstance(workload, dict):
            continue
        for key in ("env", "args", "ports"):
            limit(("workloads", i, key), workload.get(key), MAX_MAP_ITEMS, f"keys in {key}")
        for key in ("command", "after"):
            limit(("workloads", i, key), workload.get(key), MAX_LIST_ITEMS, f"items in {key}")
        for block, fields in ((workload, ()), (workload.get("local"), ("local",)), (workload.get("kubernetes"), ("kubernetes",))):
            for key in ("ranks", "nodes", "replicas", "groupSize"):
                value = block.get(key) if isinstance(block, dict) else None
                if isinstance(value, int) and not isinstance(value, bool) and value > MAX_RANKS:
                    problems.append(Problem(f"{key}: {value:,} is more than {MAX_RANKS:,}", locate(("workloads", i) + fields + (key,)),
                                            LIMITS_HINT))
    matrix = data.get("matrix")
    if isinstance(matrix, dict) and not problems:
        check_variants(matrix.values(), locate(("matrix",)))
    if problems:
        raise ScenarioError(problems)


def check_variants(axes: Iterable[Any], location: Location) -> None:
    count = 1
    for axis in axes:
        count *= max(1, len(axis)) if isinstance(axis, (list, tuple)) else 1
        if count > MAX_MATRIX_VARIANTS:
            raise _problem(f"the matrix makes more than {MAX_MATRIX_VARIANTS} runs", location,
                           "split the sweep into several scenarios or fewer values per axis")
