"""Validation of meaning: a scenario that passes these checks judges something, and judges it the way it says.

Part of the validate stage, after the schema and before the lints; not waivable (a lint is a judgement call,
these are errors): checks name metrics their parser declares, with thresholds of the metric's type; parser
options are the declared ones; every workload that runs a tool is judged or says why not; every parameter is
used; durations are finite and positive. Counts and sizes are bounded earlier, by runner.limits.
"""
from __future__ import annotations

import math
import re
from typing import Any, Iterator

from runner.base.errors import Problem
from runner.base.limits import MAX_ATTEMPTS
from runner.parse.catalog import (
    Catalog,
    MetricSpec,
    option_problems,
    unknown_metric_hint,
)
from runner.parse.logs import catalog_of
from runner.scenario.model import Check, Scenario, attempt_name, seconds, thaw

MAX_DURATION_S = 604800.0  # schema $defs.duration: at most a week
_PARAM_USE = re.compile(r"\bparams\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")
_TEMPLATE = "{{"
ORDERED_OPS = ("<", "<=", ">", ">=")
UNTEMPLATED_CHECK_FIELDS = ("metric", "log", "op", "kind", "name", "statistic")


def meaning_problems(scenario: Scenario, executor_view: bool = False) -> list[Problem]:
    problems: list[Problem] = []
    if not executor_view:
        problems += list(_parameters_are_used(scenario))
    for check in (_commands_given, _string_commands_have_a_shell, _no_nul_characters, _ready_waits_for_something,
                  _ready_log_is_not_a_template, _judges_something, _no_vacuous_checks, _checks_name_declared_metrics, _parser_options,
                  _durations, _untemplated_check_fields, _repeats_are_jobs):
        problems += list(check(scenario))
    return problems


def _at(scenario: Scenario, *path: Any, key: bool = False):
    return scenario.sources.with_path(tuple(path), key=key)




# --- something is judged ------------------------------------------------------------------------


def _judges_something(scenario: Scenario) -> Iterator[Problem]:
    if not scenario.workloads:
        yield Problem("the scenario runs nothing: it has no workloads", _at(scenario, "metadata", "name"),
                      "a scenario that runs nothing would always pass: add a workload and a check")
        return
    if not scenario.checks:
        yield Problem("the scenario judges nothing: it has no checks", _at(scenario, "workloads"),
                      "add a check on a metric (`metric: <workload>.<metric>`) or on a log (`log: <workload>`)")
        return
    judged = {check.workload for check in scenario.checks}
    for index, workload in enumerate(scenario.workloads):
        if workload.name in judged or workload.informational or (workload.is_service and workload.ready):
            continue
        yield Problem(f"workload {workload.name!r} runs a tool but no check judges it", _at(scenario, "workloads", index, "name"),
                      f"add a check on {workload.name}'s metrics or log, or say why not: `informational: <reason>`")


def _commands_given(scenario: Scenario) -> Iterator[Problem]:
    """Checked on the resolved scenario, not by the schema: a child file's workload may take its command from the parent."""
    for index, workload in enumerate(scenario.workloads):
        if not workload.command:
            yield Problem(f"workload {workload.name!r} has no command", _at(scenario, "workloads", index),
                          "the program the workload runs, e.g. `command: [all_reduce_perf, -b, 8, -e, 1G]`")


SHELL_HINT = ("write it as a list, `command: [program, arg, ...]`, or add `shell: true` to run the string with bash -c "
              "(both executors use bash)")


def _string_commands_have_a_shell(scenario: Scenario) -> Iterator[Problem]:
    """A string command is a shell line: without `shell: true` the local run refuses it, so validate does too (an
    executor block's command is checked in that executor's view, where it has become the workload's command)."""
    for index, workload in enumerate(scenario.workloads):
        if workload.shell:
            continue
        for path, command in ((("command",), workload.command), (("fallback", "command"), workload.fallback.command if workload.fallback else ())):
            if isinstance(command, str):
                yield Problem(f"the {'fallback ' if path[0] == 'fallback' else ''}command of {workload.name!r} is one string, "
                              "but `shell` is not true", _at(scenario, "workloads", index, *path), SHELL_HINT)


def _no_nul_characters(scenario: Scenario) -> Iterator[Problem]:
    """A NUL (a YAML "\\0" escape) cannot reach a program: argv and environment strings end at it."""
    for text, path in _document_strings(scenario):
        if "\0" in text:
            yield Problem("a NUL character (\\0) in a value: no program can receive it in an argument or the environment",
                          _at(scenario, *path), "remove the \\0 escape from the double-quoted string")


def _ready_log_is_not_a_template(scenario: Scenario) -> Iterator[Problem]:
    for index, workload in enumerate(scenario.workloads):
        if workload.ready and workload.ready.log and ("{{" in workload.ready.log or "{%" in workload.ready.log):
            yield Problem("`ready.log` is a regular expression matched as written: it is not rendered as a template",
                          _at(scenario, "workloads", index, "ready", "log"),
                          "write the text to wait for; a value known only at run time cannot be waited for by name "
                          "(capture it instead with a named group, (?P<name>...))")


