"""Event reprs are parsed with a bounded literal_eval (console/core/literal.py)."""

from __future__ import annotations

import ast

import pytest

from console.core.literal import MAX_DEPTH, literal, nesting_depth
from console.core.resend import literal_arguments


def test_literals_parse_and_objects_are_refused() -> None:
    assert literal("([1, 2], {'a': (3,)})") == ([1, 2], {"a": (3,)})
    with pytest.raises(ValueError):
        literal("__import__('os').system('true')")
    with pytest.raises(ValueError):
        literal("datetime.datetime(2026, 1, 1)")


def test_a_deeply_nested_repr_is_refused_before_the_parser_and_compile_still_works() -> None:
    hostile = "(" * 50_000 + ")" * 50_000
    assert nesting_depth(hostile) == 50_000
    with pytest.raises(ValueError, match="nested deeper"):
        literal(hostile)
    with pytest.raises(ValueError):
        literal_arguments(hostile, "{}")
    # the process can still compile code afterwards (CPython 3.11's parser state is intact)
    assert ast.literal_eval("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    compile("x = 1", "<test>", "exec")
