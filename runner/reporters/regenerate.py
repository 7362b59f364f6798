"""`scenario report RUN`: write a record's report files again from its metrics.json, verdict.json and run.json."""
from __future__ import annotations

from pathlib import Path

from ..errors import RunnerError
from ..history import _read_json, load_metrics, load_verdict
from ..record import atomic_write
from ..report import REPORTERS


def record_reporters() -> dict[str, str]:
    """Reporter name -> the record file it writes."""
    return {name: r.record_file for name, r in REPORTERS.items() if getattr(r, "record_file", None)}


def regenerate_reports(record_dir: Path) -> list[Path]:
    record_dir = Path(record_dir)
    verdict_doc = _read_json(record_dir / "verdict.json")
    metrics_doc = _read_json(record_dir / "metrics.json")
    if not isinstance(verdict_doc, dict) or not isinstance(metrics_doc, dict):
        raise RunnerError(f"{record_dir} has no readable verdict.json and metrics.json: not a finished run record")
    verdict, metrics = load_verdict(verdict_doc), load_metrics(metrics_doc)
    meta = {"run_id": verdict_doc.get("run_id") or record_dir.name, "record": str(record_dir), "record_dir": str(record_dir)}
    written = []
    for name, filename in record_reporters().items():
        atomic_write(record_dir / filename, REPORTERS[name](verdict, metrics, meta))
        written.append(record_dir / filename)
    return written


def regenerate_sweep_reports(folder: Path) -> list[Path]:
    from ..sweep import load_sweep
    from .sweep import sweep_html, sweep_markdown

    result = load_sweep(folder)
    written = []
    for filename, render in (("summary.md", sweep_markdown), ("report.html", sweep_html)):
        atomic_write(Path(folder) / filename, render(result))
        written.append(Path(folder) / filename)
    return written
