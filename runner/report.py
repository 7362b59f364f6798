"""Pipeline stage "report": reporters only format; the verdict is decided before them.

Reporters live in runner/reporters/, registered by name (`table`, `json`, `junit`, `markdown`, `html`); each
turns one RunReport into text. The run record holds several; the terminal shows one (`run -o NAME`).
"""
from __future__ import annotations

from .reporters import REPORTERS, RunReport
from .reporters.base import format_value  # noqa: F401  (formatting shared with history, compare and sweep)


def reporter_names() -> list[str]:
    return sorted(REPORTERS)


def render_report(name: str, report: RunReport) -> str:
    return REPORTERS[name](report)
