"""The per-user cache of values derived from files (runner/base/cache.py)."""
from __future__ import annotations

import marshal
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


def test_a_parsed_text_comes_back_while_the_text_and_its_parser_are_unchanged(tmp_path):
    parser = tmp_path / "parser.py"
    parser.write_text("# v1")
    cache.write_parsed("parsed", "a.yaml", b"x: 1", [parser], ({"x": 1}, ()))
    assert cache.read_parsed("parsed", "a.yaml", b"x: 1", [parser]) == ({"x": 1}, ())
    assert cache.read_parsed("parsed", "a.yaml", b"x: 2", [parser]) is None  # another text
    assert cache.read_parsed("parsed", "b.yaml", b"x: 1", [parser]) is None  # another file: its locations differ
    parser.write_text("# version 2")
    assert cache.read_parsed("parsed", "a.yaml", b"x: 1", [parser]) is None  # the parser changed


def test_writing_a_slot_again_replaces_its_older_entry(tmp_path):
    parser = tmp_path / "parser.py"
    parser.write_text("")
    for text in (b"x: 1", b"x: 2", b"x: 3"):
        cache.write_parsed("parsed", "a.yaml", text, [parser], text.decode())
    cache.write_parsed("parsed", "b.yaml", b"x: 1", [parser], "b")
    assert len(list(cache.directory().glob("parsed-*"))) == 2
    assert cache.read_parsed("parsed", "a.yaml", b"x: 3", [parser]) == "x: 3"


def test_a_kind_keeps_at_most_max_entries_and_drops_the_oldest(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "MAX_ENTRIES", 3)
    parser = tmp_path / "parser.py"
    parser.write_text("")
    for index in range(5):
        cache.write_parsed("parsed", f"{index}.yaml", b"x", [parser], index)
        entry = next(p for p in cache.directory().glob("parsed-*") if marshal.loads(p.read_bytes()) == index)
        os.utime(entry, ns=(index * 10**9, index * 10**9))  # written in this order
    kept = sorted(cache.read_parsed("parsed", f"{index}.yaml", b"x", [parser]) for index in range(5)
                  if cache.read_parsed("parsed", f"{index}.yaml", b"x", [parser]) is not None)
    assert kept == [2, 3, 4]
