"""summary.md: the verdict ready to paste into a PR: verdict line, verdict table, key metrics, environment. No links."""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from runner.report._common import (
    STATUS_ICON,
    clean_text,
    environment,
    key_metrics,
    when,
)
from runner.report.base import VERDICT_HEADERS, RunReport, reporter, verdict_rows


@reporter("markdown")
def markdown_report(report: RunReport) -> str:
    verdict, metrics, run = report.verdict, report.metrics, report.run
    run_id = report.run_id or run.get("run_id", "")
    lines = [f"### {STATUS_ICON.get(verdict.status, '')} {verdict.scenario}: {verdict.status}".replace("###  ", "### "), ""]
    facts = [f"`{clean_text(verdict.summary)}`", f"run `{run_id}`" if run_id else "", run.get("executor"), when(run)]
    lines += [" · ".join(str(f) for f in facts if f), ""]
    if report.description:
        lines += [f"> {cell(report.description)}", ""]
    lines += table(VERDICT_HEADERS, verdict_rows(verdict)) if verdict.results else ["(no checks)"]
    key = key_metrics(verdict, metrics)
    if key:
        lines += ["", "**Key metrics**", ""] + table(["metric", "value"], key)
    lines += emulated_nodes((run.get("facts") or {}).get("nodes"))
    env = environment(run)
    if env:
        lines += ["", "<details><summary>Environment</summary>", ""] + table(["", ""], env) + ["", "</details>"]
    return "\n".join(lines) + "\n"


def emulated_nodes(view: Any) -> list[str]:
    """Which pod ran on which emulated node, each node's link, and the link changes during the run (local executor)."""
    if not isinstance(view, Mapping) or view.get("mode") != "nodes":
        return ["", f"Emulated nodes: none ({view['notice']})"] if isinstance(view, Mapping) and view.get("notice") else []
    pods: dict[str, list[str]] = {}
    for workload, placed in (view.get("workloads") or {}).items():
        for pod in placed:
            ranks = pod.get("ranks") or []
            where = f"{pod['pod']} ({workload}{', ranks ' + ','.join(map(str, ranks)) if len(ranks) > 1 else ''})"
            pods.setdefault(pod["node"], []).append(where)
    rows = [(name, node.get("address", ""), node.get("link_text", "") + (f"; failed: {node['failed']}" if node.get("failed") else ""),
             ", ".join(pods.get(name, [])) or "idle") for name, node in (view.get("nodes") or {}).items()]
    lines = ["", f"**Emulated nodes** ({view.get('subnet', '')}, set up in {view.get('setup_s', 0):.2f} s)", ""]
    lines += table(["node", "address", "link", "pods"], rows)
    events = view.get("events") or []
    if events:
        lines += [""] + [f"- {e['at_s']:.1f} s: {e['node']} {e['change']}" for e in events]
    return lines


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return out


def cell(value: Any) -> str:
    """One Markdown table cell: pipes escaped, one line, and no autolinks (URLs and addresses stay code)."""
    text = clean_text(value).replace("\r", "").replace("\n", " ").replace("|", "\\|").strip()
    if "://" in text or text.startswith("www."):
        text = "`" + text.replace("`", "'") + "`"
    return text


markdown_report.record_file = "summary.md"
