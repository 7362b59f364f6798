#!/usr/bin/env python3
"""The review of a pull request's scenarios, as Markdown on stdout (the workflow posts it as a PR comment).

    .github/scripts/scenario_review.py BASE [--library scenarios] [--scenario "scenario"]

The scenarios the PR changes are the library's files that differ from BASE (a git revision: the PR's base commit),
plus every scenario that extends one of them (a variant inherits what its parent changes). For each one:
`scenario validate`, `scenario diff NAME@BASE NAME` (a new scenario: `scenario show`), and `scenario rehearse NAME`
(the rehearsal against a real local control plane, issue 25; when this version of the runner has no such command the
summary says so and nothing fails). Exit 1 when a scenario is invalid or a rehearsal failed, else 0."""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path


def run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True)


def changed_files(base: str, library: Path) -> list[Path]:
    done = run(["git", "diff", "--name-only", "--no-renames", base, "--", str(library)])
    if done.returncode != 0:
        sys.exit(f"git diff against {base} failed: {done.stderr.strip()}")
    new = run(["git", "ls-files", "--others", "--exclude-standard", "--full-name", "--", str(library)])  # not yet added
    top = Path(run(["git", "rev-parse", "--show-toplevel"]).stdout.strip())
    lines = done.stdout.splitlines() + new.stdout.splitlines()
    return [top / line for line in dict.fromkeys(lines) if line.endswith((".yaml", ".yml"))]


def listing(scenario: list[str], library: Path) -> dict[str, dict]:
    """`scenario list -o json` by name: each scenario's executors among other things."""
    names = run(scenario + ["list", "--library", str(library), "-o", "json"])
    return {row["name"]: row for row in json.loads(names.stdout or "[]")}


def affected(scenario: list[str], library: Path, changed: list[Path]) -> tuple[list[str], list[str]]:
    """(scenarios to review, scenarios the PR deletes): the changed ones and every one whose extends chain holds one."""
    changed_set = {path.resolve() for path in changed}
    listed = list(listing(scenario, library))
    review = []
    for name in listed:
        chain = chain_of(run(scenario + ["show", "--library", str(library), name]).stdout, name)
        files = {path.resolve() for path in library.rglob("*.yaml") if path.stem in chain}
        if files & changed_set:
            review.append(name)
    deleted = [path.stem for path in changed if not path.exists()]
    return review, deleted


def chain_of(shown: str, name: str) -> list[str]:
    """The extends chain from `scenario show`'s first line (`# resolved from: child <- parent`)."""
    first = shown.splitlines()[0] if shown else ""
    return first.removeprefix("# resolved from: ").split(" <- ") if first.startswith("# resolved from:") else [name]


def existed(base: str, library: Path, name: str) -> bool:
    top = Path(run(["git", "rev-parse", "--show-toplevel"]).stdout.strip())
    inside = library.resolve().relative_to(top.resolve())
    listing = run(["git", "ls-tree", "-r", "--name-only", base, "--", str(inside)]).stdout.splitlines()
    return any(Path(line).stem == name for line in listing)


def section(title: str, body: str, fence: bool = True) -> list[str]:
    text = body.strip() or "(no output)"
    return [f"<details><summary>{title}</summary>", "", "```" if fence else "", text, "```" if fence else "", "", "</details>", ""]


def review_one(scenario: list[str], library: Path, base: str, name: str, rehearse: str) -> tuple[list[str], bool]:
    """`rehearse`: "yes" (a Kubernetes scenario, the command exists), or why the rehearsal is not run."""
    lib = ["--library", str(library)]
    lines, ok = [f"### `{name}`", ""], True
    validated = run(scenario + ["validate", *lib, name])
    ok &= validated.returncode == 0
    lines.append(("✅ valid" if validated.returncode == 0 else "❌ invalid") + " (`scenario validate`)")
    lines.append("")
    if validated.returncode != 0 or "warning:" in validated.stdout:
        lines += section("validate", validated.stdout + validated.stderr)
    if existed(base, library, name):
        diffed = run(scenario + ["diff", *lib, f"{name}@{base}", name, "-o", "markdown"])
        lines += [diffed.stdout.strip() if diffed.returncode == 0 else f"`scenario diff` failed:\n\n```\n{diffed.stderr.strip()}\n```", ""]
    else:
        shown = run(scenario + ["show", *lib, name])
        chain = chain_of(shown.stdout, name)
        if len(chain) > 1:  # a new variant: what it changes of its parent
            diffed = run(scenario + ["diff", *lib, chain[1], name, "-o", "markdown"])
            lines += [f"New scenario, extending `{chain[1]}`.", "", diffed.stdout.strip() or diffed.stderr.strip(), ""]
        else:
            lines += ["New scenario."] + section("scenario show", shown.stdout + shown.stderr)
    if rehearse != "yes":
        lines += [f"Rehearsal: not run ({rehearse}).", ""]
    else:
        rehearsed = run(scenario + ["rehearse", *lib, name])
        ok &= rehearsed.returncode == 0
        lines += [f"Rehearsal: {'✅ passed' if rehearsed.returncode == 0 else f'❌ exit {rehearsed.returncode}'}"]
        lines += section("scenario rehearse", rehearsed.stdout + rehearsed.stderr)
    return lines, ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="git revision the PR is compared with (its base commit)")
    parser.add_argument("--library", default="scenarios", type=Path)
    parser.add_argument("--scenario", default="scenario", help="the scenario command (default: scenario)")
    parser.add_argument("--no-rehearse", action="store_true", help="skip `scenario rehearse` (no local control plane here)")
    args = parser.parse_args()
    scenario = shlex.split(args.scenario)
    changed = changed_files(args.base, args.library)
    review, deleted = affected(scenario, args.library, changed)
    has_rehearse = not args.no_rehearse and run(scenario + ["rehearse", "--help"]).returncode == 0
    executors = {name: row.get("executors", "") for name, row in listing(scenario, args.library).items()}

    def rehearsal(name: str) -> str:
        if args.no_rehearse:
            return "--no-rehearse"
        if not has_rehearse:
            return "this runner has no `scenario rehearse` (issue 25)"
        return "yes" if "kubernetes" in executors.get(name, "") else "not a Kubernetes scenario"

    lines = ["## Scenario review", ""]
    if not review and not deleted:
        lines.append(f"No scenario changed against `{args.base}`.")
    ok = True
    for name in review:
        more, fine = review_one(scenario, args.library, args.base, name, rehearsal(name))
        lines += more
        ok &= fine
    lines += [f"Deleted: `{name}`" for name in deleted]
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
