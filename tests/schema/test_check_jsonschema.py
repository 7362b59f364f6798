"""The published schema, used by another validator the way an editor or CI would use it: check-jsonschema
(its own YAML loader) with schema/scenario.v1.json over the files as authors write them, overlays included.
Every library file must pass; every broken-corpus file with a schema problem must fail, and the others
(lints, references, loader errors aside) must pass, so the published schema says what the runner says."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runner.base.errors import ScenarioError
from runner.scenario.load import load_file
from runner.scenario.validate import schema_problems

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "schema" / "scenario.v1.json"
LIBRARY_FILES = sorted((REPO / "scenarios").rglob("*.yaml"))
BROKEN_FILES = sorted((REPO / "tests" / "broken").glob("*.yaml"))


def check_jsonschema(files: list[Path]) -> tuple[dict, str]:
    """check-jsonschema's JSON report over the files: {file: [messages]} of those it rejects."""
    program = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    if program is None:
        pytest.fail("check-jsonschema is not installed: it is in the test extra (`make setup`)")
    result = subprocess.run([program, "--output-format", "json", "--schemafile", str(SCHEMA), *map(str, files)],
                            capture_output=True, text=True, timeout=120)
    report = json.loads(result.stdout)
    rejected: dict[str, list[str]] = {}
    for entry in report.get("errors", []) + report.get("parse_errors", []):
        rejected.setdefault(str(Path(entry["filename"]).resolve()), []).append(f"{entry.get('path', '')} {entry['message']}".strip())
    return rejected, result.stderr


def test_every_library_file_passes():
    rejected, stderr = check_jsonschema(LIBRARY_FILES)
    assert len(LIBRARY_FILES) >= 18
    assert rejected == {}, stderr


def runner_schema_verdicts() -> dict[str, bool]:
    """file -> whether the runner's schema check (of the file as written) finds a problem; loader errors left out."""
    verdicts = {}
    for path in BROKEN_FILES:
        try:
            document = load_file(path)
        except ScenarioError:
            continue
        verdicts[str(path.resolve())] = bool(schema_problems(document.data, document.sources))
    return verdicts


def test_the_broken_corpus_schema_cases_fail_and_only_they():
    expected = runner_schema_verdicts()
    rejected, _ = check_jsonschema(BROKEN_FILES)
    schema_cases = sorted(name for name, bad in expected.items() if bad)
    assert len(schema_cases) >= 10, schema_cases
    missed = [Path(name).name for name in schema_cases if name not in rejected]
    assert missed == [], f"check-jsonschema accepts these schema cases: {missed}"
    extra = {Path(name).name: rejected[name] for name, bad in expected.items() if not bad and name in rejected}
    assert extra == {}, f"check-jsonschema rejects files whose schema the runner accepts: {extra}"
