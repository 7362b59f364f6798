"""Triage output: the suspects table (terminal, summary.md), `-o json`, the node x node heatmap (report.html),
and the cordon commands. Formatting only: the findings are decided in scoring."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from html import escape
from typing import Sequence

from tabulate import tabulate

from runner.base.units import format_value
from runner.flows.triage.scoring import JudgedSet, Suspect, pair_matrix
from runner.records.record import atomic_write, to_jsonable, write_json
from runner.report.html_report import page
from runner.report.html_report import table as html_table
from runner.report.markdown import table as markdown_table

TRIAGE_FORMAT = "scenario-runner/flows/triage/v1"

MAX_EVIDENCE = 6   # sets named per suspect in the tables (the JSON has them all)


def nodes_text(nodes: Sequence[str]) -> str:
    return "+".join(nodes) if len(nodes) <= 4 else f"{len(nodes)} nodes ({nodes[0]} .. {nodes[-1]})"


def _value(j: JudgedSet) -> str:
    text = format_value(j.result.value, j.result.unit) if j.result.value is not None else "-"
    return text + (f" ({j.relative:.2f}x)" if j.relative is not None else "")


def evidence_text(suspect: Suspect) -> str:
    bad = [j for j in suspect.evidence if j.bad]
    parts = [f"{nodes_text(j.nodes)} {_value(j)} {j.why}" for j in bad[:MAX_EVIDENCE]]
    more = f"; {len(bad) - MAX_EVIDENCE} more" if len(bad) > MAX_EVIDENCE else ""
    return "; ".join(parts) + more


def suspect_rows(result) -> list[list[str]]:
    return [[s.node, f"{s.bad_sets}/{s.sets} bad", f"{s.fine_without}/{s.without} fine", evidence_text(s)]
            for s in result.findings.suspects]


SUSPECT_HEADERS = ["suspect", "sets with it", "sets without", "evidence (set, metric, why)"]


def triage_table(result) -> str:
    settings = result.settings
    lines = [f"{result.scenario} triage {result.triage_id} ({result.state}): {settings.strategy} over {len(result.fleet)} nodes, "
             f"{len(result.results)} sets in {len(result.rounds)} rounds, metric {settings.metric}"]
    if result.findings.suspects:
        lines += ["", tabulate(suspect_rows(result), headers=SUSPECT_HEADERS, tablefmt="simple")]
    else:
        lines.append("suspects: none")
    if result.findings.unexplained:
        lines.append("unexplained bad sets (no single node explains them): "
                     + "; ".join(f"{nodes_text(j.nodes)} {j.why}" for j in result.findings.unexplained[:MAX_EVIDENCE]))
    for stats in result.rounds:
        if stats.left_behind:
            lines.append(f"round {stats.number} left objects behind: {', '.join(stats.left_behind)}")
    if result.cordon_commands():
        lines += ["", "cordon (runs only with --cordon):" if not result.cordoned else f"cordoned: {', '.join(result.cordoned)}"]
        lines += [f"  {c}" for c in result.cordon_commands()] if not result.cordoned else []
    lines.append(f"triage record: {result.record}")
    return "\n".join(lines)


def triage_document(result) -> dict:
    def iso(ts: float) -> str:
        return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds") if ts else ""

    settings = result.settings
    return to_jsonable({
        "format": TRIAGE_FORMAT,
        "triage_id": result.triage_id,
        "scenario": result.scenario,
        "state": result.state,
        "started": iso(result.started),
        "ended": iso(result.ended),
        "strategy": settings.strategy,
        "executor": settings.executor,
        "metric": settings.metric,
        "better": settings.better,
        "slow": settings.slow,
        "concurrency": settings.concurrency,
        "context": result.context,
        "fleet": list(result.fleet),
        "left_out": dict(result.left_out),
        "suspects": result.suspects,
        "cordon": result.cordon_commands(),
        "cordoned": list(result.cordoned),
        "evidence": {s.node: {"bad_sets": s.bad_sets, "sets": s.sets, "sets_without_suspects": s.without,
                              "fine_without_suspects": s.fine_without,
                              "sets_with_it": [_set_entry(j) for j in s.evidence]} for s in result.findings.suspects},
        "unexplained": [_set_entry(j) for j in result.findings.unexplained],
        "scores": {n.node: {"sets": n.sets, "bad_sets": n.bad_sets, "relative": n.relative} for n in result.findings.scores},
        "rounds": [{"round": r.number, "sets": r.sets, "wall_s": round(r.wall_s, 3), "left_behind": list(r.left_behind)}
                   for r in result.rounds],
        "sets": [_set_entry(j) for j in result.findings.judged],
    })


def _set_entry(j: JudgedSet) -> dict:
    r = j.result
    return {"round": r.round, "nodes": list(r.nodes), "status": r.status, "value": r.value, "unit": r.unit,
            "median": j.median, "relative": round(j.relative, 4) if j.relative is not None else None, "bad": j.bad,
            "why": j.why, "failed_checks": list(r.failed_checks), "run_id": r.run_id, "message": r.message}


def triage_markdown(result) -> str:

    icon = "❌" if result.suspects or result.findings.unexplained else "✅"
    lines = [f"### {icon} {result.scenario}: triage {result.triage_id}", "",
             f"`{result.settings.strategy}` over {len(result.fleet)} nodes · {len(result.results)} sets in {len(result.rounds)} rounds · "
             f"metric `{result.settings.metric}` · {result.state}", ""]
    if result.findings.suspects:
        lines += ["**Suspects**", ""] + markdown_table(SUSPECT_HEADERS, suspect_rows(result))
        if result.cordon_commands():
            lines += ["", "Cordon (the runner does it only with `--cordon`):", "", "```"] + result.cordon_commands() + ["```"]
    else:
        lines.append("No suspect node.")
    if result.findings.unexplained:
        lines += ["", "**Unexplained bad sets** (no single node explains them)", ""]
        lines += markdown_table(["set", "value", "why"], [[nodes_text(j.nodes), _value(j), j.why] for j in result.findings.unexplained])
    if result.left_out:
        lines += ["", "Left out of the fleet: " + ", ".join(f"{n} ({w})" for n, w in result.left_out.items())]
    return "\n".join(lines) + "\n"


# --- report.html: the heatmap ------------------------------------------------------------------


def heatmap_html(result) -> str:
    """node x node: each pair's metric relative to the fleet median, red where the pair was bad; single-node sets
    on the diagonal. Without pair sets (bisection), one row per node: its sets and bad sets."""
    cells = pair_matrix(result.findings.judged, result.fleet)
    if not cells:
        return ""
    suspects = set(result.suspects)
    head = "".join(f'<th class="v">{escape(n)}</th>' for n in result.fleet)
    rows = [f'<table class="heat"><thead><tr><th></th>{head}</tr></thead><tbody>']
    for a in result.fleet:
        mark = ' class="suspect"' if a in suspects else ""
        tds = []
        for b in result.fleet:
            j = cells.get((a, b))
            if j is None:
                tds.append('<td class="none"></td>')
                continue
            title = escape(f"{nodes_text(j.nodes)}: {_value(j)} {j.result.status} {j.why}".strip())
            text = f"{j.relative:.2f}" if j.relative is not None else j.result.status
            tds.append(f'<td style="background:{_colour(j)}" title="{title}">{escape(text)}</td>')
        rows.append(f"<tr><th{mark}>{escape(a)}</th>{''.join(tds)}</tr>")
    rows.append("</tbody></table>")
    unit = next((j.result.unit for j in result.findings.judged if j.result.unit), "")
    caption = (f'<p class="sub">{escape(result.settings.metric)} ({escape(unit)}) of each set relative to the fleet median; '
               f"bad sets (slow below {result.settings.slow:g}x or not passing) in red. Hover a cell for the value.</p>")
    return caption + "\n".join(rows)


def _colour(j: JudgedSet) -> str:
    if j.bad:
        return "#f28b82" if j.relative is None or j.relative < 0.5 else "#fbbc04"
    shade = max(0.0, min(1.0, (j.relative or 1.0) - 0.75) / 0.5)
    green = int(200 + 40 * shade)
    return f"rgb({230 - int(40 * shade)},{green},{210 - int(30 * shade)})"


HEAT_CSS = ("table.heat td{min-width:34px;text-align:center;font-size:11px;padding:3px} table.heat th.v{writing-mode:vertical-rl;"
            "font-size:11px} table.heat td.none{background:#f8f9fa} th.suspect{background:#fce8e6;color:#c5221f}")


def triage_html(result) -> str:

    body = [f"<style>{HEAT_CSS}</style>",
            f"<h1>{escape(result.scenario)}: triage {escape(result.triage_id)}</h1>",
            f'<p class="sub">{escape(result.settings.strategy)} over {len(result.fleet)} nodes, {len(result.results)} sets in '
            f"{len(result.rounds)} rounds ({escape(result.state)})</p>",
            "<h2>Suspects</h2>",
            html_table(SUSPECT_HEADERS, suspect_rows(result)) if result.suspects else "<p>No suspect node.</p>"]
    if result.cordon_commands():
        body.append("<pre>" + escape("\n".join(result.cordon_commands())) + "</pre>")
    heat = heatmap_html(result)
    if heat:
        body += ["<h2>Heatmap</h2>", heat]
    body += ["<h2>Nodes</h2>", html_table(["node", "sets", "bad sets", "median relative"],
                                     [[n.node, n.sets, n.bad_sets, f"{n.relative:.2f}" if n.relative is not None else "-"]
                                      for n in result.findings.scores])]
    body += ["<h2>Sets</h2>", html_table(["round", "set", "status", "value", "why", "run"],
                                    [[j.result.round, nodes_text(j.nodes), j.result.status, _value(j), j.why, j.result.run_id]
                                     for j in result.findings.judged], status_column=2)]
    return page(f"{result.scenario} triage {result.triage_id}", body)


def write_triage_record(result, reports: bool = True) -> None:
    folder = result.record
    write_json(folder / "triage.json", triage_document(result))
    if not reports:
        return
    for filename, render in (("summary.md", triage_markdown), ("report.html", triage_html)):
        try:
            atomic_write(folder / filename, render(result))
        except Exception as error:  # a broken report must not lose the triage record
            atomic_write(folder / f"{filename}.error.txt", f"{type(error).__name__}: {error}\n")


def json_text(result) -> str:
    return json.dumps(triage_document(result), indent=2)

