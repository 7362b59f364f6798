from __future__ import annotations

from pathlib import Path

from runner.parse.logs import ParseResult

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def values(result: ParseResult) -> dict:
    return {name: metric.value for name, metric in result.metrics.items()}
