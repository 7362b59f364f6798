from __future__ import annotations

import pytest

from runner.parse.logs import ParseResult, parse_file, parse_lines

from .helpers import FIXTURES


@pytest.fixture
def parse_fixture():
    """parse_fixture("nccl-tests", "nccl-tests/all_gather_perf.txt", min_bytes=...) -> ParseResult"""

    def parse(parser: str, relative: str, **options) -> ParseResult:
        return parse_file(parser, FIXTURES / relative, options)

    return parse


@pytest.fixture
def parse_text():
    """parse_text("regex", "line 1\\nline 2\\n", patterns=[...]) -> ParseResult"""

    def parse(parser: str, text: str, **options) -> ParseResult:
        return parse_lines(parser, text.splitlines(keepends=True), "<test>", options)

    return parse
