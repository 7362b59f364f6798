"""The five images, how they depend on each other, and readers for versions.env and Dockerfiles.

Shared by images/build.py and images/lint.py; standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

IMAGES_DIR = Path(__file__).resolve().parent
REPO_ROOT = IMAGES_DIR.parent
VERSIONS_FILE = IMAGES_DIR / "versions.env"

# image -> the image it is built FROM; None means FROM the pinned CUDA base image.
# Listed parents first: this order is the build order.
PARENTS: dict[str, str | None] = {
    "base-cuda-efa": None,
    "nccl-tests": "base-cuda-efa",
    "uccl-ep": "base-cuda-efa",
    "mooncake": "base-cuda-efa",
    "sglang-mooncake": "mooncake",
}
BUILD_ORDER = tuple(PARENTS)

# Build args that build.py computes instead of reading them from versions.env.
COMPUTED_ARGS = ("BASE_IMAGE", "GIT_REVISION", "IMAGE_SOURCE")


def repo_key(image: str) -> str:
    """versions.env key holding the repository name of an image: nccl-tests -> REPO_NCCL_TESTS."""
    return "REPO_" + image.upper().replace("-", "_")


# versions.env keys that build.py reads itself (some are also build args).
BUILD_SETTINGS = ("IMAGE_TAG", "IMAGE_PLATFORM") + tuple(repo_key(name) for name in PARENTS)


def dockerfile_of(image: str, images_dir: Path = IMAGES_DIR) -> Path:
    return images_dir / image / "Dockerfile"


def display_path(path: Path) -> str:
    """Path as printed in messages: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- versions.env

@dataclass(frozen=True)
class Pin:
    key: str
    value: str
    line: int
    commented: bool  # a comment line stands directly above it


@dataclass(frozen=True)
class FileProblem:
    line: int
    message: str


_PIN_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")


def parse_versions(text: str) -> tuple[dict[str, Pin], list[FileProblem]]:
    """KEY=VALUE lines, '#' comments; every problem is returned, none raised."""
    pins: dict[str, Pin] = {}
    problems: list[FileProblem] = []
    previous = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            pin, problem = _parse_pin(line, number, previous.startswith("#"))
            if problem is None and pin.key in pins:
                problem = FileProblem(number, f"{pin.key} is set twice (first on line {pins[pin.key].line})")
            if problem:
                problems.append(problem)
            else:
                pins[pin.key] = pin
        previous = line
    return pins, problems


def _parse_pin(line: str, number: int, commented: bool) -> tuple[Pin | None, FileProblem | None]:
    match = _PIN_LINE.match(line)
    if not match:
        return None, FileProblem(number, f"not a KEY=VALUE line: {line!r}")
    key, value = match.groups()
    if not value:
        return None, FileProblem(number, f"{key} has no value")
    if value[0] in "'\"" or "$" in value:
        return None, FileProblem(number, f"{key}: write the value literally, without quotes or ${{...}}")
    return Pin(key, value, number, commented), None


class VersionsError(ValueError):
    """versions.env cannot be read."""


def read_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    if not path.is_file():
        raise VersionsError(f"{display_path(path)}: no such file")
    pins, problems = parse_versions(path.read_text())
    if problems:
        raise VersionsError("\n".join(f"{display_path(path)}:{p.line}: {p.message}" for p in problems))
    return {key: pin.value for key, pin in pins.items()}


# ---------------------------------------------------------------- Dockerfiles

@dataclass(frozen=True)
class Instruction:
    line: int      # line where the instruction starts (1-based)
    keyword: str   # upper case: FROM, ARG, RUN, ...
    text: str      # its arguments, continuation lines joined by spaces


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with backslash continuations joined; comment and blank lines dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not pending:
            start = number
        continued = line.endswith("\\")
        pending.append(line[:-1].strip() if continued else line)
        if not continued:
            instructions.append(_instruction(start, " ".join(pending)))
            pending = []
    if pending:
        instructions.append(_instruction(start, " ".join(pending)))
    return instructions


def _instruction(line: int, joined: str) -> Instruction:
    keyword, _, rest = joined.partition(" ")
    return Instruction(line, keyword.upper(), rest.strip())


@dataclass(frozen=True)
class ArgDeclaration:
    name: str
    default: str | None
    line: int


def arg_declarations(instructions: list[Instruction]) -> list[ArgDeclaration]:
    """Every ARG, in order (an ARG may declare several names)."""
    declarations = []
    for instruction in instructions:
        if instruction.keyword != "ARG":
            continue
        for word in instruction.text.split():
            name, equals, default = word.partition("=")
            declarations.append(ArgDeclaration(name, default if equals else None, instruction.line))
    return declarations


def declared_arg_names(dockerfile: Path) -> list[str]:
    """Names of the ARGs a Dockerfile declares, first declaration order, no repeats."""
    names = [d.name for d in arg_declarations(parse_dockerfile(dockerfile.read_text()))]
    return list(dict.fromkeys(names))
