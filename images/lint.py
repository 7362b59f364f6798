"""Pin lint for images/: nothing in a Dockerfile or versions.env may float.

    python -m images.lint            (or: python images/lint.py, make images-lint)

Prints `images/<name>/Dockerfile:<line>: <message>` per problem and exits 1 if there is any.
Standard library only; `lint()` is importable and returns the problems.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `images` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from images.catalog import (  # noqa: E402
    BUILD_SETTINGS,
    COMPUTED_ARGS,
    IMAGES_DIR,
    VERSIONS_FILE,
    Instruction,
    arg_declarations,
    display_path,
    parse_dockerfile,
    parse_versions,
)

BRANCH_NAMES = {"main", "master", "develop", "dev", "trunk", "head"}
APT_LISTS_CLEANUP = "rm -rf /var/lib/apt/lists/*"
PIP_OPTIONS_WITH_VALUE = {
    "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-t", "--target", "--prefix",
    "--root", "--platform", "--python-version", "--implementation", "--abi", "--trusted-host",
    "--progress-bar", "--cache-dir", "--src", "-C", "--config-settings", "--global-option",
    "-e", "--editable", "--upgrade-strategy", "--report", "--log",
}
PIP_PINNED_FILE_OPTIONS = {"-r", "--requirement", "-c", "--constraint"}
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_ONLY_VARIABLE = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$")
_PIP_PROGRAM = re.compile(r"^pip(3(\.\d+)?)?$")


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Context:
    """What a Dockerfile check may consult."""
    path: str
    versions: dict[str, str]
    stages: frozenset[str]
    declared: frozenset[str]  # ARG names the Dockerfile declares


# ---------------------------------------------------------------- entry points

def lint(images_dir: Path = IMAGES_DIR, versions_file: Path | None = None) -> list[Problem]:
    versions_file = versions_file or images_dir / VERSIONS_FILE.name
    versions_path = display_path(versions_file)
    if not versions_file.is_file():
        return [Problem(versions_path, 0, "no such file: every pin must live in it")]
    pins, pin_problems = parse_versions(versions_file.read_text())
    versions = {key: pin.value for key, pin in pins.items()}
    problems = [Problem(versions_path, p.line, p.message) for p in pin_problems]
    used_args: set[str] = set()
    for dockerfile in sorted(images_dir.glob("*/Dockerfile")):
        instructions = parse_dockerfile(dockerfile.read_text())
        used_args.update(d.name for d in arg_declarations(instructions))
        problems += lint_dockerfile(display_path(dockerfile), instructions, versions)
    return problems + pin_value_problems(versions_path, pins.values(), used_args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="images/lint.py", description=__doc__.split("\n")[0])
    parser.add_argument("--images-dir", type=Path, default=IMAGES_DIR)
    parser.add_argument("--versions", type=Path, default=None, help="default: <images-dir>/versions.env")
    args = parser.parse_args(argv)
    problems = lint(args.images_dir, args.versions)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} pin problem(s)", file=sys.stderr)
    return 1 if problems else 0


# ---------------------------------------------------------------- versions.env

def pin_value_problems(path: str, pins, used_args: set[str]) -> list[Problem]:
    problems = []
    for pin in pins:
        if not pin.commented:
            problems.append(Problem(path, pin.line, f"{pin.key} needs a comment line above it saying what it pins"))
        if is_latest(pin.value):
            problems.append(Problem(path, pin.line, f"{pin.key}={pin.value} floats: pin a version, not latest"))
        if pin.key not in used_args and pin.key not in BUILD_SETTINGS:
            problems.append(Problem(path, pin.line, f"{pin.key} is not used by any Dockerfile ARG or by build.py"))
    return problems


def is_latest(value: str) -> bool:
    return value.lower() == "latest" or value.lower().endswith(":latest") or ":latest@" in value.lower()


# ---------------------------------------------------------------- Dockerfiles

def lint_dockerfile(path: str, instructions: list[Instruction], versions: dict[str, str]) -> list[Problem]:
    declared = frozenset(d.name for d in arg_declarations(instructions))
    context = Context(path, versions, stage_names(instructions), declared)
    problems = []
    for instruction in instructions:
        for check in CHECKS.get(instruction.keyword, ()) + ALWAYS:
            problems += [Problem(path, instruction.line, m) for m in check(instruction, context)]
    return problems


def stage_names(instructions: list[Instruction]) -> frozenset[str]:
    names = set()
    for instruction in instructions:
        words = instruction.text.split()
        if instruction.keyword == "FROM" and len(words) >= 3 and words[-2].lower() == "as":
            names.add(words[-1])
    return frozenset(names)


def check_no_latest(instruction: Instruction, context: Context) -> list[str]:
    return [":latest floats: pin a version"] if ":latest" in instruction.text.lower() else []


def check_from(instruction: Instruction, context: Context) -> list[str]:
    words = [w for w in instruction.text.split() if not w.startswith("--")]
    image = words[0] if words else ""
    if image in context.stages:
        return []
    variable = _ONLY_VARIABLE.match(image)
    if variable and variable.group(1) not in context.declared:
        return [f"FROM {image}: no ARG {variable.group(1)} is declared"]
    if variable:
        return image_value_problems(variable.group(1), context.versions.get(variable.group(1)))
    if "$" in image:
        return [f"FROM {image}: use one build ARG for the whole image reference"]
    if not has_tag_or_digest(image):
        return [f"FROM {image} is unpinned: use a build ARG from versions.env (or a tag/digest)"]
    return []


def image_value_problems(key: str, value: str | None) -> list[str]:
    if value is None or has_tag_or_digest(value):
        return []  # a missing key is reported at its ARG
    return [f"FROM ${{{key}}}: {key}={value} has no tag or digest"]


def has_tag_or_digest(image: str) -> bool:
    last_component = image.rsplit("/", 1)[-1]
    return "@sha256:" in image or ":" in last_component


def check_arg(instruction: Instruction, context: Context) -> list[str]:
    messages = []
    for declaration in arg_declarations([instruction]):
        if declaration.default is not None:
            messages.append(f"ARG {declaration.name} has a default: pins live in versions.env only")
        if declaration.name not in context.versions and declaration.name not in COMPUTED_ARGS:
            messages.append(f"ARG {declaration.name} is not set in images/versions.env")
    return messages


def check_run(instruction: Instruction, context: Context) -> list[str]:
    commands = [shell_words(c) for c in split_commands(instruction.text)]
    messages = check_apt_cleanup(instruction.text)
    for index, words in enumerate(commands):
        messages += check_git(words, commands[index + 1:], context)
        messages += check_pip_install(words)
        messages += check_download(words)
    return messages


def check_add(instruction: Instruction, context: Context) -> list[str]:
    return [f"download of {url} has no version variable" for url in unversioned_urls(instruction.text.split())]


CHECKS = {"FROM": (check_from,), "ARG": (check_arg,), "RUN": (check_run,), "ADD": (check_add,)}
ALWAYS = (check_no_latest,)


# ---------------------------------------------------------------- RUN: shell commands

def split_commands(script: str) -> list[str]:
    """Split a shell line on && || ; | outside quotes (good enough for Dockerfile RUNs)."""
    commands, current, quote, index = [], [], "", 0
    while index < len(script):
        char = script[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in ";|&" and not is_redirection(script, index):
            index += 1 if script[index:index + 2] in ("&&", "||") else 0
            commands.append("".join(current))
            current = []
            index += 1
            continue
        current.append(char)
        index += 1
    commands.append("".join(current))
    return [c.strip() for c in commands if c.strip()]


def is_redirection(script: str, index: int) -> bool:
    """The & of 2>&1 or &> is a redirection, not a command separator."""
    return script[index] == "&" and (script[index - 1:index] == ">" or script[index + 1:index + 2] == ">")


def shell_words(command: str) -> list[str]:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        words = words[1:]  # leading VAR=value assignments
    return words


def program(words: list[str]) -> str:
    return Path(words[0]).name if words else ""


def check_apt_cleanup(script: str) -> list[str]:
    last_apt = max(script.rfind("apt-get update"), script.rfind("apt-get install"))
    if last_apt < 0 or script.find(APT_LISTS_CLEANUP, last_apt) >= 0:
        return []
    return [f"apt-get without `{APT_LISTS_CLEANUP}` after it in the same RUN"]


def check_download(words: list[str]) -> list[str]:
    if program(words) not in ("curl", "wget"):
        return []
    return [f"download of {url} has no version variable" for url in unversioned_urls(words)]


def unversioned_urls(words: list[str]) -> list[str]:
    return [w for w in words if re.match(r"^(https?|ftp)://", w) and "$" not in w]


# ---------------------------------------------------------------- RUN: pip

def check_pip_install(words: list[str]) -> list[str]:
    arguments = pip_install_arguments(words)
    if arguments is None:
        return []
    return [f"pip install {name} is unpinned: use {name}==${{ARG}}" for name in unpinned_requirements(arguments)]


def pip_install_arguments(words: list[str]) -> list[str] | None:
    """Arguments after `pip install` / `python -m pip install`, or None if this is not one."""
    for index in range(len(words) - 1):
        if _PIP_PROGRAM.match(Path(words[index]).name) and words[index + 1] == "install":
            return words[index + 2:]
    return None


def unpinned_requirements(arguments: list[str]) -> list[str]:
    unpinned, index = [], 0
    while index < len(arguments):
        word = arguments[index]
        if word in PIP_OPTIONS_WITH_VALUE or word in PIP_PINNED_FILE_OPTIONS:
            index += 2
            continue
        if not word.startswith("-") and not is_pinned_requirement(word):
            unpinned.append(word)
        index += 1
    return unpinned


def is_pinned_requirement(word: str) -> bool:
    if "://" in word:
        return "$" in word  # a URL must carry a version variable
    is_local = word.startswith((".", "/")) or word.endswith((".whl", ".tar.gz", ".zip"))
    return is_local or bool(re.search(r"===?\s*\S", word))


# ---------------------------------------------------------------- RUN: git

def check_git(words: list[str], later_commands: list[list[str]], context: Context) -> list[str]:
    subcommand, arguments = git_subcommand(words)
    if subcommand == "clone":
        return check_git_clone(arguments, later_commands, context)
    if subcommand in ("checkout", "switch", "fetch"):
        return [m for ref in git_refs(subcommand, arguments) for m in ref_problems(ref, context)]
    return []


def git_subcommand(words: list[str]) -> tuple[str, list[str]]:
    if program(words) != "git":
        return "", []
    index = 1
    while index < len(words) and words[index].startswith("-"):
        index += 2 if words[index] in ("-C", "-c") else 1
    return (words[index], words[index + 1:]) if index < len(words) else ("", [])


def check_git_clone(arguments: list[str], later_commands: list[list[str]], context: Context) -> list[str]:
    branch = option_value(arguments, "-b", "--branch")
    if branch is not None:
        return ref_problems(branch, context)
    later_refs = [ref for words in later_commands for ref in pinned_refs_after_clone(words)]
    if any(_ONLY_VARIABLE.match(ref) for ref in later_refs):
        return []
    return ["git clone without a pinned ref: use -b ${ARG} or `git checkout ${SHA_ARG}` in the same RUN"]


def pinned_refs_after_clone(words: list[str]) -> list[str]:
    subcommand, arguments = git_subcommand(words)
    return git_refs(subcommand, arguments) if subcommand in ("checkout", "switch", "fetch") else []


def git_refs(subcommand: str, arguments: list[str]) -> list[str]:
    positional = [a for a in arguments if not a.startswith("-")]
    if subcommand == "fetch":
        return positional[1:]  # fetch <remote> <ref>...
    return positional[:1]


def option_value(arguments: list[str], short: str, long: str) -> str | None:
    for index, word in enumerate(arguments):
        if word in (short, long) and index + 1 < len(arguments):
            return arguments[index + 1]
        if word.startswith(long + "="):
            return word.split("=", 1)[1]
    return None


def ref_problems(ref: str, context: Context) -> list[str]:
    variable = _ONLY_VARIABLE.match(ref)
    value = context.versions.get(variable.group(1), "") if variable else ref
    if looks_like_branch(value):
        shown = f"{variable.group(1)}={value}" if variable else value
        return [f"git ref {shown} is a branch: pin a tag or a commit SHA"]
    if not variable and ref not in ("FETCH_HEAD",) and not _VARIABLE.search(ref):
        return [f"git ref {ref} is written in the Dockerfile: take it from a build ARG in versions.env"]
    return []


def looks_like_branch(ref: str) -> bool:
    return ref.lower() in BRANCH_NAMES or ref.startswith(("origin/", "refs/heads/"))


if __name__ == "__main__":
    sys.exit(main())
