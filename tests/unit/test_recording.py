"""Recording round trip (plain and gzip), malformed lines, timing, secrets."""

from __future__ import annotations

import gzip

import pytest

from console.core.recording import Recorder, RecordingReader, read_events

EVENTS = [
    {"type": "worker-online", "hostname": "w1@h", "timestamp": 100.0, "clock": 1, "freq": 2.0},
    {
        "type": "task-received",
        "uuid": "t1",
        "name": "proj.add",
        "args": "(1, 2)",
        "kwargs": "{}",
        "hostname": "w1@h",
        "timestamp": 100.5,
        "clock": 2,
    },
    {"type": "task-started", "uuid": "t1", "hostname": "w1@h", "timestamp": 101.0, "clock": 3},
    {
        "type": "task-succeeded",
        "uuid": "t1",
        "result": "3",
        "runtime": 0.4,
        "hostname": "w1@h",
        "timestamp": 101.5,
        "clock": 4,
        "args_markup": "[bold red]x[/] \x1b[31m \x1b]52;c;SGVsbG8=\x07 \u202e",
    },
]


@pytest.mark.parametrize("name", ["rec.jsonl", "rec.jsonl.gz"])
def test_round_trip(tmp_path, name):
    path = tmp_path / name
    with Recorder(path) as rec:
        rec.write(EVENTS[0])
        rec.write_batch(EVENTS[1:])
    assert rec.count == len(EVENTS)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == name.endswith(".gz")
    reader = RecordingReader(path)
    assert list(reader) == EVENTS
    assert reader.malformed == 0 and reader.count == len(EVENTS)


def test_one_event_per_line(tmp_path):
    path = tmp_path / "rec.jsonl"
    with Recorder(path) as rec:
        rec.write_batch(EVENTS)
    lines = path.read_text().splitlines()
    assert len(lines) == len(EVENTS)
    assert '"type":"task-received"' in lines[1]


def test_malformed_lines_are_counted_and_skipped(tmp_path):
    path = tmp_path / "bad.jsonl.gz"
    good = [
        b'{"type":"task-sent","uuid":"a","timestamp":1.0}',
        b'{"type":"task-received","uuid":"a","timestamp":2.0}',
    ]
    with gzip.open(path, "wb") as fh:
        fh.write(
            b"\n".join(
                [
                    good[0],
                    b"{not json",
                    b"[1,2,3]",
                    b'{"no_type":1}',
                    b"",
                    b"\xff\xfe garbage",
                    good[1],
                    b'"str"',
                ]
            )
            + b"\n"
        )
    reader = RecordingReader(path)
    events = list(reader)
    assert [e["uuid"] for e in events] == ["a", "a"]
    assert reader.malformed == 5


def test_truncated_gzip_yields_what_is_there(tmp_path):
    path = tmp_path / "cut.jsonl.gz"
    with Recorder(path) as rec:
        rec.write_batch([dict(EVENTS[1], uuid=f"t{i}") for i in range(2000)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    reader = RecordingReader(path)
    events = list(reader)
    assert 0 < len(events) < 2000
    assert reader.malformed >= 1


def test_secrets_never_written(tmp_path):
    path = tmp_path / "rec.jsonl"
    url = "redis://:s3cretpw@broker:6379/0"
    with Recorder(path, secrets=[url]) as rec:
        rec.write({"type": "task-received", "uuid": "x", "args": f"('{url}',)", "timestamp": 1.0})
    text = path.read_text()
    assert "s3cretpw" not in text
    assert "***" in text


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.parametrize(
    "speed,expected", [(1.0, 1.5), (2.0, 0.75), (0.0, 0.0), (float("inf"), 0.0)]
)
def test_timing_scaled_by_speed(tmp_path, speed, expected):
    path = tmp_path / "rec.jsonl"
    with Recorder(path) as rec:
        rec.write_batch(EVENTS)
    ft = FakeTime()
    reader = RecordingReader(path, speed=speed, sleep=ft.sleep, monotonic=ft.monotonic)
    seen = []
    for ev in reader:
        seen.append((ev["type"], round(ft.now, 6)))
    assert [t for t, _ in seen] == [e["type"] for e in EVENTS]
    assert seen[-1][1] == pytest.approx(expected)
    if speed == 1.0:
        assert [at for _, at in seen] == pytest.approx([0.0, 0.5, 1.0, 1.5])


def test_max_gap_caps_idle_periods(tmp_path):
    path = tmp_path / "rec.jsonl"
    with Recorder(path) as rec:
        rec.write_batch([{"type": "a", "timestamp": 0.0}, {"type": "b", "timestamp": 3600.0}])
    ft = FakeTime()
    list(RecordingReader(path, speed=1.0, max_gap=2.0, sleep=ft.sleep, monotonic=ft.monotonic))
    assert ft.now == pytest.approx(2.0)


def test_read_events_and_negative_speed(tmp_path):
    path = tmp_path / "rec.jsonl"
    with Recorder(path) as rec:
        rec.write_batch(EVENTS)
    assert read_events(path) == EVENTS
    with pytest.raises(ValueError):
        RecordingReader(path, speed=-1)
