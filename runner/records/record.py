"""The run record: results/<scenario>/<run-id>/, written atomically and never overwritten.

While a run is in progress its record lives in `<run-id>.partial/` (logs stream
there, redacted, so a crash still leaves them); at the end it is renamed to `<run-id>/`.
Its processes write into `.<run-id>.staging/` beside it (mode 0700): raw bytes, copied
into the record through the run's redactor (runner.execute.local.mirror), deleted at the end.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
import tempfile
import time
from dataclasses import asdict, is_dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import yaml

from runner import __version__
from runner.base.errors import ExecutionError
from runner.base.saferegex import bounded_lines
from runner.execute.local import mirror
from runner.records.scrub import REDACTED, is_secret_name, scrub_text
from runner.scenario.model import thaw
from runner.verdict.judge import Verdict, WorkloadMetrics

METRICS_FORMAT = "scenario-runner/metrics/v1"
VERDICT_FORMAT = "scenario-runner/verdict/v1"
RUN_FORMAT = "scenario-runner/run/v1"


def default_results_dir() -> Path:
    """$SCENARIO_RESULTS, else ./results."""
    return Path(os.environ.get("SCENARIO_RESULTS") or "results").absolute()


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


_ASSIGNMENT = re.compile(r"^(-{0,2}[A-Za-z_][A-Za-z0-9_.\-]*)=(.*)$", re.DOTALL)


def redact(value: Any) -> Any:
    """Secret-looking names lose their values: mapping keys, Kubernetes `{name, value}` env items,
    `K=V` / `path.K=V` / `--opt=V` strings, and the argument after a `--secret-opt` in a list."""
    if isinstance(value, Mapping):
        if _is_env_item(value) and is_secret_name(value["name"]):
            return {**value, "value": REDACTED}
        return {k: (REDACTED if is_secret_name(k) and isinstance(v, (str, int, float)) else redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [redact(v) for v in value]
        for i, item in enumerate(items[:-1]):
            following = items[i + 1]
            if isinstance(item, str) and item.startswith("-") and "=" not in item and is_secret_name(item) \
                    and isinstance(following, str) and not following.startswith("-"):
                items[i + 1] = REDACTED
        return items
    if isinstance(value, str) and "=" in value:
        match = _ASSIGNMENT.match(value)
        if match and is_secret_name(match.group(1)):
            return f"{match.group(1)}={REDACTED}"
    return value


def _is_env_item(value: Mapping) -> bool:
    return "name" in value and "value" in value and set(value) <= {"name", "value", "valueFrom"}


REDACT_MAX_BYTES = 256 << 20


def redact_text(text: str) -> str:
    """`NAME=value`, `--secret-opt=value` and `--secret-opt value` in a command line, for secret-looking names
    (and the other credential shapes of runner.records.scrub)."""
    return scrub_text(text)


def redact_tree(record_dir: Path, redactor: Any) -> list[Path]:
    """Every file of a record that the runner did not write itself (tool logs, rendered objects, artifacts):
    structured files (JSON, JSONL, YAML, .cmd) keep their structure, text files are streamed line by line.
    Returns the files that changed. Only for records written before redaction happened as bytes were written (a stale
    `.partial` of an older runner, recovered by runner.flows.stale); a run now never writes a secret to redact."""
    changed = redact_record_files(record_dir, redactor)
    for path in sorted(p for folder in ("logs", "artifacts", "rendered") for p in (Path(record_dir) / folder).rglob("*") if p.is_file()):
        if path.suffix.lower() in _STRUCTURED or path in changed:
            continue
        try:
            if _redact_stream(path, redactor):
                changed.append(path)
        except OSError:
            continue
    return changed


_STRUCTURED = (".cmd", ".yaml", ".yml", ".json", ".jsonl")
# libyaml where it is there (every record's rendered objects are read back here, twice a run): the same documents,
# several times faster than the pure-Python loader
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _redact_stream(path: Path, redactor: Any) -> bool:

    with path.open("r", encoding="utf-8", errors="surrogateescape") as source:
        if not any(redactor.text(line) != line for line in bounded_lines(source)):
            return False
    tmp = path.with_name(f".{path.name}.redacting")
    with path.open("r", encoding="utf-8", errors="surrogateescape") as source, \
            tmp.open("w", encoding="utf-8", errors="surrogateescape") as target:
        for line in bounded_lines(source):
            target.write(redactor.text(line))
    os.replace(tmp, path)
    return True


def redact_record_files(record_dir: Path, redactor: Any = None) -> list[Path]:
    """Before finalize: redact secrets in files copied into the record that are not written through redact().

    rendered/*.yaml|json (Kubernetes env lists), logs/**/*.cmd (command lines), and JSON or JSONL files under
    logs/ — notably nccl-tests `-J` output, which dumps the whole environment as an "env" list of K=V strings.
    Plain text logs are handled by redact_tree. Returns the files that changed.
    """
    record_dir = Path(record_dir)
    changed = []
    for path in sorted(p for folder in ("rendered", "logs", "artifacts") for p in (record_dir / folder).rglob("*") if p.is_file()):
        try:
            if path.stat().st_size > REDACT_MAX_BYTES or not _may_hold_secrets(path):
                continue
            text = path.read_text(encoding="utf-8")
            redacted = _redact_file_text(path, text, redactor)
            if redacted is not None and redacted != text:
                atomic_write(path, redacted)
                changed.append(path)
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            continue  # unreadable or odd: left as it is rather than losing the record
    return changed


def _may_hold_secrets(path: Path) -> bool:
    """Command lines, YAML, and files whose first character opens JSON (peeked, so big text logs are not read)."""
    if path.suffix.lower() in (".cmd", ".yaml", ".yml", ".json", ".jsonl"):
        return True
    with path.open("rb") as handle:
        return handle.read(256).lstrip()[:1] in (b"{", b"[")


def _redact_file_text(path: Path, text: str, redactor: Any = None) -> str | None:
    suffix = path.suffix.lower()
    scrub = (lambda value: redactor.data(redact(value))) if redactor is not None else redact
    if suffix == ".cmd":
        return _redact_command_lines(text, redactor)
    if suffix in (".yaml", ".yml"):
        try:
            documents = list(yaml.load_all(text, Loader=_SAFE_LOADER))
        except yaml.YAMLError:
            return redactor.text(text) if redactor is not None else None
        redacted = [scrub(d) for d in documents]
        return None if redacted == documents else yaml.dump_all(redacted, Dumper=_SAFE_DUMPER, sort_keys=False, width=120)
    if text.lstrip()[:1] in ("{", "["):
        found = _redact_json_text(text, scrub)
        if found is None and redactor is not None and redactor.text(text) != text:
            return redactor.text(text)  # not JSON after all: a text log that starts with a bracket
        return found
    return redactor.text(text) if redactor is not None else None


def _redact_command_lines(text: str, redactor: Any = None) -> str:
    """A .cmd file stays valid shell: each line is split into arguments, each argument redacted, then joined."""

    out = []
    for line in text.splitlines(keepends=True):
        try:
            argv = shlex.split(line)
        except ValueError:
            out.append(redactor.text(line) if redactor is not None else redact_text(line))
            continue
        redacted = redact(argv)
        if redactor is not None:
            redacted = [redactor.text(arg) for arg in redacted]
        out.append(line if redacted == argv else shlex.join(redacted) + ("\n" if line.endswith("\n") else ""))
    return "".join(out)


def _redact_json_text(text: str, scrub=None) -> str | None:
    scrub = scrub or redact
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return _redact_jsonl_text(text, scrub)
    redacted = scrub(document)
    return None if redacted == document else json.dumps(redacted, indent=1) + "\n"


def _redact_jsonl_text(text: str, scrub=None) -> str | None:
    scrub = scrub or redact
    lines = text.splitlines(keepends=True)
    out, changed = [], False
    for line in lines:
        try:
            document = json.loads(line) if line.strip() else None
        except (json.JSONDecodeError, RecursionError):
            return None  # neither JSON nor JSONL: a text log, left as it is
        redacted = scrub(document) if document is not None else None
        if redacted != document:
            changed = True
            line = json.dumps(redacted) + ("\n" if line.endswith("\n") else "")
        out.append(line)
    return "".join(out) if changed else None


_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; record files are as readable as the logs beside them
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


def git_commit(files: list[str]) -> str:
    """The commit of the checkout that holds the scenario files, `-dirty` when one of them has changes."""
    if not files:
        return ""
    folder = str(Path(files[0]).absolute().parent)
    try:
        out = subprocess.run(["git", "-C", folder, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", folder, "status", "--porcelain", "--", *(str(Path(f).absolute()) for f in files)],
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if out.returncode != 0:  # not a git checkout (a copied tree): say nothing rather than something wrong
        return ""
    commit = out.stdout.strip()
    return commit + ("-dirty" if commit and dirty.stdout.strip() else "")


def staging_dir(final_dir: Path) -> Path:
    """The private folder where a run's processes write: `.<run-id>.staging` beside the record (history skips dot folders)."""
    return Path(final_dir).with_name(f".{Path(final_dir).name}.staging")


