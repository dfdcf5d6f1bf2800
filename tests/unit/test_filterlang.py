"""The task filter language (console/core/filterlang.py): grammar, matching, errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from console.core.filterlang import FilterError, compile_filter, parse_duration, parse_time

NOW = 1_800_000_000.0

TASKS = {
    "ok": {
        "id": "nightly-report-2026-12-03",
        "name": "proj.tasks.report",
        "state": "SUCCESS",
        "worker": "alpha@h1",
        "args": "[1, 2]",
        "kwargs": "{}",
        "result": "3",
        "exc": None,
        "queue": "celery",
        "received": NOW - 3600,
        "finished": NOW - 60,
        "runtime": 0.2,
        "retries": 0,
    },
    "failed": {
        "id": "5b1f0d0e-aaaa-bbbb-cccc-000000000001",
        "name": "proj.images.resize",
        "state": "FAILURE",
        "worker": "bravo@h2",
        "args": "['s3://bucket/a.png']",
        "kwargs": "{'width': 640}",
        "result": None,
        "exc": "TimeoutError: upstream took too long",
        "queue": "images",
        "received": NOW - 7200,
        "finished": NOW - 7000,
        "runtime": 12.5,
        "retries": 3,
    },
    "running": {
        "id": "c0ffee00-0000-0000-0000-000000000002",
        "name": "proj.images.upload",
        "state": "STARTED",
        "worker": "alpha@h1",
        "args": "[]",
        "kwargs": "{}",
        "result": None,
        "exc": None,
        "queue": "images",
        "received": NOW - 30,
        "finished": None,
        "runtime": None,
        "retries": 0,
    },
}


def matching(text: str) -> set[str]:
    f = compile_filter(text, NOW)
    return {key for key, task in TASKS.items() if f.matches(task)}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"ok", "failed", "running"}),
        ("resize", {"failed"}),
        ("RESIZE", {"failed"}),
        ("alpha", {"ok", "running"}),
        ("images alpha", {"running"}),
        ("-alpha", {"failed"}),
        ("state:failure", {"failed"}),
        ("state:failure|started", {"failed", "running"}),
        ("-state:success", {"failed", "running"}),
        ("name:resize|upload", {"failed", "running"}),
        ("name:*.resize", {"failed"}),
        ("name:proj.*", {"ok", "failed", "running"}),
        ("name:resize*", set()),  # a glob is over the whole field
        ("worker:bravo", {"failed"}),
        ("id:nightly-report", {"ok"}),
        ("exc:timeout", {"failed"}),
        ("result:3", {"ok"}),
        ("queue:images", {"failed", "running"}),
        ("kwargs:width", {"failed"}),
        ('args:"s3://bucket"', {"failed"}),
        ("runtime>5s", {"failed"}),
        ("runtime>5", {"failed"}),
        ("runtime<=200ms", {"ok"}),
        ("runtime>1m", set()),
        ("retries>0", {"failed"}),
        ("retries:0", {"ok", "running"}),
        ("since:10m", {"ok", "running"}),
        ("since:1h", {"ok", "running"}),
        ("until:1h", {"failed"}),
        ("since:3h until:1h", {"failed"}),
        ("-since:10m", {"failed"}),
        ("resize|report", {"ok", "failed"}),
    ],
)
def test_queries_match(query: str, expected: set[str]) -> None:
    assert matching(query) == expected


def test_iso_time_bounds() -> None:
    iso = datetime.fromtimestamp(NOW - 100, UTC).isoformat()
    assert matching(f"since:{iso}") == {"ok", "running"}
    assert matching(f"until:{iso}") == {"failed"}


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("result3:x", "unknown field 'result3'"),
        ("status:FAILURE", "unknown field 'status'"),
        ("state:FAILED", "unknown state 'FAILED'"),
        ("runtime>fast", "bad number 'fast'"),
        ("retries>1.5", "bad number '1.5'"),
        ("since:yesterday", "bad time 'yesterday'"),
        ("since>10m", "since takes ':'"),
        ("name>x", "takes ':'"),
        ("name:", "no value after name:"),
        ('name:"abc', "unclosed quote"),
        ("-", "nothing after '-'"),
    ],
)
def test_bad_queries_are_errors(query: str, fragment: str) -> None:
    with pytest.raises(FilterError) as info:
        compile_filter(query, NOW)
    assert fragment in info.value.message
    assert "\n" not in info.value.message


def test_unknown_field_is_a_usage_error_exit_2() -> None:
    with pytest.raises(FilterError) as info:
        compile_filter("result:3 bogus:1", NOW)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30.0), ("30s", 30.0), ("10m", 600.0), ("1h30m", 5400.0), ("2d", 172800.0),
     ("500ms", 0.5), ("1w", 604800.0)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "10x", "-5", "1h 30m", "m10"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_parse_time_naive_iso_is_local_time() -> None:
    naive = "2026-12-03T08:00:00"
    expected = datetime.fromisoformat(naive).astimezone().timestamp()
    assert parse_time(naive, NOW) == expected
    assert parse_time("10m", NOW) == NOW - 600
