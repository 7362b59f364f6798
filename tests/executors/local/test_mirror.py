"""The mirror that copies a run's staged output into its record, redacted: whole lines only until the writer is
gone, regular files only, a replaced file copied again."""
from __future__ import annotations

import os

from runner.execute.local import mirror
from runner.records.redaction import Redactor

SECRET = "s3cr3t-mirror-value-1"


def _pair(tmp_path):
    staging, record = mirror.make_private(tmp_path / "staging"), tmp_path / "record"
    copier = mirror.Mirror(Redactor([SECRET]).block)
    copier.folders.append((staging, record))
    return staging, record, copier


def test_the_staging_folder_is_private(tmp_path):
    staging, _, _ = _pair(tmp_path)
    assert os.stat(staging).st_mode & 0o777 == 0o700


def test_an_unfinished_line_waits_for_its_newline_so_a_secret_is_never_cut(tmp_path):
    staging, record, copier = _pair(tmp_path)
    log = staging / "rank-0.log"
    log.write_text(f"first\ntoken {SECRET[:8]}")
    copier.sync()
    assert (record / "rank-0.log").read_text() == "first\n"
    with log.open("a") as handle:
        handle.write(f"{SECRET[8:]} done\nunfinished")
    copier.sync()
    assert (record / "rank-0.log").read_text() == "first\ntoken <redacted> done\n"
    copier.sync(final=True)  # the writer is gone: its last line too
    assert (record / "rank-0.log").read_text() == "first\ntoken <redacted> done\nunfinished"


def test_only_regular_files_are_copied(tmp_path):
    staging, record, copier = _pair(tmp_path)
    (staging / "out.json").write_text(f'{{"api_key": "{SECRET}", "n": 1}}\n')
    os.symlink("/etc/passwd", staging / "passwd")
    os.mkfifo(staging / "fifo")
    copier.sync(final=True)  # returns: the FIFO is not opened
    assert sorted(p.name for p in record.iterdir()) == ["out.json"]
    assert (record / "out.json").read_text() == '{"api_key": "<redacted>", "n": 1}\n'


def test_a_replaced_or_truncated_file_is_copied_again_from_its_start(tmp_path):
    staging, record, copier = _pair(tmp_path)
    result = staging / "result.json"
    result.write_text('{"step": 1, "long": "' + "x" * 100 + '"}\n')
    copier.sync()
    replacement = staging / ".result.tmp"
    replacement.write_text('{"step": 2}\n')
    os.replace(replacement, result)  # how tools write a file atomically
    copier.sync()
    assert (record / "result.json").read_text() == '{"step": 2}\n'
    result.write_text("")
    copier.sync()
    assert (record / "result.json").read_text() == ""


def test_a_killed_runs_staging_folder_is_copied_whole(tmp_path):
    staging, record, _ = _pair(tmp_path)
    (staging / "logs" / "job").mkdir(parents=True)
    (staging / "logs" / "job" / "rank-0.log").write_text(f"HF_TOKEN={SECRET}\nlast line without newline {SECRET}")
    (record / "logs" / "job").mkdir(parents=True)
    (record / "logs" / "job" / "rank-0.log").write_text("HF_TOKEN=<redacted>\n")  # what the dead runner had copied
    mirror.copy_all(staging, record, Redactor([SECRET]).block)
    assert (record / "logs" / "job" / "rank-0.log").read_text() == "HF_TOKEN=<redacted>\nlast line without newline <redacted>"
