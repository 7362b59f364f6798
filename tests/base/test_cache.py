"""The per-user cache of values derived from files (runner/base/cache.py)."""
from __future__ import annotations

import os

import pytest

from runner.base import cache
from runner.render import objects


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_a_value_comes_back_while_its_sources_are_unchanged(tmp_path):
    source = tmp_path / "schema.json"
    source.write_text("{}")
    assert cache.read("thing", [source], 1) is None
    cache.write("thing", [source], 1, {"a": [1, 2.5, "x", None]})
    assert cache.read("thing", [source], 1) == {"a": [1, 2.5, "x", None]}
    assert cache.read("thing", [source], 2) is None  # another format
    assert cache.read("other", [source], 1) is None


def test_an_edited_source_misses(tmp_path):
    source = tmp_path / "schema.json"
    source.write_text("{}")
    cache.write("thing", [source], 1, "old")
    source.write_text('{"changed": true}')
    assert cache.read("thing", [source], 1) is None


def test_a_cache_that_cannot_be_written_or_read_is_not_used(tmp_path, monkeypatch):
    source = tmp_path / "schema.json"
    source.write_text("{}")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    cache.write("thing", [source], 1, "value")  # no error
    assert cache.read("thing", [source], 1) is None


def test_a_damaged_entry_is_a_miss(tmp_path):
    source = tmp_path / "schema.json"
    source.write_text("{}")
    cache.write("thing", [source], 1, list(range(1000)))
    (entry,) = cache.directory().iterdir()
    entry.write_bytes(entry.read_bytes()[:50])
    assert cache.read("thing", [source], 1) is None
    assert os.stat(cache.directory()).st_mode & 0o077 == 0  # the user's own


def test_built_in_kinds_validate_alike_from_the_cache():
    objects._builtin_validator.cache_clear()
    made = objects._builtin_validator("batch/v1", "Job")
    assert any(p.name.startswith("k8s-schema-") for p in cache.directory().iterdir())
    objects._builtin_validator.cache_clear()
    cached = objects._builtin_validator("batch/v1", "Job")
    assert cached.schema == made.schema
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
           "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": "80"}]}],
                                          "restartPolicy": "Never"}}}}
    errors = [e.message for e in cached.iter_errors(job)]
    assert errors and errors == [e.message for e in made.iter_errors(job)]
