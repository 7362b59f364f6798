"""images/: the pin lint, the build order of build.py, the Makefile fragment and the sglang patch."""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from images import build, lint
from images.catalog import (
    BUILD_ORDER,
    IMAGES_DIR,
    PARENTS,
    REPO_ROOT,
    declared_arg_names,
    dockerfile_of,
    read_versions,
)

VERSIONS = read_versions()
PATCH_SCRIPT = IMAGES_DIR / "sglang-mooncake" / "patch-mooncake-protocol.sh"


# ---------------------------------------------------------------- shipped images

def test_shipped_dockerfiles_and_versions_pass_the_lint():
    assert [str(problem) for problem in lint.lint()] == []


def test_lint_cli_exits_0_on_shipped_images():
    result = subprocess.run([sys.executable, str(IMAGES_DIR / "lint.py")], capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (0, "")


def test_every_catalogued_image_has_a_dockerfile_and_no_other_does():
    with_dockerfile = {path.parent.name for path in IMAGES_DIR.glob("*/Dockerfile")}
    assert with_dockerfile == set(PARENTS)


@pytest.mark.parametrize("image", BUILD_ORDER)
def test_each_image_is_built_from_its_parent(image):
    from_line = next(line for line in dockerfile_of(image).read_text().splitlines() if line.startswith("FROM "))
    expected = "${CUDA_BASE_IMAGE}" if PARENTS[image] is None else "${BASE_IMAGE}"
    assert from_line == f"FROM --platform=${{IMAGE_PLATFORM}} {expected}"


def test_uccl_is_pinned_to_a_full_commit_sha():
    assert re.fullmatch(r"[0-9a-f]{40}", VERSIONS["UCCL_COMMIT"])


def test_sglang_image_selects_efa_and_leaves_custom_mem_pool_unset():
    text = dockerfile_of("sglang-mooncake").read_text()
    instructions = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert 'MOONCAKE_PROTOCOL="efa"' in instructions
    assert "SGLANG_MOONCAKE_CUSTOM_MEM_POOL" not in instructions


# ---------------------------------------------------------------- lint on bad Dockerfiles

CLEAN_VERSIONS = """\
# base image
BASE=ubuntu:22.04
# git tag of lib
LIB_REF=v1.0.0
# version of pkg
PKG_VERSION=1.2.3
"""

CLEAN_DOCKERFILE = """\
ARG BASE
FROM ${BASE}
ARG LIB_REF
ARG PKG_VERSION
RUN git clone --depth 1 -b "${LIB_REF}" https://example.com/lib.git /lib \\
 && pip install --no-cache-dir "pkg==${PKG_VERSION}" -r /lib/requirements.txt /lib \\
 && curl -fsSL -o /tmp/t.tgz "https://example.com/tool-${PKG_VERSION}.tgz" \\
 && apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*
"""


def lint_demo(tmp_path: Path, dockerfile: str, versions: str = CLEAN_VERSIONS) -> list[str]:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "Dockerfile").write_text(textwrap.dedent(dockerfile))
    (tmp_path / "versions.env").write_text(versions)
    return [str(problem) for problem in lint.lint(tmp_path)]


def test_lint_accepts_a_pinned_dockerfile(tmp_path):
    assert lint_demo(tmp_path, CLEAN_DOCKERFILE) == []


BAD_DOCKERFILES = {
    "unpinned FROM": ("ARG BASE\nFROM ubuntu\n", 2, "FROM ubuntu is unpinned"),
    "latest": ("ARG BASE\nFROM ubuntu:latest\n", 2, ":latest floats"),
    "ARG with default": ("ARG BASE=ubuntu:22.04\nFROM ${BASE}\n", 1, "ARG BASE has a default"),
    "ARG not in versions.env": ("ARG BASE\nFROM ${BASE}\nARG NOT_PINNED\n", 3,
                                "ARG NOT_PINNED is not set in images/versions.env"),
    "git clone main": ("ARG BASE\nFROM ${BASE}\nRUN git clone -b main https://example.com/lib.git\n", 3,
                       "git ref main is a branch"),
    "git clone without ref": ("ARG BASE\nFROM ${BASE}\nRUN git clone https://example.com/lib.git /lib \\\n"
                              " && make -C /lib\n", 3, "git clone without a pinned ref"),
    "unpinned pip install": ("ARG BASE\nFROM ${BASE}\nRUN pip install --no-cache-dir requests\n", 3,
                             "pip install requests is unpinned"),
    "pip install with a range": ("ARG BASE\nFROM ${BASE}\nRUN python3 -m pip install 'numpy>=1.26'\n", 3,
                                 "pip install numpy>=1.26 is unpinned"),
    "apt-get without cleanup": ("ARG BASE\nFROM ${BASE}\nRUN apt-get update && apt-get install -y curl\n", 3,
                                "apt-get without `rm -rf /var/lib/apt/lists/*`"),
    "download without version": ("ARG BASE\nFROM ${BASE}\nRUN curl -fsSL https://example.com/tool.tgz | tar xz\n",
                                 3, "download of https://example.com/tool.tgz has no version variable"),
    "literal git ref": ("ARG BASE\nFROM ${BASE}\nRUN git clone -b v2.0 https://example.com/lib.git\n", 3,
                        "git ref v2.0 is written in the Dockerfile"),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCKERFILES))
