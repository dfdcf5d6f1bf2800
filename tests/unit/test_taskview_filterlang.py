"""The Tasks screen's filter is console/core/filterlang.py, the language of ``ctl tasks --filter``.

Each case fails on the old ad-hoc filter (which split on spaces and searched substrings:
``-word`` / ``a|b`` / ``runtime>1`` matched nothing, an unknown field matched nothing).
"""

from __future__ import annotations

import pytest

from console.core.filterlang import FilterError
from console.core.taskview import TaskViewer, ViewSpec, check_query

from .test_taskview import delta, row


def viewer() -> TaskViewer:
    v = TaskViewer()
    rows = [
        row(1, name="proj.add", state="SUCCESS"),
        row(2, name="proj.mul", state="FAILURE", host="bravo@h"),
        row(3, name="proj.resize", state="RETRY", args="('a.png',)"),
        row(4, name="proj.add", state="STARTED", host="bravo@h"),
    ]
    slow = list(row(5, name="proj.slow", state="SUCCESS"))
    slow[6] = 12.0  # runtime
    slow[7] = 2  # retries
    rows.append(tuple(slow))
    v.apply(delta(rows, full=True))
    return v


def names(v: TaskViewer, query: str) -> list[str]:
    w = v.window(ViewSpec(query=query, limit=50, sort="uuid", reverse=False))
    assert w.error is None, w.error
    return [r[1] for r in w.rows]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("add", ["proj.add", "proj.add"]),
        ("-add", ["proj.mul", "proj.resize", "proj.slow"]),
        ("mul|resize", ["proj.mul", "proj.resize"]),
        ("state:failure|retry", ["proj.mul", "proj.resize"]),
        ("-state:success worker:bravo", ["proj.mul", "proj.add"]),
        ("name:*.re*", ["proj.resize"]),
        ("runtime>5s", ["proj.slow"]),
        ("retries>0", ["proj.slow"]),
        ('args:"a.png"', ["proj.resize"]),
        ("proj -name:add -mul", ["proj.resize", "proj.slow"]),
    ],
)
def test_the_tasks_filter_speaks_filterlang(query: str, expected: list[str]) -> None:
    assert names(viewer(), query) == expected


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("colour:red", "unknown field 'colour'"),
        ("state:fail", "unknown state 'fail'"),
        ("runtime>fast", "bad number 'fast'"),
        ("result:3", "the live task list has no result"),
        ("exc:KeyError", "the live task list has no exc"),
        ('name:"add', "unclosed quote"),
    ],
)
def test_a_bad_filter_is_an_error_never_zero_matches(query: str, says: str) -> None:
    w = viewer().window(ViewSpec(query=query, limit=50))
    assert w.error is not None and says in w.error, w.error
    assert w.rows == [] and w.total == 5
    with pytest.raises(FilterError):
        check_query(query)


def test_typing_a_negation_widens_so_the_narrowing_shortcut_is_not_taken() -> None:
    v = viewer()
    assert len(names(v, "-proj.a")) == 3
    assert len(names(v, "-proj.adx")) == 5  # typed on: more rows, not a subset of the last


@pytest.mark.parametrize(
    "query",
    [
        "-state:success",
        "state:failure|retry -bravo",
        "-proj.add",
        "add -worker:bravo",
        "name:*.a* retries>0",
        "-name:add|mul",
        "runtime<1 -state:started",
    ],
)
def test_fast_paths_agree_with_filterlang_itself(query: str) -> None:
    """Every shortcut of the viewer (plain words, -word, state sets) gives filterlang's answer."""
    from console.core.filterlang import compile_filter
    from console.core.taskview import _RowFields

    v = viewer()
    compiled = compile_filter(query, 0.0)
    want = sorted(u for u, r in v.rows.items() if compiled.matches(_RowFields(r)))
    got = sorted(r[0] for r in v.window(ViewSpec(query=query, limit=50)).rows)
    assert got == want
