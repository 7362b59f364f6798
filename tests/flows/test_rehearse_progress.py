"""The control plane's progress prints reach the rehearsal's `say`, whatever `say` writes to."""
from __future__ import annotations

import contextlib
import io

from runner.flows.rehearse import _Lines


def test_a_say_that_prints_to_stdout_gets_each_line_once():
    """print as `say` (the test fixture's) wrote into the redirected stdout again: infinite recursion."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        with contextlib.redirect_stdout(_Lines(print)):
            print("etcd: healthy")
            print("kube-apiserver: ready", end="")
            print(" (1.2 s)")
    assert out.getvalue() == "etcd: healthy\nkube-apiserver: ready (1.2 s)\n"


def test_lines_are_said_whole_and_blank_ones_dropped():
    said = []
    lines = _Lines(said.append)
    lines.write("a\n\nb")
    lines.write("c\n")
    assert said == ["a", "bc"]
