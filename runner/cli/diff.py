"""`scenario diff A B`: what differs between two resolved scenarios, or one scenario at two git revisions."""
from __future__ import annotations

import json
from typing import Any

import click

from runner.base.errors import EXIT_FAIL
from runner.cli.options import complete_scenarios, current_library, library_option
from runner.flows.diff import SECTIONS, Change, ScenarioDiff, diff_scenarios

SHORT = 60


@click.command("diff")
@library_option
@click.argument("a", metavar="A", shell_complete=complete_scenarios)
@click.argument("b", metavar="B", shell_complete=complete_scenarios)
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help="Override a value of B (YAML-typed) before comparing.")
@click.option("--output", "-o", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
@click.option("--exit-code", is_flag=True, help="Exit 1 when the two differ (as `git diff --exit-code`).")
def diff_command(a: str, b: str, overrides: tuple[str, ...], output: str, exit_code: bool) -> int | None:
    """Show what differs between scenarios A and B after resolution (extends, --set): settings, images, env,
    workloads, and checks with each threshold and its source (the check's description).

    \b
    A and B are scenario names or files; NAME@REV reads the library at a git revision:
      scenario diff sglang-1p1d sglang-1p2d            two scenarios
      scenario diff sglang-1p1d@HEAD~3 sglang-1p1d     one scenario, before and after recent commits
      scenario diff sglang-1p1d@origin/main sglang-1p1d   what a branch changes
    An invalid side is still compared; its problems are listed after the differences."""

    result = diff_scenarios(a, b, current_library(), overrides)
    click.echo({"text": as_text, "markdown": as_markdown, "json": as_json}[output](result), nl=False)
    return EXIT_FAIL if exit_code and result.changes else None


def _value(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return "[" + " ".join(str(v) for v in value) + "]"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=False, default=str)
    return repr(value) if isinstance(value, str) else str(value)


def _header(result: ScenarioDiff) -> str:
    def side(s) -> str:
        chain = " <- ".join(s.chain)
        return s.label + (f" ({chain})" if chain and chain != s.label.split("@")[0] else "")
    return f"{side(result.a)} -> {side(result.b)}"


def as_text(result: ScenarioDiff) -> str:
    lines = [f"diff {_header(result)}"]
    for section in SECTIONS:
        changes = [c for c in result.changes if c.section == section]
        if changes:
            lines.append(section)
            lines += [line for change in changes for line in _text_lines(change)]
    count = len(result.changes)
    lines.append(f"{count} difference{'s' if count != 1 else ''}" if count else "no differences after resolution")
    for label, problems in result.problems.items():
        lines.append(f"{label} is invalid:")
        lines += ["  " + line for problem in problems for line in str(problem).splitlines()]
    return "\n".join(lines) + "\n"


def _text_lines(change: Change) -> list[str]:
    mark = {"added": "+ ", "removed": "- ", "changed": "  "}[change.kind]
    before, after = _value(change.before), _value(change.after)
    if change.kind == "added":
        lines = [f"  {mark}{change.path}: {after}"]
    elif change.kind == "removed":
        lines = [f"  {mark}{change.path}: {before}"]
    elif len(before) + len(after) <= SHORT:
        lines = [f"  {mark}{change.path}: {before} -> {after}"]
    else:
        lines = [f"    {change.path}:", f"      - {before}", f"      + {after}"]
    if change.source:
        lines.append(f"      source: {change.source}")
    return lines


def as_markdown(result: ScenarioDiff) -> str:
    """For a pull-request comment: one table of the differences."""
    lines = [f"#### `scenario diff` {_header(result)}", ""]
    if not result.changes:
        lines.append("No differences after resolution.")
    else:
        lines += ["| | what | before | after | source |", "|---|---|---|---|---|"]
        for change in sorted(result.changes, key=lambda c: SECTIONS.index(c.section)):
            cells = [change.section, change.path, "" if change.before is None else _value(change.before),
                     "" if change.after is None else _value(change.after), change.source]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    for label, problems in result.problems.items():
        lines += ["", f"**{label} is invalid:**", ""] + [f"- `{_cell(str(p).splitlines()[0])}`" for p in problems]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def as_json(result: ScenarioDiff) -> str:
    return json.dumps({
        "a": {"spec": result.a.spec, "label": result.a.label, "chain": list(result.a.chain)},
        "b": {"spec": result.b.spec, "label": result.b.label, "chain": list(result.b.chain)},
        "changes": [{"section": c.section, "path": c.path, "kind": c.kind, "before": c.before, "after": c.after, "source": c.source}
                    for c in result.changes],
        "problems": {label: [str(p) for p in problems] for label, problems in result.problems.items()},
    }, indent=2, default=str) + "\n"
