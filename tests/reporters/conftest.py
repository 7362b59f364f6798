"""Records to report on: synthetic ones built from the parser fixtures (every status, nccl-tests rows,
bench_serving against a baseline run), and real local runs (Mooncake, the collectives probe)."""
from __future__ import annotations

import base64
import json
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from records.conftest import HAS_MOONCAKE, Lab, bench_scenario

from runner.parse.logs import parse_file
from runner.report import plots
from runner.report.base import RunReport
from runner.verdict.judge import CheckResult, Verdict, WorkloadMetrics

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium (`apt-get install chromium`, or `make setup` as root)")
# the reporter's own test for drawing plots; without matplotlib the report says so (tested) and draws none
needs_matplotlib = pytest.mark.skipif(bool(plots.missing()), reason="no matplotlib (the reports extra; `make setup` installs it)")


def check(name, status, workload="w", metric="m", **fields) -> CheckResult:
    kind = fields.pop("kind", "performance")
    return CheckResult(name, kind, workload, status, metric=metric, **fields)


def every_status_verdict() -> Verdict:
    results = (
        check("w.throughput", "PASS", metric="throughput", measured=12.5, unit="GB/s", op=">=", threshold=10, margin=2.5, margin_pct=25.0),
        check("w.latency", "FAIL", metric="latency", measured=20, unit="ms", op="<=", threshold=15, margin=-5, margin_pct=-33.3,
              message="measured 20 ms, needed <= 15 | pipes and \x1b[31mcolour\x1b[0m\x07"),
        check("w.wrong", "ERROR", metric="wrong", message="parser 'nccl-tests' could not read rank-0.log\nline 2 of the reason"),
        check("v ran", "TIMEOUT", workload="v", metric="", kind="infrastructure", message="v hit its 1s limit"),
        check("u.x", "SKIP", workload="u", metric="x", message="the workload did not run"),
    )
    return Verdict("every-status", "TIMEOUT", results, "TIMEOUT: 1 timeout, 1 error, 1 fail, 1 pass, 1 skip")


def write_record(folder: Path, verdict: Verdict, run: dict, scenario: dict) -> Path:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(run))
    (folder / "scenario.yaml").write_text(yaml.safe_dump(scenario))
    return folder


def report_of(verdict: Verdict, metrics=None, folder: Path | None = None, run_id: str = "") -> RunReport:
    """The RunReport the pipeline would build for a record folder holding run.json and scenario.yaml."""
    run = json.loads((folder / "run.json").read_text()) if folder else {}
    scenario = yaml.safe_load((folder / "scenario.yaml").read_text()) if folder else {}
    return RunReport(verdict, metrics or {}, run_id, str(folder or ""), (scenario.get("metadata") or {}).get("description", ""), run)


def nccl_metrics() -> dict[str, WorkloadMetrics]:
    text = parse_file("nccl-tests", FIXTURES / "nccl-tests" / "sample_a_all_reduce_v2.18.2.txt")
    js = parse_file("nccl-tests", FIXTURES / "nccl-tests" / "all_gather_perf.json")
    return {"all-reduce": WorkloadMetrics("all-reduce", "nccl-tests", "logs/all-reduce/rank-0.log", text),
            "all-gather": WorkloadMetrics("all-gather", "nccl-tests", "logs/all-gather/all_gather.json", js)}


def nccl_verdict(metrics) -> Verdict:
    results = tuple(check(f"{w}.busbw_gbps_max", "PASS", workload=w, metric="busbw_gbps_max", measured=m.result.value("busbw_gbps_max"),
                          unit="GB/s", op=">=", threshold=100) for w, m in metrics.items())
    return Verdict("nccl-pair", "PASS", results, "PASS: 2 pass")


