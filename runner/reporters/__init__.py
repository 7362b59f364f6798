"""Record reporters: each formats a run into one file of the record (junit.xml, summary.md, report.html).

Each registers in runner.report.REPORTERS with a `record_file` attribute; the run pipeline calls
every such reporter as reporter(verdict, metrics, meta) with meta["record_dir"] and writes its text.
"""
from . import html_report, junit, markdown  # noqa: F401  (importing registers them)
