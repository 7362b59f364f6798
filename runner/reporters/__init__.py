"""Reporters, registered by name in REPORTERS: `table` and `json` for the terminal, and those with a
`record_file` attribute (junit.xml, summary.md, report.html) that the run pipeline writes into every record.
Each is reporter(report: RunReport) -> str; see reporters/base.py."""
from . import html_report, json_report, junit, markdown, table  # noqa: F401  (importing registers them)
from .base import REPORTERS, RunReport  # noqa: F401
