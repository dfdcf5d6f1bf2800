"""Recovering a task's call from event reprs: exact or refused (console/core/resend.py)."""

from __future__ import annotations

import pytest

from console.core.errors import UsageError
from console.core.resend import literal_arguments, parse_json_args


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        ("(1, 2)", "{}", ([1, 2], {})),
        ("[1, 'a', None, True, 2.5]", "{'x': [1, 2], 'y': {'z': b'q'}}",
         ([1, "a", None, True, 2.5], {"x": [1, 2], "y": {"z": b"q"}})),
        ("()", "{'url': 's3://bucket/a.png'}", ([], {"url": "s3://bucket/a.png"})),
    ],
)  # fmt: skip
def test_literal_reprs_are_recovered_exactly(args, kwargs, expected) -> None:
    assert literal_arguments(args, kwargs) == expected


@pytest.mark.parametrize(
    ("args", "kwargs", "fragment"),
    [
        ("(1, 2, ...)", "{}", "cut by Celery's saferepr"),
        ("('aaaa…',)", "{}", "cut by Celery's saferepr"),
        ("(datetime.datetime(2026, 1, 1),)", "{}", "is not a literal"),
        ("(<object at 0x1>,)", "{}", "is not a literal"),
        ("__import__('os').system('id')", "{}", "is not a literal"),
        ("{'a': 1}", "{}", "list expected"),
        ("()", "[]", "dict expected"),
        (None, "{}", "no list text"),
    ],
)
def test_inexact_reprs_are_refused(args, kwargs, fragment) -> None:
    with pytest.raises(ValueError) as info:
        literal_arguments(args, kwargs)
    assert fragment in str(info.value)


def test_json_arguments() -> None:
    assert parse_json_args('[1, "a"]', '{"k": null}') == ([1, "a"], {"k": None})
    assert parse_json_args(None, "  ") == ([], {})
    for args, kwargs in (("[1", None), ("{}", None), (None, "[]")):
        with pytest.raises(UsageError):
            parse_json_args(args, kwargs)
