"""The labels every object of a run carries (cleanup and the watches select by them) and DNS-safe names."""
from __future__ import annotations

import re

from runner.scenario.model import Scenario

RUNNER_LABEL = "app.kubernetes.io/managed-by"
LABEL_PREFIX = "scenario-runner.dev"


def dns_name(text: str, limit: int = 63) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", str(text).lower()).strip("-")
    return name[:limit].rstrip("-") or "x"


def run_labels(scenario: Scenario, run_id: str, workload: str = "") -> dict[str, str]:
    labels = {
        RUNNER_LABEL: "scenario-runner",
        f"{LABEL_PREFIX}/run-id": run_id,
        f"{LABEL_PREFIX}/scenario": dns_name(scenario.name),
    }
    if workload:
        labels[f"{LABEL_PREFIX}/workload"] = dns_name(workload)
    return labels
