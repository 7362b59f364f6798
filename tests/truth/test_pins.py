"""One version of each tool for both executors: images/versions.env is the single source, and what the local
executor installs (pyproject's `local` extra, the shared virtual environment) must be the same release."""
from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parents[2]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "images" / "versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pins[key.strip()] = value.strip()
    return pins


def _local_requirement(name: str) -> str:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["local"]
    for requirement in extras:
        match = re.fullmatch(rf"{re.escape(name)}\s*==\s*(\S+)", requirement)
        if match:
            return match.group(1)
    pytest.fail(f"pyproject.toml's `local` extra does not pin {name} with ==: {extras}")


def test_local_mooncake_is_the_release_the_images_build():
    image_ref = _pins()["MOONCAKE_REF"]
    assert image_ref.startswith("v"), image_ref
    pinned = _local_requirement("mooncake-transfer-engine-non-cuda")
    assert pinned == image_ref[1:], (f"images/versions.env builds Mooncake {image_ref} but pyproject.toml installs "
                                     f"{pinned} for the local executor: move both together")


def test_installed_mooncake_matches_the_pin():
    try:
        installed = metadata.version("mooncake-transfer-engine-non-cuda")
    except metadata.PackageNotFoundError:
        pytest.skip("mooncake-transfer-engine-non-cuda is not installed (make setup installs it)")
    assert installed == _local_requirement("mooncake-transfer-engine-non-cuda"), "run `make setup` again"


def test_corpus_versions_are_the_pinned_ones():
    pins = _pins()
    expected = {"mooncake": pins["MOONCAKE_REF"], "sglang": pins["SGLANG_VERSION"], "nccl-tests": pins["NCCL_TESTS_VERSION"],
                "uccl-ep": pins["UCCL_COMMIT"][:8]}
    for tool, version in expected.items():
        folders = [p.name for p in (REPO / "tests" / "truth" / tool).iterdir() if p.is_dir()]
        assert version in folders, f"tests/truth/{tool}/ has {folders}, not the pinned {version}"


def test_library_images_carry_the_tag_versions_env_builds():
    from runner.flows.check import validate_scenario
    from runner.scenario.resolve import Library

    tag = _pins()["IMAGE_TAG"]
    library = Library()
    for name in library.names():
        for key, ref in validate_scenario(name, library).images.items():
            if "{{ registry }}" in ref or "<registry>" in ref:
                assert ref.rsplit(":", 1)[-1] == tag, f"{name}: image {key} is {ref}, images/versions.env builds {tag}"
