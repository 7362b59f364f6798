"""The template sandbox: Jinja's ImmutableSandboxedEnvironment (no attribute escapes, no mutation) plus bounds on the
work one rendering may do, because scenario templates come from pull requests.

- Size: an expression may not build a string or list over MAX_TEMPLATE_SEQUENCE characters or items in one step
  ('A'*10**9, '{:>2000000000}'.format(1), '%9999999d', x|center(10**9), s|replace('a', s)), and no value or output
  may grow past MAX_TEMPLATE_OUTPUT (doubling a string in a loop stops there).
- Work: range() items, calls, filters and operators count as steps; a rendering has MAX_TEMPLATE_STEPS.
- Time: on the main thread a timer ends a rendering after MAX_TEMPLATE_SECONDS (an empty loop nested three deep
  counts no steps); everywhere the deadline is also checked at each step.
- `lipsum` is gone; `{% include %}`/`{% import %}` only find templates the environment's loader serves.
A breach raises TemplateBoundError (a jinja2 SecurityError), which the render stage reports with the location.
"""
from __future__ import annotations

import re
import signal
import string
import threading
import time
import types
from contextlib import contextmanager
from typing import Any, Iterator

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment

from runner.base.limits import (
    MAX_TEMPLATE_OUTPUT,
    MAX_TEMPLATE_SECONDS,
    MAX_TEMPLATE_SEQUENCE,
    MAX_TEMPLATE_STEPS,
)


class TemplateBoundError(SecurityError):
    """A template went past one of the sandbox's bounds."""


class _Budget(threading.local):
    deadline: float = 0.0  # 0: no budget open (compile-time constant folding, code outside a rendering)
    steps: int = 0
    rendering: int = 0     # renderings in progress on this thread: the timer interrupts only these


_budget = _Budget()


def _step(count: int = 1) -> None:
    if not _budget.deadline:
        return
    _budget.steps += count
    if _budget.steps > MAX_TEMPLATE_STEPS:
        raise TemplateBoundError(f"the templates do more than {MAX_TEMPLATE_STEPS:,} steps (loops, calls, operators)")
    if time.monotonic() > _budget.deadline:
        raise TemplateBoundError(f"the templates took longer than {MAX_TEMPLATE_SECONDS:g} s to render")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)) else 0


def _checked(value: Any) -> Any:
    if _size(value) > MAX_TEMPLATE_OUTPUT:
        raise TemplateBoundError(f"a template value grew past {MAX_TEMPLATE_OUTPUT:,} characters or items")
    return value


def _need(size: int, what: str) -> None:
    if size > MAX_TEMPLATE_SEQUENCE:
        raise TemplateBoundError(f"{what} would build {size:,} characters or items; at most {MAX_TEMPLATE_SEQUENCE:,}")


def _as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def check_percent_format(text: str) -> None:
    for width, precision in _PERCENT_SPEC.findall(text):
        for number in (width, precision):
            if number == "*":
                raise TemplateBoundError("`*` widths in %-formatting are not allowed in templates")
            if number:
                _need(int(number) if len(number) < 10 else 10 ** 10, "a %-format width")


def check_brace_format(text: str) -> None:
    for _, field, spec, _ in string.Formatter().parse(text):
        if not spec:
            continue
        if "{" in spec:
            raise TemplateBoundError("nested fields in a format spec are not allowed in templates")
        for number in re.findall(r"\d+", spec):
            _need(int(number) if len(number) < 10 else 10 ** 10, "a format width")


class bounded_range:  # noqa: N801  (it stands in for `range` in templates)
    """range() whose iteration counts steps."""

    def __init__(self, *args: Any):
        self._range = range(*args)
        _need(len(self._range), "range()")

    def __iter__(self) -> Iterator[int]:
        for number in self._range:
            _step()
            yield number

    def __len__(self) -> int:
        return len(self._range)

    def __getitem__(self, index: Any) -> Any:
        return self._range[index]

    def __contains__(self, value: Any) -> bool:
        return value in self._range

    def __repr__(self) -> str:
        return repr(self._range)


def bounded_join(parts: Any) -> str:
    """Jinja's `a ~ b`."""
    parts = tuple(parts)
    _step()
    return _checked(str_join(parts))