RUNNER_FILE = "runner.json"  # in a `.partial` record: the runner's pid and start time, to tell a live run from a dead one


def check_results_dir(results_dir: Path) -> None:
    """Before anything runs: the results directory exists (or can be made) and takes a file."""

    results_dir = Path(results_dir)
    hint = "pass --results DIR (or set SCENARIO_RESULTS) to a writable directory"
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=results_dir, prefix=".write-check-")
        try:
            os.write(fd, b"x" * 4096)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as error:
        raise ExecutionError(f"cannot write run records to {results_dir}: {error.strerror or error}", hint=hint) from None


def process_start_time(pid: int) -> str:
    """The start time of a process in clock ticks since boot ('' when it is gone): a pid reused later differs."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


class RunRecord:
    """Creates the record directory up front and finalizes it with a rename. Every file it writes goes through the
    run's redactor (runner.redaction), so a record never holds a secret in clear, `.partial` ones included."""

    def __init__(self, results_dir: Path, scenario: str, run_id: str, redactor: Any = None,
                 runner_info: Mapping[str, Any] | None = None):
        self.scenario = scenario
        self.run_id = run_id
        self.redactor = redactor
        self.final_dir = Path(results_dir) / scenario / run_id
        self.dir = self.final_dir.with_name(run_id + ".partial")
        self.staging = staging_dir(self.final_dir)
        if self.final_dir.exists() or self.dir.exists():
            raise FileExistsError(f"run record {self.final_dir} already exists")
        self.dir.mkdir(parents=True)
        mirror.make_private(self.staging)
        self.mirror = mirror.Mirror(redactor.block if redactor is not None else (lambda data: data))
        self.started = time.time()
        pid = os.getpid()
        write_json(self.dir / RUNNER_FILE, {"pid": pid, "start_time": process_start_time(pid), "run_id": run_id,
                                            "scenario": scenario, **dict(runner_info or {})})

    def _text(self, text: str) -> str:
        return self.redactor.text(text) if self.redactor is not None else text

    def _data(self, data: Any) -> Any:
        return self.redactor.data(data) if self.redactor is not None else data

    def write_scenario(self, data: Mapping[str, Any]) -> None:
        resolved = self._data(redact(thaw(data)))
        atomic_write(self.dir / "scenario.yaml", yaml.dump(resolved, Dumper=_SAFE_DUMPER, sort_keys=False, width=120))

    def write_json(self, name: str, data: Any) -> None:
        write_json(self.dir / name, self._data(to_jsonable(data)))

    def write_text(self, name: str, text: str) -> None:
        atomic_write(self.dir / name, self._text(text))

    def relative(self, data: Any) -> Any:
        """Paths inside the record (also the `.partial` ones) as paths relative to it, so a moved or copied record stays whole."""
        prefixes = tuple(f"{folder}{os.sep}" for folder in (self.dir, self.final_dir))
        if isinstance(data, Mapping):
            return {k: self.relative(v) for k, v in data.items()}
        if isinstance(data, (list, tuple)):
            return [self.relative(v) for v in data]
        if isinstance(data, (str, Path)) and str(data).startswith(prefixes):
            text = str(data)
            return next(text[len(prefix):] for prefix in prefixes if text.startswith(prefix))
        return data

    def staging_for(self, run_dir: Path) -> Path:
        """The private twin of a folder of the record (the record itself, or repeats/<n>)."""
        return self.staging / Path(run_dir).relative_to(self.dir)

    def adopt(self, staged: Path, name: str) -> None:
        """Files the runner wrote into the staging folder (the rendered plan) move into the record under `name`,
        redacted: YAML and JSON keep their structure."""
        for source in mirror.regular_files(staged):
            target = self.dir / name / source.relative_to(staged)
            text = source.read_text(encoding="utf-8", errors="surrogateescape")
            redacted = _redact_file_text(source, text, self.redactor)
            atomic_write(target, text if redacted is None else redacted)
        mirror.remove(staged)

    def finalize(self) -> Path:
        """Stop copying output (what is left is copied first), delete the staging folder, rename the record."""
        if getattr(self, "mirror", None) is not None:
            self.mirror.close()
        mirror.remove(staging_dir(self.final_dir))
        if self.final_dir.exists():  # rename() would silently replace an empty directory
            raise FileExistsError(f"run record {self.final_dir} already exists; this run stays in {self.dir}")
        (self.dir / RUNNER_FILE).unlink(missing_ok=True)
        os.replace(self.dir, self.final_dir)
        self.dir = self.final_dir
        return self.final_dir


