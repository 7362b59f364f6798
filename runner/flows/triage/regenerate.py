"""`scenario report <triage>`: a triage record's reports again from its triage.json (as runner.flows.regenerate
does for a run record). The sets are judged and explained again with the record's own metric direction and slow
factor: the same scoring as when the triage ran."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from runner.base.errors import RunnerError
from runner.flows.triage.drive import RoundStats, TriageResult
from runner.flows.triage.report import TRIAGE_FORMAT, triage_html, triage_markdown
from runner.flows.triage.scoring import SetResult, find_suspects, judge_sets
from runner.flows.triage.settings import TriageSettings
from runner.records.record import atomic_write, read_json


def load_triage(folder: Path) -> TriageResult:
    """A TriageResult from a triage record's triage.json: the sets as they ran, judged and explained again with the
    record's own metric direction and slow factor (the same scoring as when it ran)."""
    folder = Path(folder)
    document = read_json(folder / "triage.json")
    hint = "a triage record is the <triage-id>.triage folder a `scenario run --triage` writes under results/<scenario>/"
    if document is None:
        raise RunnerError(f"{folder / 'triage.json'}: missing or not a JSON object, so {folder.name} is not a triage record "
                          "that can be reported", hint=hint)
    if document.get("format") != TRIAGE_FORMAT:
        raise RunnerError(f"{folder / 'triage.json'}: format {document.get('format')!r}, expected {TRIAGE_FORMAT!r}", hint=hint)
    try:
        metric = str(document["metric"])
        settings = TriageSettings(strategy=str(document["strategy"]), workload=metric.split(".", 1)[0], metric=metric,
                                  better=str(document.get("better") or "higher"), slow=float(document["slow"]),
                                  concurrency=document.get("concurrency"), set_size=0, base_nodes=0, base_ranks=0,
                                  executor=str(document.get("executor") or ""))
        results = tuple(SetResult(int(e["round"]), tuple(str(n) for n in e["nodes"]), str(e["status"]),
                                  e["value"] if isinstance(e.get("value"), (int, float)) and not isinstance(e.get("value"), bool)
                                  else None, str(e.get("unit") or ""), tuple(str(c) for c in e.get("failed_checks") or ()),
                                  str(e.get("run_id") or ""), "", str(e.get("message") or ""))
                        for e in document["sets"])
        rounds = tuple(RoundStats(int(r["round"]), int(r["sets"]), float(r["wall_s"]), tuple(r.get("left_behind") or ()))
                       for r in document["rounds"])
        fleet = tuple(str(n) for n in document["fleet"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise RunnerError(f"{folder / 'triage.json'}: not a readable triage document ({type(error).__name__}: {error})",
                          hint=hint) from None
    findings = find_suspects(judge_sets(results, settings.better, settings.slow), fleet)
    return TriageResult(str(document.get("triage_id") or folder.name.removesuffix(".triage")), str(document.get("scenario") or ""),
                        folder, settings, fleet, dict(document.get("left_out") or {}), results, findings, rounds,
                        str(document.get("state") or "complete"), tuple(document.get("cordoned") or ()),
                        str(document.get("context") or _context_of(document.get("cordon") or [])),
                        _timestamp(document.get("started")), _timestamp(document.get("ended")))


def _context_of(commands: Sequence[str]) -> str:
    """The kubeconfig context of the cordon commands of a record written before triage.json named it."""
    for command in commands:
        words = str(command).split()
        if "--context" in words[:-1]:
            return words[words.index("--context") + 1]
    return ""


def _timestamp(text: Any) -> float:
    try:
        return datetime.fromisoformat(str(text)).timestamp() if text else 0.0
    except ValueError:
        return 0.0


def regenerate_triage_reports(folder: Path) -> tuple[TriageResult, list[Path]]:
    """summary.md and report.html of a triage record written again; returns (the triage, the files written)."""
    result = load_triage(folder)
    written = []
    for filename, render in (("summary.md", triage_markdown), ("report.html", triage_html)):
        atomic_write(result.record / filename, render(result))
        written.append(result.record / filename)
    return result, written
