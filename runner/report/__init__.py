"""Pipeline stage "report": reporters only format; the verdict is decided before them.

Reporters live in this package, registered by name (`table`, `json`, `junit`, `markdown`, `html`); each
turns one RunReport into text. The run record holds several; the terminal shows one (`run -o NAME`).
"""
from __future__ import annotations

from runner.report import html_report, json_report, junit, markdown, table  # noqa: F401  (importing registers them)
from runner.report.base import REPORTERS, RunReport


def reporter_names() -> list[str]:
    return sorted(REPORTERS)


def render_report(name: str, report: RunReport) -> str:
    return REPORTERS[name](report)