def run_metadata(*, scenario: str, run_id: str, executor: str, started: float, ended: float, status: str,
                 facts: Mapping[str, Any], files: list[str], variant: Mapping[str, Any] | None = None,
                 parent: str = "", overrides: list[str] | None = None, tool_versions: Mapping[str, str] | None = None,
                 images: Mapping[str, str] | None = None, baselines: list[Mapping[str, Any]] | None = None) -> dict:
    return {
        "format": RUN_FORMAT,
        "scenario": scenario,
        "run_id": run_id,
        "status": status,
        "runner_version": __version__,
        "scenarios_commit": git_commit(files),
        "executor": executor,
        "started": _iso(started),
        "ended": _iso(ended),
        "duration_s": round(ended - started, 3),
        "facts": redact(thaw(facts)),
        "tool_versions": dict(tool_versions or {}),
        "images": dict(images or {}),
        "baselines": to_jsonable(list(baselines or [])),
        "scenario_files": files,
        "overrides": redact(list(overrides or [])),
        "variant": redact(dict(variant or {})),
        "sweep": parent,
    }


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")


def metrics_document(scenario: str, run_id: str, metrics: Mapping[str, WorkloadMetrics]) -> dict:
    workloads = {}
    for name, entry in metrics.items():
        result = entry.result
        workloads[name] = {
            "parser": entry.parser,
            "source": entry.source,
            "error": entry.error,
            "metrics": {m.name: _metric_entry(m) for m in result.metrics.values()} if result else {},
            "series": {s.name: {"columns": list(s.columns), "units": list(s.units), "rows": [list(r) for r in s.rows]}
                       for s in result.series.values()} if result else {},
            "info": dict(result.info) if result else {},
            "implausible": dict(result.implausible) if result else {},
        }
    return to_jsonable({"format": METRICS_FORMAT, "scenario": scenario, "run_id": run_id, "workloads": workloads})