def _ready_waits_for_something(scenario: Scenario) -> Iterator[Problem]:
    for index, workload in enumerate(scenario.workloads):
        ready = workload.ready
        if ready is not None and not (ready.port or ready.log or ready.http_port):
            yield Problem("`ready` names nothing to wait for", _at(scenario, "workloads", index, "ready"),
                          "wait for a port (`port: <name>`), a log line (`log: <regex>`) or an HTTP endpoint (`http: {port: <name>}`)")


def _no_vacuous_checks(scenario: Scenario) -> Iterator[Problem]:
    for index, check in enumerate(scenario.checks):
        if check.log and not (isinstance(check.count, int) and check.count >= 0) and check.count not in ("every-rank", "every-pod"):
            yield Problem(f"count {check.count!r} is not a whole number of lines", _at(scenario, "checks", index, "count"),
                          "a count is a number, every-rank, every-pod, or a template that gives a whole number")
            continue
        if check.log and not check.absent and check.count == 0:
            yield Problem("this check always holds: finding the evidence 0 times or more needs nothing", _at(scenario, "checks", index, "count"),
                          "to require that it never appears, write `absent: true`; to require it, a count of 1 or more")


def _repeats_are_jobs(scenario: Scenario) -> Iterator[Problem]:
    """`repeat` on a workload runs it again after it succeeded: only a job ends, and attempt names must be free."""
    names = {w.name for w in scenario.workloads}
    total = sum(w.repeat for w in scenario.workloads)
    if total > MAX_ATTEMPTS:
        yield Problem(f"the run would start {total:,} workloads once repeated jobs are counted attempt by attempt; at most {MAX_ATTEMPTS:,}",
                      _at(scenario, "workloads"), "lower `repeat:` on the jobs, or repeat the whole run with --repeat N")
    for index, workload in enumerate(scenario.workloads):
        if workload.repeat <= 1:
            continue
        if workload.is_service:
            yield Problem(f"workload {workload.name!r} is a {workload.kind}: it runs until the run ends, so it cannot be repeated",
                          _at(scenario, "workloads", index, "repeat"),
                          "repeat the job that measures against it (`repeat:` on that job), or the whole run (`repeat:` at the top, `--repeat N`)")
            continue
        taken = sorted(names & {attempt_name(workload.name, k) for k in range(1, workload.repeat + 1)})
        if taken:
            yield Problem(f"the attempts of {workload.name!r} would be named {taken[0]!r}, which another workload already is",
                          _at(scenario, "workloads", index, "repeat"), "rename that workload, or this one")


# --- checks and the catalog ---------------------------------------------------------------------


def _checks_name_declared_metrics(scenario: Scenario) -> Iterator[Problem]:
    parsers = {w.name: w.parser for w in scenario.workloads}
    for index, check in enumerate(scenario.checks):
        parser = parsers.get(check.workload)
        if not check.metric or parser is None:
            continue  # no such workload, or no parser: the lints say so
        catalog = catalog_of(parser.name)
        if catalog is None:
            continue
        declared = catalog.metrics_for(thaw(parser.options))
        spec = declared.get(check.metric_name)
        if spec is None:
            yield Problem(f"parser {parser.name!r} of workload {check.workload!r} yields no metric {check.metric_name!r}",
                          _at(scenario, "checks", index, "metric"), unknown_metric_hint(check.metric_name, declared))
            continue
        yield from _threshold_problems(scenario, index, check, spec)


def _threshold_problems(scenario: Scenario, index: int, check: Check, spec: MetricSpec) -> Iterator[Problem]:
    if spec.type == "string" and check.op not in ("==", "!="):
        yield Problem(f"{check.metric} is text: `{check.op}` cannot order it", _at(scenario, "checks", index, "op"),
                      "compare text with == or !=")
    if check.baseline is not None:
        return
    if check.op in ORDERED_OPS and spec.type == "any" and (isinstance(check.value, bool) or not isinstance(check.value, (int, float))):
        yield Problem(f"`{check.op}` orders numbers, but the threshold of {check.metric} is {check.value!r}",
                      _at(scenario, "checks", index, "value"), "write the threshold as a number without quotes, or compare text with == or !=")
    elif not spec.accepts_threshold(check.value):
        what = "text" if spec.type == "string" else f"a number{' in ' + spec.unit if spec.unit and spec.unit != 'count' else ''}"
        yield Problem(f"{check.metric} is {what}, but the threshold is {check.value!r}", _at(scenario, "checks", index, "value"),
                      "write the threshold as a number without quotes" if spec.type != "string" else "quote the text to compare with")
    elif spec.type != "string" and isinstance(check.value, float) and not math.isfinite(check.value):
        yield Problem(f"the threshold {check.value!r} is not a finite number", _at(scenario, "checks", index, "value"))


