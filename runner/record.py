"""The run record: results/<scenario>/<run-id>/, written atomically and never overwritten.

While a run is in progress its record lives in `<run-id>.partial/` (logs stream
there, so a crash still leaves them); at the end it is renamed to `<run-id>/`.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import tempfile
import time
from dataclasses import asdict, is_dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import yaml

from . import __version__
from .model import thaw

METRICS_FORMAT = "scenario-runner/metrics/v1"
VERDICT_FORMAT = "scenario-runner/verdict/v1"
RUN_FORMAT = "scenario-runner/run/v1"
REPO_ROOT = Path(__file__).resolve().parent.parent
SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH)", re.IGNORECASE)
REDACTED = "<redacted>"


def default_results_dir() -> Path:
    return Path(os.environ.get("SCENARIO_RESULTS", REPO_ROOT / "results"))


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def redact_env(env: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (REDACTED if SECRET_NAME.search(k) else v) for k, v in env.items()}


def redact(value: Any) -> Any:
    """Env-like mappings and `K=V` strings whose names look like secrets lose their values."""
    if isinstance(value, Mapping):
        return {k: (REDACTED if SECRET_NAME.search(str(k)) and isinstance(v, (str, int, float)) else redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str) and "=" in value and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", value):
        name = value.split("=", 1)[0]
        if SECRET_NAME.search(name):
            return f"{name}={REDACTED}"
    return value


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(to_jsonable(data), indent=2, sort_keys=False, default=str) + "\n")


def to_jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    return value


def git_commit(path: Path = REPO_ROOT) -> str:
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--", "scenarios"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    commit = out.stdout.strip()
    return commit + ("-dirty" if commit and dirty.stdout.strip() else "")


class RunRecord:
    """Creates the record directory up front and finalizes it with a rename."""

    def __init__(self, results_dir: Path, scenario: str, run_id: str):
        self.scenario = scenario
        self.run_id = run_id
        self.final_dir = Path(results_dir) / scenario / run_id
        self.dir = self.final_dir.with_name(run_id + ".partial")
        if self.final_dir.exists() or self.dir.exists():
            raise FileExistsError(f"run record {self.final_dir} already exists")
        self.dir.mkdir(parents=True)
        self.started = time.time()

    def write_scenario(self, data: Mapping[str, Any]) -> None:
        resolved = redact(thaw(data))
        atomic_write(self.dir / "scenario.yaml", yaml.safe_dump(resolved, sort_keys=False, width=120))

    def write_json(self, name: str, data: Any) -> None:
        write_json(self.dir / name, data)

    def finalize(self) -> Path:
        os.replace(self.dir, self.final_dir)
        self.dir = self.final_dir
        return self.final_dir


def run_metadata(*, scenario: str, run_id: str, executor: str, started: float, ended: float, status: str,
                 facts: Mapping[str, Any], files: list[str], variant: Mapping[str, Any] | None = None,
                 parent: str = "", overrides: list[str] | None = None, tool_versions: Mapping[str, str] | None = None) -> dict:
    return {
        "format": RUN_FORMAT,
        "scenario": scenario,
        "run_id": run_id,
        "status": status,
        "runner_version": __version__,
        "scenarios_commit": git_commit(),
        "executor": executor,
        "started": _iso(started),
        "ended": _iso(ended),
        "duration_s": round(ended - started, 3),
        "facts": redact(thaw(facts)),
        "tool_versions": dict(tool_versions or {}),
        "scenario_files": files,
        "overrides": list(overrides or []),
        "variant": dict(variant or {}),
        "sweep": parent,
    }


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")