def _metric_entry(metric) -> dict:
    entry = {"value": metric.value, "unit": metric.unit, "better": metric.better, "kind": metric.kind}
    if metric.samples:
        entry["samples"] = list(metric.samples)
    return entry


YOUNG_S = 60.0  # a `.partial` without runner.json this young may be a record being created



MAX_RECORD_FILE = 64 << 20


def read_json(path: Path) -> Any:
    """A record's JSON document, or None when it is missing, corrupt, huge or not a JSON object."""
    try:
        if Path(path).stat().st_size > MAX_RECORD_FILE:
            return None
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    return document if isinstance(document, dict) else None



def runner_alive(record_dir: Path) -> bool:
    info = read_json(Path(record_dir) / RUNNER_FILE)
    if not isinstance(info, dict):
        try:
            return time.time() - Path(record_dir).stat().st_mtime < YOUNG_S
        except OSError:
            return False
    pid, started = info.get("pid"), info.get("start_time")
    return isinstance(pid, int) and bool(started) and process_start_time(pid) == started


def verdict_document(verdict: Verdict, run_id: str) -> dict:
    return {
        "format": VERDICT_FORMAT,
        "scenario": verdict.scenario,
        "run_id": run_id,
        "status": verdict.status,
        "exit_code": verdict.exit_code,
        "summary": verdict.summary,
        "workloads": dict(verdict.workloads),
        "results": [to_jsonable(r) for r in verdict.results],
    }