def _check_call(obj: Any, args: tuple, kwargs: dict) -> None:
    """Methods of built-in types that make a result much bigger than their inputs."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if not isinstance(obj, types.BuiltinMethodType) or not isinstance(owner, (str, bytes, list, tuple)):
        return
    if name in ("center", "ljust", "rjust", "zfill"):
        _need(_as_int(args[0] if args else 0), f"str.{name}()")
    elif name == "expandtabs":
        _need(owner.count("\t") * _as_int(args[0] if args else kwargs.get("tabsize", 8)) + len(owner), "str.expandtabs()")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], type(owner)) and isinstance(args[1], type(owner)):
        _need(_replaced_size(owner, args[0], args[1]), "str.replace()")
    elif name == "join" and args:
        _need(_joined_size(owner, args[0]), "str.join()")


def _replaced_size(text: Any, old: Any, new: Any) -> int:
    hits = text.count(old) if old else len(text) + 1
    return len(text) + hits * max(0, len(new) - len(old))


def _joined_size(separator: Any, items: Any) -> int:
    items = list(items) if isinstance(items, (list, tuple)) else []
    return sum(len(str(item)) for item in items) + len(separator) * max(0, len(items) - 1)


def _filter_guard(name: str, function):
    """Jinja's filters with a size argument get a pre-check; every filter's result is size-checked."""
    skip = 1 if hasattr(function, "jinja_pass_arg") else 0  # the context, eval context or environment comes first
    sized = name in _SIZED_FILTERS

    def guarded(*args: Any, **kwargs: Any) -> Any:
        _step()
        if sized and len(args) > skip:
            _precheck_filter(name, args[skip], args[skip + 1:], kwargs)
        return _checked(function(*args, **kwargs))

    for attribute in ("jinja_pass_arg",):  # keeps @pass_context / @pass_environment filters working
        if hasattr(function, attribute):
            setattr(guarded, attribute, getattr(function, attribute))
    guarded.__name__ = getattr(function, "__name__", name)
    return guarded


_SIZED_FILTERS = {"center", "indent", "batch", "slice", "replace", "format", "join", "wordwrap"}


def _precheck_filter(name: str, value: Any, rest: tuple, kwargs: dict) -> None:
    if name == "center":
        _need(_as_int(rest[0] if rest else kwargs.get("width", 80)), "center")
    elif name == "indent":
        width = rest[0] if rest else kwargs.get("width", 4)
        lines = str(value).count("\n") + 1
        _need(lines * (_as_int(width) if not isinstance(width, str) else len(width)) + _size(value), "indent")
    elif name in ("batch", "slice"):
        _need(_as_int(rest[0] if rest else kwargs.get("linecount", kwargs.get("slices", 0))), name)
    elif name == "replace" and len(rest) >= 2:
        _need(_replaced_size(str(value), str(rest[0]), str(rest[1])), "replace")
    elif name == "format" and isinstance(value, str):
        check_percent_format(value)
    elif name == "join" and isinstance(value, (list, tuple)):
        separator = rest[0] if rest else kwargs.get("d", "")
        _need(_joined_size(str(separator), value), "join")
    elif name == "wordwrap":
        _need(_size(value) * 2, "wordwrap")


class _BoundedCodeGenerator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_join((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """ImmutableSandboxedEnvironment with the bounds above."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.globals.pop("lipsum", None)
        self.globals["range"] = bounded_range
        self.filters = _GuardedFilters(self.filters)

    @staticmethod
    def bounded_join(parts: Any) -> str:
        return bounded_join(parts)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _step()
        if operator == "*":
            count, sequence = (right, left) if _size(left) else (left, right)
            if _size(sequence) and isinstance(count, int):
                _need(_size(sequence) * max(0, count), "repeating a sequence")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1:
            _need(int(right * max(1, abs(left)).bit_length() / 3.3), "a power (digits)")
        elif operator == "%" and isinstance(left, str):
            check_percent_format(left)
        return _checked(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja's signature)
        _step()
        _check_call(__obj, args, kwargs)
        return _checked(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any):
        wrapper = super().wrap_str_format(value)
        if wrapper is not None:
            check_brace_format(value.__self__)
        return wrapper


class _GuardedFilters(dict):
    """The filter table, each filter guarded; filters added later (env.filters.update) are guarded too."""

    def __init__(self, filters: dict):
        super().__init__()
        self.update(filters)

    def __setitem__(self, name: str, function: Any) -> None:
        super().__setitem__(name, _filter_guard(name, function))

    def update(self, *args: Any, **kwargs: Any) -> None:
        for name, function in dict(*args, **kwargs).items():
            self[name] = function


class _Deadline(BaseException):
    pass


@contextmanager
def bounded_rendering() -> Iterator[None]:
    """One budget (steps, MAX_TEMPLATE_SECONDS) for everything rendered inside: validating one scenario file opens
    one, and a rendering outside any opens its own. On the main thread a timer interrupts a rendering that runs past
    the deadline without taking steps."""
    if _budget.deadline:
        yield
        return
    _budget.steps = 0
    _budget.deadline = time.monotonic() + MAX_TEMPLATE_SECONDS
    timer = _start_timer()
    try:
        yield
    finally:
        _budget.deadline = 0.0
        if timer is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, timer)


def _start_timer():
    if threading.current_thread() is not threading.main_thread() or signal.getitimer(signal.ITIMER_REAL)[0]:
        return None

    def expire(signum, frame):
        if _budget.rendering:
            raise _Deadline()

    try:
        previous = signal.signal(signal.SIGALRM, expire)
    except (ValueError, OSError):
        return None
    signal.setitimer(signal.ITIMER_REAL, MAX_TEMPLATE_SECONDS + 0.05)
    return previous if previous is not None else signal.SIG_DFL


def render_bounded(template: Any, variables: Any) -> str:
    """template.render(**variables) within the bounds; the output is streamed and cut off past MAX_TEMPLATE_OUTPUT."""
    with bounded_rendering():
        _step(0)
        _budget.rendering += 1
        try:
            size, parts = 0, []
            for chunk in template.generate(**variables):
                size += len(chunk)
                if size > MAX_TEMPLATE_OUTPUT:
                    raise TemplateBoundError(f"the template renders more than {MAX_TEMPLATE_OUTPUT:,} characters")
                parts.append(chunk)
                _step(0)
            return "".join(parts)
        except _Deadline:
            raise TemplateBoundError(f"the templates took longer than {MAX_TEMPLATE_SECONDS:g} s to render") from None
        finally:
            _budget.rendering -= 1