def test_lint_reports_each_kind_of_problem_with_its_line(tmp_path, case):
    dockerfile, line, message = BAD_DOCKERFILES[case]
    problems = lint_demo(tmp_path, dockerfile)
    expected_prefix = f"{tmp_path / 'demo' / 'Dockerfile'}:{line}: "
    assert any(p.startswith(expected_prefix) and message in p for p in problems), problems


def test_lint_resolves_a_git_ref_arg_to_a_branch_name(tmp_path):
    versions = CLEAN_VERSIONS + "# oops, a branch\nBRANCH_REF=master\n"
    dockerfile = CLEAN_DOCKERFILE + 'ARG BRANCH_REF\nRUN git clone https://example.com/x.git /x \\\n' \
                                    ' && git -C /x checkout "${BRANCH_REF}"\n'
    assert any("git ref BRANCH_REF=master is a branch" in p for p in lint_demo(tmp_path, dockerfile, versions))


def test_lint_reports_an_untagged_image_behind_a_from_arg(tmp_path):
    problems = lint_demo(tmp_path, CLEAN_DOCKERFILE, CLEAN_VERSIONS.replace("ubuntu:22.04", "ubuntu"))
    assert any("FROM ${BASE}: BASE=ubuntu has no tag or digest" in p for p in problems)


def test_lint_reports_versions_without_comment_unused_or_latest(tmp_path):
    versions = CLEAN_VERSIONS + "UNCOMMENTED=1\n# never used\nSPARE=latest\n"
    problems = lint_demo(tmp_path, CLEAN_DOCKERFILE, versions)
    path = tmp_path / "versions.env"
    assert f"{path}:7: UNCOMMENTED needs a comment line above it saying what it pins" in problems
    assert f"{path}:9: SPARE=latest floats: pin a version, not latest" in problems
    assert f"{path}:9: SPARE is not used by any Dockerfile ARG or by build.py" in problems