@pytest.fixture
def nccl_record(tmp_path):
    metrics = nccl_metrics()
    verdict = nccl_verdict(metrics)
    run = {"run_id": "20260101-000000-aaaa", "executor": "kubernetes", "started": "2026-01-01T00:00:00+00:00", "duration_s": 61.5,
           "runner_version": "0.1.0", "scenarios_commit": "abc123", "tool_versions": {"nccl-tests": "2.18.2", "nccl-library": "23007"},
           "images": {"nccl-tests": "registry.example/nccl-tests:2.19.6"},
           "facts": {"cluster": {"context": "eks-p5", "server_version": "v1.31"}, "nodes": ["ip-10-0-0-1", "ip-10-0-0-2"]}}
    folder = write_record(tmp_path / "results" / "nccl-pair" / "20260101-000000-aaaa", verdict, run,
                          {"metadata": {"name": "nccl-pair", "description": "two nccl-tests workloads"}})
    return folder, verdict, metrics


@pytest.fixture(scope="session")
def serving_run(tmp_path_factory):
    """A PD-like serving run judged against a real baseline run (both tiny local 'bench_serving' stand-ins)."""
    from runner.execute.progress import QuietProgress
    from runner.flows.baseline import ensure_baselines
    from runner.flows.run import run_scenario

    lab = Lab(tmp_path_factory.mktemp("serving"))
    lab.write("bench-baseline", bench_scenario(1.0))
    lab.write("bench-pd", bench_scenario(1.2, baseline="bench-baseline"))
    scenario = lab.scenario("bench-pd")
    [baseline] = ensure_baselines(scenario, lab.library, lab.results, run_scenario, progress=QuietProgress())
    return run_scenario(scenario, results_dir=lab.results, progress=QuietProgress()), baseline


@pytest.fixture(scope="session")
def collectives_run(tmp_path_factory):
    """The collectives probe (nccl-tests output format) for real, with a short size sweep."""
    pytest.importorskip("torch", reason="the collectives probe needs torch (make setup installs it)")
    lab = Lab(tmp_path_factory.mktemp("collectives"))
    result = lab.run("collectives-loopback", overrides=["parameters.max_bytes=256K", "parameters.iters=2", "parameters.warmup=1"])
    assert result.verdict.status == "PASS", result.verdict.summary
    return result


@pytest.fixture(scope="session")
def mooncake_record(tmp_path_factory):
    if not HAS_MOONCAKE:
        pytest.skip("transfer_engine_bench is not installed (make setup installs it)")
    lab = Lab(tmp_path_factory.mktemp("mooncake-report"))
    result = lab.run("mooncake-tcp-loopback", overrides=["parameters.duration=2"])
    assert result.verdict.status == "PASS", result.verdict.summary
    return result


# --- looking at report.html ----------------------------------------------------------------


def embedded_pngs(html: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def chromium(*args: str, timeout: int = 90) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                               "--disable-background-networking", "--disable-component-update", "--disable-sync",
                               f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


MEASURE_SCRIPT = """<script>window.addEventListener("load", () => {
  const sizes = Array.from(document.images).map(i => [i.naturalWidth, i.naturalHeight, i.complete]);
  const out = document.createElement("pre"); out.id = "natural-sizes"; out.textContent = JSON.stringify(sizes);
  document.body.appendChild(out);
});</script>"""


def rendered_image_sizes(report: Path, work: Path) -> list[list]:
    """Open a copy of the report (plus a measuring script) in headless Chromium; the natural size of every <img>."""
    probe = work / "measured.html"
    probe.write_text(report.read_text().replace("</body>", MEASURE_SCRIPT + "</body>"))
    completed = chromium("--dump-dom", "--virtual-time-budget=5000", probe.as_uri())
    match = re.search(r'<pre id="natural-sizes">(.*?)</pre>', completed.stdout, re.DOTALL)
    assert match, f"Chromium gave no DOM:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}"
    return json.loads(match.group(1))


def screenshot_colours(report: Path, work: Path, size: str = "1200,2000") -> int:
    """Distinct colours in a headless-Chromium screenshot of the report (a blank page has one or two)."""
    import numpy as np
    from matplotlib.image import imread

    shot = work / "shot.png"
    completed = chromium(f"--screenshot={shot}", f"--window-size={size}", "--hide-scrollbars", report.as_uri())
    assert shot.exists(), completed.stderr[-2000:]
    pixels = (imread(shot)[:, :, :3] * 255).astype("uint32").reshape(-1, 3)
    return len(np.unique(pixels[:, 0] << 16 | pixels[:, 1] << 8 | pixels[:, 2]))
