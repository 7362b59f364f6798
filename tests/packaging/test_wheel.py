"""The package as a user installs it: a wheel built from the checkout, installed into a fresh venv, run from a
folder outside the checkout. schema/ and templates/ must come from the wheel, the collectives probe must import
from it, and the checkout must not be importable.

The venv reuses the test interpreter's site-packages for the dependencies (a .pth line, so no download), but
none of its .pth files run: the editable install of the checkout stays out."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(argv: list, *, cwd: Path, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _checkout_copy(target: Path) -> Path:
    """The files git would commit (tracked and untracked-not-ignored), symlinks kept: what a clone builds from."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "-co", "--exclude-standard"], capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet committed
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            destination.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, destination)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(scenario command, python, env, a folder outside the checkout) of a venv that holds only the wheel."""
    root = tmp_path_factory.mktemp("wheel")
    source = _checkout_copy(root / "src")
    built = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", root / "dist", "."],
                 cwd=source, env=os.environ.copy())
    assert built.returncode == 0, built.stderr
    wheel = next((root / "dist").glob("scenario_runner-*.whl"))
    venv.EnvBuilder(with_pip=False).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    # without PYTHONPATH (tests/conftest.py points it at the checkout, whose egg-info pip would take as installed)
    # and before the .pth that lends this venv's dependencies (its editable scenario-runner too): else pip installs nothing
    install = _run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel],
                   cwd=root, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert install.returncode == 0, install.stderr
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=root, env={}).stdout.strip()
    shared = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    Path(purelib, "shared-dependencies.pth").write_text("".join(f"{path}\n" for path in shared))
    assert list(Path(purelib).glob("scenario_runner-*.dist-info")), "the wheel was not installed into the test venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "SCENARIO_", "VIRTUAL_ENV"))}
    env.update({"CI": "true", "PATH": f"{root / 'venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"})
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    return root / "venv" / "bin" / "scenario", python, env, elsewhere


def test_the_checkout_is_not_importable_and_the_data_comes_from_the_wheel(installed):
    scenario, python, env, elsewhere = installed
    where = _run([python, "-c", "import runner, runner.probes.collectives as p; from runner.base.resources import schema_dir, template_dir;"
                  "print(runner.__file__, p.__file__, schema_dir(), template_dir(), sep='\\n')"], cwd=elsewhere, env=env)
    assert where.returncode == 0, where.stderr
    venv_dir = str(python.parent.parent)
    for line in where.stdout.split():
        assert line.startswith(venv_dir) and not line.startswith(str(REPO)), where.stdout
    schema = _run([scenario, "schema"], cwd=elsewhere, env=env)
    assert schema.returncode == 0 and json.loads(schema.stdout) == json.loads((REPO / "schema" / "scenario.v1.json").read_text())


def test_validate_and_render_from_outside_the_checkout(installed):
    scenario, _, env, elsewhere = installed
    library = REPO / "scenarios"
    validated = _run([scenario, "validate", "--library", library], cwd=elsewhere, env=env)
    count = len(list(library.rglob("*.yaml")))
    assert validated.returncode == 0, validated.stderr
    assert f"{count} valid, 0 invalid" in validated.stdout
    out = elsewhere / "rendered"
    rendered = _run([scenario, "render", "nccl-allreduce", "--library", library, "--out", out], cwd=elsewhere, env=env)
    assert rendered.returncode == 0, rendered.stderr
    assert any("MPIJob" in path.read_text() for path in out.glob("*.yaml")), sorted(out.iterdir())


def test_without_a_library_it_says_where_to_point(installed):
    scenario, _, env, elsewhere = installed
    result = _run([scenario, "run", "collectives-loopback"], cwd=elsewhere, env=env)
    assert result.returncode == 2, result.stderr
    assert "--library DIR or $SCENARIO_PATH" in result.stderr and "Traceback" not in result.stderr


def test_a_local_run_of_the_collectives_probe_from_the_wheel(installed):
    pytest.importorskip("torch", reason="the collectives probe needs torch (make setup installs it unless TORCH_SPEC=)")
    scenario, _, env, elsewhere = installed
    results = elsewhere / "results"
    run = _run([scenario, "run", "collectives-loopback", "--no-progress", "--set", "parameters.max_bytes=64K",
                "--set", "parameters.iters=2", "--set", "parameters.warmup=1", "-o", "json"],
               cwd=elsewhere, env={**env, "SCENARIO_PATH": str(REPO / "scenarios")})
    assert run.returncode == 0, run.stdout + run.stderr
    verdict = json.loads(run.stdout)
    assert verdict["status"] == "PASS" and len(verdict["results"]) == 7
    record = next((elsewhere / "results" / "collectives-loopback").iterdir())
    logs = (record / "logs" / "all-reduce" / "rank-0.log").read_text()
    assert "Avg bus bandwidth" in logs, logs[-2000:]
    assert results.is_dir()