def test_lint_cli_prints_problems_and_exits_1(tmp_path):
    lint_demo(tmp_path, "ARG BASE\nFROM ubuntu\n")
    result = subprocess.run([sys.executable, str(IMAGES_DIR / "lint.py"), "--images-dir", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert f"{tmp_path / 'demo' / 'Dockerfile'}:2: FROM ubuntu is unpinned" in result.stdout


# ---------------------------------------------------------------- build.py

REGISTRY = "123456789012.dkr.ecr.us-east-2.amazonaws.com/efa-validation"


def dry_run(capsys, *arguments: str) -> list[list[str]]:
    assert build.main(["--dry-run", "--registry", REGISTRY, *arguments]) == 0
    return [shlex.split(line) for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]


def built_images(commands: list[list[str]]) -> list[str]:
    tags = [c[c.index("-t") + 1] for c in commands if c[:2] == ["docker", "build"]]
    return [tag.rsplit("/", 1)[1].split(":")[0] for tag in tags]


def build_args_of(command: list[str]) -> dict[str, str]:
    pairs = [command[i + 1] for i, word in enumerate(command) if word == "--build-arg"]
    return dict(pair.split("=", 1) for pair in pairs)


def ref(image: str) -> str:
    return f"{REGISTRY}/{image}:{VERSIONS['IMAGE_TAG']}"


def test_dry_run_builds_the_five_images_in_dependency_order_each_then_pushed(capsys):
    commands = dry_run(capsys)
    assert built_images(commands) == ["base-cuda-efa", "nccl-tests", "uccl-ep", "mooncake", "sglang-mooncake"]
    for image in BUILD_ORDER:
        parent = PARENTS[image]
        if parent:
            assert built_images(commands).index(parent) < built_images(commands).index(image)
    assert [c for c in commands if c[1] == "push"] == [["docker", "push", ref(image)] for image in BUILD_ORDER]
    assert [c[1] for c in commands] == ["build", "push"] * 5


def test_dry_run_passes_every_declared_arg_with_its_value_from_versions_env(capsys):
    for command in (c for c in dry_run(capsys) if c[1] == "build"):
        image = command[-1].split("/")[-1]
        args = build_args_of(command)
        assert list(args) == declared_arg_names(dockerfile_of(image))
        assert {k: v for k, v in args.items() if k in VERSIONS} == {k: VERSIONS[k] for k in args if k in VERSIONS}
        assert command[command.index("--platform") + 1] == VERSIONS["IMAGE_PLATFORM"] == "linux/amd64"
        assert command[-1] == f"images/{image}" and command[command.index("-t") + 1] == ref(image)
        if PARENTS[image]:
            assert args["BASE_IMAGE"] == ref(PARENTS[image])


def test_dry_run_keeps_values_with_spaces_as_one_build_arg(capsys):
    base = next(c for c in dry_run(capsys) if c[1] == "build")
    assert build_args_of(base)["NCCL_NVCC_GENCODE"] == VERSIONS["NCCL_NVCC_GENCODE"]


def test_only_sglang_mooncake_builds_it_with_base_and_mooncake_but_not_the_others(capsys):
    built = built_images(dry_run(capsys, "--only", "sglang-mooncake"))
    assert built == ["base-cuda-efa", "mooncake", "sglang-mooncake"]
    assert "nccl-tests" not in built


def test_only_nccl_tests_builds_base_then_nccl_tests(capsys):
    assert built_images(dry_run(capsys, "--only", "nccl-tests", "--no-push")) == ["base-cuda-efa", "nccl-tests"]


def test_dry_run_without_registry_shows_a_placeholder(capsys, monkeypatch):
    monkeypatch.delenv("REGISTRY", raising=False)
    assert build.main(["--dry-run", "--only", "base-cuda-efa"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# REGISTRY is not set")
    assert "<registry>/base-cuda-efa:" in out


def test_build_without_registry_is_a_clear_error(capsys, monkeypatch):
    monkeypatch.delenv("REGISTRY", raising=False)
    assert build.main([]) == 2
    assert "REGISTRY is not set" in capsys.readouterr().err


def test_build_without_docker_is_a_clear_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert build.main(["--registry", REGISTRY]) == 2
    assert "docker is not installed or not on PATH" in capsys.readouterr().err


def fake_docker(tmp_path: Path, monkeypatch, body: str) -> Path:
    log = tmp_path / "docker.log"
    script = tmp_path / "bin" / "docker"
    script.parent.mkdir()
    script.write_text(f'#!/bin/sh\necho "$*" >> {log}\n{body}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    return log


def test_build_with_an_unreachable_daemon_is_a_clear_error(capsys, monkeypatch, tmp_path):
    fake_docker(tmp_path, monkeypatch, 'echo "Cannot connect to the Docker daemon" >&2; exit 1')
    assert build.main(["--registry", REGISTRY]) == 2
    assert "docker daemon is not reachable: Cannot connect to the Docker daemon" in capsys.readouterr().err


def test_build_runs_build_and_push_in_order(capsys, monkeypatch, tmp_path):
    log = fake_docker(tmp_path, monkeypatch, "exit 0")
    assert build.main(["--registry", REGISTRY, "--only", "nccl-tests"]) == 0
    calls = [line.split()[0] for line in log.read_text().splitlines()]
    assert calls == ["version", "build", "push", "build", "push"]


def test_build_stops_at_the_first_failing_docker_command(capsys, monkeypatch, tmp_path):
    log = fake_docker(tmp_path, monkeypatch, 'case "$1" in build) exit 3;; esac')
    assert build.main(["--registry", REGISTRY]) == 1
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["version", "build"]
    assert "failed with exit code 3" in capsys.readouterr().err


# ---------------------------------------------------------------- images.mk

def make(tmp_path: Path, *arguments: str, after_include: str = "") -> subprocess.CompletedProcess:
    makefile = tmp_path / "Makefile"
    makefile.write_text(f"include {IMAGES_DIR / 'images.mk'}\n{after_include}")
    return subprocess.run(["make", "--no-print-directory", "-f", str(makefile), *arguments],
                          cwd=REPO_ROOT, capture_output=True, text=True)


def test_make_images_lints_then_builds_with_the_registry(tmp_path):
    result = make(tmp_path, "-n", "images", f"REGISTRY={REGISTRY}", "PYTHON=py")
    lines = [line.split() for line in result.stdout.splitlines()]
    assert result.returncode == 0
    assert lines == [["py", f"{IMAGES_DIR}/lint.py"], ["py", f"{IMAGES_DIR}/build.py", "--registry", f'"{REGISTRY}"']]


def test_make_images_without_registry_fails_before_building(tmp_path):
    result = make(tmp_path, "-n", "images")
    assert result.returncode != 0
    assert "REGISTRY is not set" in result.stderr


def test_make_images_dry_run_passes_only(tmp_path):
    result = make(tmp_path, "-n", "images-dry-run", "ONLY=mooncake", "PYTHON=py")
    assert result.stdout.split() == ["py", f"{IMAGES_DIR}/build.py", "--dry-run", "--only", '"mooncake"']


def test_make_images_dry_run_prints_the_docker_commands(tmp_path):
    result = make(tmp_path, "images-dry-run", f"REGISTRY={REGISTRY}", f"PYTHON={sys.executable}")
    assert result.returncode == 0
    assert f"-t {ref('sglang-mooncake')} images/sglang-mooncake" in result.stdout


def test_including_images_mk_keeps_the_top_level_default_goal(tmp_path):
    result = make(tmp_path, "-n", after_include="all:\n\techo top-level default\n")
    assert result.stdout.strip() == "echo top-level default"


def test_make_images_lint_runs_the_lint(tmp_path):
    assert make(tmp_path, "images-lint", f"PYTHON={sys.executable}").returncode == 0


# ---------------------------------------------------------------- sglang protocol patch

OLD_SGLANG_ENGINE = '''\
class MooncakeTransferEngine:
    def __init__(self, engine):
        self.engine = engine

    def initialize(self, hostname, device_name):
        ret_value = self.engine.initialize(
            hostname,
            "P2PHANDSHAKE",
            "rdma",
            device_name if device_name is not None else "",
        )
        return ret_value
'''

NEW_SGLANG_ENGINE = '''\
from sglang.srt.environ import envs
def initialize(engine, hostname):
    protocol = envs.MOONCAKE_PROTOCOL.get()  # default "rdma"
    return engine.initialize(hostname, "P2PHANDSHAKE", protocol, "")
'''


def sglang_package(tmp_path: Path, modules: dict[str, str]) -> Path:
    for relative, text in modules.items():
        path = tmp_path / "sglang" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "sglang"


def run_patch(package: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(PATCH_SCRIPT), str(package)], capture_output=True, text=True)


ENGINE_MODULE = "srt/distributed/device_communicators/mooncake_transfer_engine.py"


def protocol_chosen(module: Path) -> str:
    """Run the patched module's initialize() against a fake engine; return the protocol it passed."""
    class FakeEngine:
        def initialize(self, hostname, metadata, protocol, device):
            self.protocol = protocol
            return 0

    namespace: dict = {}
    exec(compile(module.read_text(), str(module), "exec"), namespace)
    engine = FakeEngine()
    namespace["MooncakeTransferEngine"](engine).initialize("host", None)
    return engine.protocol


def test_patch_makes_old_sglang_read_mooncake_protocol(tmp_path, monkeypatch):
    package = sglang_package(tmp_path, {ENGINE_MODULE: OLD_SGLANG_ENGINE})
    result = run_patch(package)
    assert result.returncode == 0, result.stderr
    monkeypatch.setenv("MOONCAKE_PROTOCOL", "efa")
    assert protocol_chosen(package / ENGINE_MODULE) == "efa"
    monkeypatch.delenv("MOONCAKE_PROTOCOL")
    assert protocol_chosen(package / ENGINE_MODULE) == "rdma"


def test_patch_is_idempotent_and_handles_one_line_calls(tmp_path):
    one_line = 'def initialize(engine, hostname):\n    engine.initialize(hostname, "P2PHANDSHAKE", "rdma", "")\n'
    package = sglang_package(tmp_path, {"srt/disaggregation/mooncake/transfer_engine.py": one_line})
    assert run_patch(package).returncode == 0
    patched = (package / "srt/disaggregation/mooncake/transfer_engine.py").read_text()
    assert run_patch(package).returncode == 0
    assert (package / "srt/disaggregation/mooncake/transfer_engine.py").read_text() == patched
    assert '"P2PHANDSHAKE", __import__("os").environ.get("MOONCAKE_PROTOCOL", "rdma"), ""' in patched


def test_patch_leaves_sglang_that_reads_mooncake_protocol_alone(tmp_path):
    package = sglang_package(tmp_path, {ENGINE_MODULE: NEW_SGLANG_ENGINE})
    result = run_patch(package)
    assert result.returncode == 0
    assert "reads MOONCAKE_PROTOCOL already" in result.stdout
    assert (package / ENGINE_MODULE).read_text() == NEW_SGLANG_ENGINE


def test_patch_fails_when_no_module_picks_the_protocol(tmp_path):
    ascend_only = 'engine.initialize(hostname, "P2PHANDSHAKE", "ascend", device_name)\n'
    package = sglang_package(tmp_path, {"srt/disaggregation/ascend/transfer_engine.py": ascend_only})
    result = run_patch(package)
    assert result.returncode == 1
    assert "reads MOONCAKE_PROTOCOL" in result.stderr
