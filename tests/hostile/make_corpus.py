"""Writes the hostile corpus (tests/hostile/*.yaml): `python tests/hostile/make_corpus.py`. The files are committed;
this script says how each was made, and `generated_cases()` builds the ones too big to commit (at test time).

Each case: (file name, expected text in the output, file body as bytes). The body is a scenario header plus the
hostile part, so the problem is the hostile part and not a missing field.
"""
from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent


def head(name: str) -> str:
    return f"apiVersion: scenarios/v1\nkind: Scenario\nmetadata:\n  name: {name}\nexecutors: [local]\n"


JOB = "workloads:\n  - name: bench\n    kind: job\n    command: [echo, hi]\n"


def job(command: str = "[echo, hi]", extra: str = "") -> str:
    return f"workloads:\n  - name: bench\n    kind: job\n    command: {command}\n{extra}"


def text_case(name: str, expect: str, body: str) -> tuple[str, str, bytes]:
    return name, expect, (f"# expect: {expect}\n" + head(name) + body).encode()


def laughs(levels: int, width: int) -> str:
    lines = ["parameters:", "  l0: &l0 lol"]
    for level in range(1, levels + 1):
        lines.append(f"  l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def nested_flow(depth: int) -> str:
    return "parameters:\n  deep: " + "[" * depth + "x" + "]" * depth + "\n"


def nested_block(depth: int) -> str:
    lines = ["parameters:"]
    for level in range(depth):
        lines.append("  " * (level + 1) + f"k{level}:")
    lines.append("  " * (depth + 1) + "leaf")
    return "\n".join(lines) + "\n"


def alias_depth() -> str:
    lines = ["parameters:", "  a0: &a0 " + "[" * 40 + "x" + "]" * 40]
    for i in range(1, 4):
        lines.append(f"  a{i}: &a{i} " + "[" * 40 + f"*a{i - 1}" + "]" * 40)
    return "\n".join(lines) + "\n"


def tpl(name: str, expect: str, template: str, where: str = "command") -> tuple[str, str, bytes]:
    quoted = template.replace("\\", "\\\\").replace('"', '\\"')
    if where == "command":
        body = job(f'[echo, "{quoted}"]')
    elif where == "env":
        body = job(extra=f'    env:\n      VALUE: "{quoted}"\n')
    elif where == "fallback":
        body = job("[no-such-tool-xyz]", f'    fallback:\n      command: [echo, "{quoted}"]\n')
    elif where == "local":
        body = job(extra=f'    local:\n      command: [echo, "{quoted}"]\n')
    elif where == "shell":
        body = f'workloads:\n  - name: bench\n    kind: job\n    shell: true\n    command: "{quoted}"\n'
    elif where == "check":
        body = "parameters: {n: 1}\n" + job(extra="    parser: mooncake-bench\n") + \
            f'checks:\n  - {{metric: bench.throughput_gbps, op: ">=", value: "{quoted}"}}\n'
    else:
        raise ValueError(where)
    return text_case(name, expect, body)


def workloads(count: int, chained: bool = False) -> str:
    lines = ["workloads:"]
    for i in range(count):
        lines += [f"  - name: w{i}", "    kind: job", "    command: [echo, hi]"]
        if chained and i:
            lines.append(f"    after: [w{i - 1}]")
    return "\n".join(lines) + "\n"


def cases() -> list[tuple[str, str, bytes]]:
    big = "9" * 5000
    c = [
        # YAML structure: alias expansion, recursion, depth
        text_case("alias-billion-laughs", "expands to more than", laughs(9, 10)),
        text_case("alias-wide-bomb", "expands to more than", "parameters:\n  a: &a [" + ", ".join(["x"] * 400) + "]\n  b: [" + ", ".join(["*a"] * 400) + "]\n" + JOB),
        text_case("alias-in-command-bomb", "expands to more than", laughs(6, 10) + job("[echo, *l6]")),
        text_case("alias-self-reference-list", "refers to the collection that contains it", "parameters:\n  a: &a [1, *a]\n" + JOB),
        text_case("alias-self-reference-map", "refers to the collection that contains it", "parameters: &p\n  me: *p\n" + JOB),
        text_case("alias-self-reference-workloads", "refers to the collection that contains it", "workloads: &w\n  - name: bench\n    kind: job\n    command: [echo, hi]\n    args: {again: *w}\n"),
        text_case("alias-depth-through-aliases", "nested more than", alias_depth() + JOB),
        text_case("alias-merge-key-bomb", "expands to more than", laughs(5, 10) + "workloads:\n  - &w {name: bench, kind: job, command: [echo, hi], args: {x: *l5}}\n  - <<: *w\n    name: two\n"),
        text_case("nesting-flow-500", "nested more than", nested_flow(500) + JOB),
        text_case("nesting-flow-maps-200", "nested more than", "parameters:\n  deep: " + "{a: " * 200 + "x" + "}" * 200 + "\n" + JOB),
        text_case("nesting-block-100", "nested more than", nested_block(100) + JOB),
        text_case("nesting-in-args", "nested more than", job(extra="    args:\n      deep: " + "[" * 100 + "1" + "]" * 100 + "\n")),
        text_case("multiple-documents", "YAML syntax error", JOB + "---\n" + head("second") + JOB),
        # characters and encodings
        ("control-nul", "character YAML does not allow", (head("control-nul") + job('[echo, "a\x00b"]')).encode()),
        ("control-esc", "character YAML does not allow", (head("control-esc") + job('[echo, "\x1b[31mred"]')).encode()),
        ("control-bell-in-key", "character YAML does not allow", (head("control-bell-in-key") + "parameters:\n  be\x07ll: 1\n" + JOB).encode()),
        ("control-c1-csi", "character YAML does not allow", (head("control-c1-csi") + job('[echo, "\x9b2J"]')).encode()),
        ("control-backspace", "character YAML does not allow", (head("control-backspace") + job("[echo, hi\x08\x08]")).encode()),
        ("utf16-le-no-bom", "is the file UTF-16?", (head("utf16-le-no-bom") + JOB).encode("utf-16-le")),
        ("utf16-be-no-bom", "is the file UTF-16?", (head("utf16-be-no-bom") + JOB).encode("utf-16-be")),
        ("utf16-with-bom", "not UTF-8", (head("utf16-with-bom") + JOB).encode("utf-16")),
        ("utf32-no-bom", "is the file UTF-16?", (head("utf32-no-bom") + JOB).encode("utf-32-le")),
        ("invalid-utf8-surrogate", "not UTF-8", head("invalid-utf8-surrogate").encode() + b"parameters:\n  x: \xed\xa0\x80\n" + JOB.encode()),
        ("invalid-utf8-truncated", "not UTF-8", head("invalid-utf8-truncated").encode() + JOB.encode() + b"# \xe2\x82"),
        # numbers
        text_case("int-5000-digits", "at most 30 are allowed", f"parameters:\n  n: {big}\n" + JOB),
        text_case("int-5000-digits-ranks", "at most 30 are allowed", job(extra=f"    ranks: {big}\n")),
        text_case("int-5000-digits-key", "at most 30 are allowed", f"parameters:\n  ? {big}\n  : x\n" + JOB),
        text_case("int-hex-huge", "at most 30 are allowed", "parameters:\n  n: 0x" + "f" * 3000 + "\n" + JOB),
        text_case("int-tagged-huge", "at most 30 are allowed", f"parameters:\n  n: !!int {big}\n" + JOB),
        text_case("float-overflow", "too large", job(extra="    parser: mooncake-bench\n") + "checks:\n  - {metric: bench.throughput_gbps, op: '>=', value: 1.0e+400}\n"),
        text_case("timestamp-invalid", "cannot read the value", "parameters:\n  when: !!timestamp 2001-13-45\n" + JOB),
        text_case("ranks-a-billion", "more than 4,096", job(extra="    ranks: 1000000000\n")),
        text_case("replicas-a-billion", "more than 4,096", job(extra="    replicas: 1000000000\n")),
        text_case("local-ranks-a-billion", "more than 4,096", job(extra="    local:\n      ranks: 99999999\n")),
        # counts
        text_case("workloads-129", "at most 128", workloads(129)),
        text_case("after-chain-1500", "at most 128", workloads(1500, chained=True)),
        text_case("checks-1001", "at most 1,000", job(extra="    parser: mooncake-bench\n") + "checks:\n" + "".join(
            f"  - {{metric: bench.throughput_gbps, op: '>=', value: {i}}}\n" for i in range(1001))),
        text_case("env-1001-keys", "at most 1,000", "env:\n" + "".join(f"  V{i}: x\n" for i in range(1001)) + JOB),
        text_case("parameters-1001-keys", "at most 1,000", "parameters:\n" + "".join(f"  p{i}: {i}\n" for i in range(1001)) + JOB),
        text_case("command-10001-items", "at most 10,000", job("[" + ", ".join(["x"] * 10001) + "]")),
        text_case("matrix-explosion", "more than 256 runs", "parameters: {a: 1, b: 1, c: 1, d: 1}\nmatrix:\n" + "".join(
            f"  parameters.{k}: [{', '.join(str(i) for i in range(10))}]\n" for k in "abcd") + JOB),
        # extends: outside the library, devices, long chains
        text_case("extends-etc-passwd", "outside the scenario library", "extends: ../../../../../../../../etc/passwd\n" + JOB),
        text_case("extends-absolute-path", "outside the scenario library", "extends: /etc/passwd\n" + JOB),
        text_case("extends-dev-zero", "outside the scenario library", "extends: /dev/zero\n" + JOB),
        text_case("extends-proc-environ", "outside the scenario library", "extends: /proc/self/environ\n" + JOB),
        text_case("extends-directory", "not a regular file", "extends: parents/\n" + JOB),
        text_case("extends-chain-17", "chain is longer than 16", "extends: chain-01\n" + JOB),
        text_case("extends-url", "no such scenario", "extends: https://example.invalid/x.yaml\n" + JOB),
        # templates: size, work, time, errors
        tpl("tpl-repeat-bomb", "repeating a sequence", "{{ 'A' * 10**9 }}"),
        tpl("tpl-list-repeat-bomb", "repeating a sequence", "{{ [1] * 10**9 }}"),
        tpl("tpl-format-width", "format width", "{{ '{:>2000000000}'.format(1) }}"),
        tpl("tpl-format-nested-width", "nested fields", "{{ '{:{w}}'.format(1, w=10**9) }}"),
        tpl("tpl-percent-width", "%-format width", "{{ '%2000000000d' % 1 }}"),
        tpl("tpl-percent-star", "widths in %-formatting", "{{ '%*d' % (10**9, 1) }}"),
        tpl("tpl-format-filter-width", "%-format width", "{{ '%999999999s'|format('x') }}"),
        tpl("tpl-nested-range-loops", "template not allowed", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"),
        tpl("tpl-empty-loops-over-strings", "longer than", "{% for a in 'x'*99999 %}{% for b in 'x'*99999 %}{% for c in 'xy' %}{% endfor %}{% endfor %}{% endfor %}"),
        tpl("tpl-lipsum", "lipsum", "{{ lipsum(n=2000000) }}"),
        tpl("tpl-zero-division", "ZeroDivisionError", "{{ 1 / 0 }}"),
        tpl("tpl-recursive-macro", "recurses too deeply", "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}"),
        tpl("tpl-exponential-macro", "longer than", "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}"),
        tpl("tpl-include", "cannot include or import", "{% include '/etc/passwd' %}"),
        tpl("tpl-import", "cannot include or import", "{% import 'x.j2' as x %}{{ x }}"),
        tpl("tpl-extends", "cannot include or import", "{% extends '/etc/passwd' %}"),
        tpl("tpl-range-too-big", "range()", "{{ range(10**9)|list }}"),
        tpl("tpl-center", "center", "{{ 'x'|center(10**9) }}"),
        tpl("tpl-indent", "indent", "{{ 'a\\nb'|indent(10**9) }}"),
        tpl("tpl-ljust", "str.ljust()", "{{ 'x'.ljust(10**9) }}"),
        tpl("tpl-zfill", "str.zfill()", "{{ '1'.zfill(10**9) }}"),
        tpl("tpl-replace-bomb", "replace", "{{ ('a' * 1000)|replace('a', 'b' * 100000) }}"),
        tpl("tpl-str-replace-bomb", "str.replace()", "{{ ('a' * 1000).replace('a', 'b' * 100000) }}"),
        tpl("tpl-join-bomb", "join", "{{ (['x' * 100000] * 100)|join }}"),
        tpl("tpl-batch-bomb", "batch", "{{ [1]|batch(10**9, 'x')|list }}"),
        tpl("tpl-doubling-concat", "grew past", "{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}{% else %}{{ s }}{% endif %}{% endmacro %}{{ d('ab', 40) }}"),
        tpl("tpl-power-bomb", "a power", "{{ 2 ** 100000000 }}"),
        tpl("tpl-class-escape", "not allowed", "{{ ''.__class__.__mro__[1].__subclasses__() }}"),
        tpl("tpl-globals-escape", "not allowed", "{{ cycler.__init__.__globals__ }}"),
        tpl("tpl-undefined-deep", "is not defined", "{{ params.a.b.c.d }}"),
        tpl("tpl-bomb-in-env", "repeating a sequence", "{{ 'A' * 10**9 }}", where="env"),
        tpl("tpl-bomb-in-fallback", "repeating a sequence", "{{ 'A' * 10**9 }}", where="fallback"),
        tpl("tpl-bomb-in-local-override", "repeating a sequence", "{{ 'A' * 10**9 }}", where="local"),
        tpl("tpl-bomb-in-shell-command", "repeating a sequence", "{{ 'A' * 10**9 }}", where="shell"),
        tpl("tpl-zero-division-in-threshold", "ZeroDivisionError", "{{ params.n / 0 }}", where="check"),
        # regular expressions: RE2 syntax only (linear time)
        text_case("regex-backreference", "not supported", job(extra="") + "checks:\n  - {log: bench, regex: '(a)\\1'}\n"),
        text_case("regex-lookahead", "not supported", job(extra="") + "checks:\n  - {log: bench, regex: 'a(?=b)'}\n"),
        text_case("regex-ready-lookbehind", "not supported", "workloads:\n  - name: bench\n    kind: service\n    command: [echo, hi]\n"
                  "    ready: {log: '(?<=x)listening'}\n"),
        text_case("regex-huge-repeat", "invalid regular expression", job(extra="") + "checks:\n  - {log: bench, regex: 'a{100000}'}\n"),
        text_case("regex-nested-repeat-blowup", "invalid regular expression", job(extra="") + "checks:\n  - {log: bench, regex: '((a{1000}){1000}){1000}'}\n"),
    ]
    return c


PARENTS = {f"chain-{i:02d}": f"apiVersion: scenarios/v1\nkind: Scenario\nmetadata:\n  name: chain-{i:02d}\n"
           + (f"extends: chain-{i + 1:02d}\n" if i < 20 else "executors: [local]\n" + JOB) for i in range(1, 21)}


def write() -> None:
    for stale in HERE.glob("*.yaml"):
        stale.unlink()
    for name, _, body in cases():
        (HERE / f"{name}.yaml").write_bytes(body)
    (HERE / "parents").mkdir(exist_ok=True)
    for name, text in PARENTS.items():
        (HERE / "parents" / f"{name}.yaml").write_text(text)


def generated_cases(directory: Path) -> list[tuple[Path, str]]:
    """Cases too big to commit, or that git cannot hold (FIFOs, links to devices): (file, expected text)."""
    made: list[tuple[Path, str]] = []

    def put(name: str, expect: str, body: str | bytes) -> Path:
        path = directory / f"{name}.yaml"
        path.write_bytes(body.encode() if isinstance(body, str) else body)
        made.append((path, expect))
        return path

    put("file-50mb", "at most 1,048,576", head("file-50mb") + JOB + "# " + "x" * (50 << 20) + "\n")
    put("file-1mb-plus-one", "at most 1,048,576", head("file-1mb-plus-one") + JOB + "#" * ((1 << 20) + 1 - len(head("file-1mb-plus-one") + JOB)))
    put("workloads-3000", "at most 128", head("workloads-3000") + workloads(3000))
    put("nesting-flow-200000", "nested more than", head("nesting-flow-200000") + nested_flow(200_000) + JOB)
    put("long-line-900k-in-command", "repeating a sequence",
        head("long-line-900k-in-command") + job('[echo, "' + "y" * 900_000 + '{{ \'A\' * 10**9 }}"]'))
    os.mkfifo(directory / "a-fifo.yaml")
    put("extends-fifo", "not a regular file", head("extends-fifo") + "extends: a-fifo\n" + JOB)
    (directory / "zero.yaml").symlink_to("/dev/zero")
    put("extends-dev-zero-link", "outside the scenario library", head("extends-dev-zero-link") + "extends: zero\n" + JOB)
    (directory / "passwd.yaml").symlink_to("/etc/passwd")
    put("extends-link-outside", "outside the scenario library", head("extends-link-outside") + "extends: passwd\n" + JOB)
    return made


if __name__ == "__main__":
    write()
    print(f"{len(cases())} cases written to {HERE}")
