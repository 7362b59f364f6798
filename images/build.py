"""Build and push the five images in dependency order, every pin passed from versions.env.

    python -m images.build --registry 123456789012.dkr.ecr.us-east-2.amazonaws.com/efa-validation
    python -m images.build --dry-run [--only sglang-mooncake]

Order: base-cuda-efa -> {nccl-tests, uccl-ep, mooncake -> sglang-mooncake}.
Exit codes: 0 done, 1 a docker command failed, 2 bad usage or setup (no REGISTRY, no docker, bad pins).
Standard library only.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `images` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from images.catalog import (  # noqa: E402
    BUILD_ORDER,
    IMAGES_DIR,
    PARENTS,
    REPO_ROOT,
    VERSIONS_FILE,
    VersionsError,
    declared_arg_names,
    display_path,
    dockerfile_of,
    read_versions,
    repo_key,
)

REGISTRY_PLACEHOLDER = "<registry>"
REGISTRY_HINT = "set REGISTRY=<account>.dkr.ecr.<region>.amazonaws.com/efa-validation (or pass --registry)"


class SetupError(Exception):
    """Bad usage or a missing prerequisite: exit code 2."""


# ---------------------------------------------------------------- what to build

def images_to_build(only: str | None) -> list[str]:
    """All images, or `only` and the images it is built from, in build order."""
    if only is None:
        return list(BUILD_ORDER)
    wanted = set(ancestry(only))
    return [name for name in BUILD_ORDER if name in wanted]


def ancestry(image: str) -> list[str]:
    chain = []
    current: str | None = image
    while current is not None:
        chain.append(current)
        current = PARENTS[current]
    return chain


def image_ref(registry: str, image: str, versions: dict[str, str]) -> str:
    return f"{registry}/{required(versions, repo_key(image))}:{required(versions, 'IMAGE_TAG')}"


def required(versions: dict[str, str], key: str) -> str:
    if key not in versions:
        raise SetupError(f"{display_path(VERSIONS_FILE)}: {key} is not set")
    return versions[key]


# ---------------------------------------------------------------- build args

def computed_args(image: str, registry: str, versions: dict[str, str]) -> dict[str, str]:
    parent = PARENTS[image]
    args = {"GIT_REVISION": git_revision(), "IMAGE_SOURCE": git_source_url()}
    if parent is not None:
        args["BASE_IMAGE"] = image_ref(registry, parent, versions)
    return args


def build_args(image: str, registry: str, versions: dict[str, str]) -> list[tuple[str, str]]:
    """(name, value) for every ARG the image's Dockerfile declares, in declaration order."""
    dockerfile = dockerfile_of(image)
    if not dockerfile.is_file():
        raise SetupError(f"{display_path(dockerfile)}: no such file")
    values = {**versions, **computed_args(image, registry, versions)}
    missing = [name for name in declared_arg_names(dockerfile) if name not in values]
    if missing:
        raise SetupError(f"{display_path(dockerfile)}: ARG {', '.join(missing)} has no value in versions.env")
    return [(name, values[name]) for name in declared_arg_names(dockerfile)]


def git_revision() -> str:
    revision = git_output("rev-parse", "HEAD")
    if revision and git_output("status", "--porcelain", "--", "images"):
        revision += "-dirty"
    return revision or "unknown"


def git_source_url() -> str:
    return git_output("remote", "get-url", "origin") or "unknown"


def git_output(*arguments: str) -> str:
    try:
        result = subprocess.run(["git", *arguments], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


# ---------------------------------------------------------------- docker commands

def build_command(image: str, registry: str, versions: dict[str, str]) -> list[str]:
    command = ["docker", "build", "--platform", required(versions, "IMAGE_PLATFORM")]
    for name, value in build_args(image, registry, versions):
        command += ["--build-arg", f"{name}={value}"]
    context = display_path(IMAGES_DIR / image)
    return command + ["-t", image_ref(registry, image, versions), context]


def push_command(image: str, registry: str, versions: dict[str, str]) -> list[str]:
    return ["docker", "push", image_ref(registry, image, versions)]


def planned_commands(options: argparse.Namespace, versions: dict[str, str]) -> list[list[str]]:
    commands = []
    for image in images_to_build(options.only):
        commands.append(build_command(image, options.registry, versions))
        if not options.no_push:
            commands.append(push_command(image, options.registry, versions))
    return commands


def require_docker() -> None:
    if shutil.which("docker") is None:
        raise SetupError("docker is not installed or not on PATH (use --dry-run to only print the commands)")
    probe = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True)
    if probe.returncode != 0:
        detail = (probe.stderr or probe.stdout).strip().splitlines()
        raise SetupError("docker daemon is not reachable" + (f": {detail[-1]}" if detail else ""))


def run_commands(commands: list[list[str]]) -> int:
    for command in commands:
        print("+ " + shlex.join(command), flush=True)
        returncode = subprocess.run(command, cwd=REPO_ROOT).returncode
        if returncode != 0:
            print(f"images/build.py: `{shlex.join(command[:2])}` failed with exit code {returncode}", file=sys.stderr)
            return 1
    return 0


# ---------------------------------------------------------------- CLI

def parse_options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="images/build.py", description=__doc__.split("\n")[0])
    parser.add_argument("--registry", default=os.environ.get("REGISTRY", ""),
                        help="registry and prefix the images are pushed to (default: $REGISTRY)")
    parser.add_argument("--only", choices=BUILD_ORDER, help="build this image and the images it is built from")
    parser.add_argument("--dry-run", action="store_true", help="print the docker commands, run nothing")
    parser.add_argument("--no-push", action="store_true", help="build only, do not push")
    parser.add_argument("--versions", type=Path, default=VERSIONS_FILE, help="pins file (default: images/versions.env)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    try:
        versions = read_versions(options.versions)
        options.registry = registry_to_use(options)
        if options.dry_run:
            for command in planned_commands(options, versions):
                print(shlex.join(command))
            return 0
        require_docker()
        return run_commands(planned_commands(options, versions))
    except (SetupError, VersionsError) as error:
        print(f"images/build.py: {error}", file=sys.stderr)
        return 2


def registry_to_use(options: argparse.Namespace) -> str:
    if options.registry:
        return options.registry.rstrip("/")
    if not options.dry_run:
        raise SetupError(f"REGISTRY is not set: {REGISTRY_HINT}")
    print(f"# REGISTRY is not set; showing {REGISTRY_PLACEHOLDER}: {REGISTRY_HINT}")
    return REGISTRY_PLACEHOLDER


if __name__ == "__main__":
    sys.exit(main())