def _parser_options(scenario: Scenario) -> Iterator[Problem]:
    for index, workload in enumerate(scenario.workloads):
        parser = workload.parser
        catalog = catalog_of(parser.name) if parser else None
        if catalog is None:
            continue
        for name, problem, hint in option_problems(catalog, thaw(parser.options)):
            path = ("workloads", index, "parser", "options") + ((name,) if name else ())
            yield Problem(f"parser {parser.name!r}: {problem}", _at(scenario, *path, key=bool(name) and name not in catalog_names(catalog)),
                          hint)


def catalog_names(catalog: Catalog) -> set[str]:
    return {o.name for o in catalog.options}


# --- parameters, durations, templates, sizes -----------------------------------------------------------


def _strings(value: Any, path: tuple = ()) -> list[tuple[str, tuple]]:
    """Every string of a document with its path (a mapping's keys with the mapping's path). A loop, not recursive
    generators: validation walks every scenario's document twice."""
    found: list[tuple[str, tuple]] = []
    pending = [(value, path)]
    while pending:
        value, path = pending.pop()
        if isinstance(value, str):
            found.append((value, path))
        elif isinstance(value, dict) or hasattr(value, "items"):
            for key, item in value.items():
                found.append((str(key), path))
                pending.append((item, path + (key,)))
        elif isinstance(value, (list, tuple)):
            pending.extend((item, path + (i,)) for i, item in enumerate(value))
    return found


_LAST_WALK: list = [None, []]  # (the document, its strings): a validation's two passes share one walk


def _document_strings(scenario: Scenario) -> list[tuple[str, tuple]]:
    if _LAST_WALK[0] is not scenario.data:
        _LAST_WALK[:] = [scenario.data, _strings(scenario.data)]
    return _LAST_WALK[1]


def used_parameters(scenario: Scenario) -> set[str]:
    """Parameters the scenario's templates read (`params.NAME`, `params['NAME']`) or its matrix sweeps."""
    used: set[str] = set()
    for text, path in _document_strings(scenario):
        if path[:1] == ("parameters",) and len(path) <= 1:
            continue  # the parameter names themselves
        if path[:1] == ("matrix",) or (path == ("matrix",)):
            if text.startswith("parameters."):
                used.add(text.split(".")[1])
        if "params" in text:
            used.update(a or b for a, b in _PARAM_USE.findall(text))
    triage = scenario.data.get("triage") or {}  # the fleet size and the rehearsal links' node names
    for text in [str(triage.get("nodes", "")), *map(str, (triage.get("links") or {}).keys())]:
        used.update(a or b for a, b in _PARAM_USE.findall(text))
    return used


def _parameters_are_used(scenario: Scenario) -> Iterator[Problem]:
    used = used_parameters(scenario)
    for name in scenario.parameters:
        if name in used:
            continue
        yield Problem(f"parameter {name!r} is defined but nothing uses it", _at(scenario, "parameters", name, key=True),
                      f"use it as {{{{ params.{name} }}}} in a command or a check, or remove it")


_DURATION_PATHS = (("timeouts", "run"), ("timeouts", "ready"), ("timeouts", "cleanup"))


def _duration_fields(scenario: Scenario) -> Iterator[tuple[Any, tuple]]:
    data = scenario.data
    for path in _DURATION_PATHS:
        value = (data.get(path[0]) or {}).get(path[1])
        if value is not None:
            yield value, path
    for index, workload in enumerate(data.get("workloads") or ()):
        if workload.get("timeout") is not None:
            yield workload["timeout"], ("workloads", index, "timeout")
        if (workload.get("ready") or {}).get("timeout") is not None:
            yield workload["ready"]["timeout"], ("workloads", index, "ready", "timeout")


def _durations(scenario: Scenario) -> Iterator[Problem]:
    for value, path in _duration_fields(scenario):
        try:
            duration = seconds(value)
        except ValueError:
            continue  # the schema has said so
        if not (duration and math.isfinite(duration) and 0 < duration <= MAX_DURATION_S):
            yield Problem(f"duration {value!r} must be more than zero and at most a week", _at(scenario, *path),
                          "there is no 'no limit': give the longest time it may take, e.g. 30m")


def _untemplated_check_fields(scenario: Scenario) -> Iterator[Problem]:
    for index, raw in enumerate(scenario.data.get("checks") or ()):
        for field in UNTEMPLATED_CHECK_FIELDS:
            value = raw.get(field)
            if isinstance(value, str) and _TEMPLATE in value:
                yield Problem(f"`{field}` of a check cannot be a template", _at(scenario, "checks", index, field),
                              "checks are tied to workloads and metrics before anything runs; templates work in value, contains and regex")
