"""Record and replay the raw event stream.

Format: JSON lines, one raw Celery event dict per line exactly as received
(``type``, ``timestamp``, ``clock``, ``hostname``, ``uuid`` ...).  A file whose
name ends in ``.gz`` is gzip-compressed.  Broker URLs and passwords are never
written: the recorder writes only events, and masks any secret it was told
about (``secrets=``) should one appear inside an event (e.g. in task args).

Replay honours the original timing (``timestamp`` deltas) divided by
``speed``; ``speed=0`` or ``inf`` replays as fast as possible.  Malformed
lines (bad JSON, not an event, a truncated gzip tail) are counted and skipped.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

__all__ = ["Recorder", "RecordingReader", "dump_event", "is_event", "read_events"]

_OPT = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
#: JSON nesting kept when an event cannot be serialized as it is (orjson stops at 255)
MAX_DEPTH = 64
TRUNCATED_KEY = "ctl_truncated"
TOO_DEEP = "(nested deeper than 64 levels: not shown)"


def _shrink(value: Any, depth: int) -> Any:
    """A JSON-able copy of ``value``: nesting cut at MAX_DEPTH, odd values as strings."""
    if isinstance(value, str | bool | float) or value is None:
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if depth >= MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, dict):
        return {
            (k if isinstance(k, str) else str(k)): _shrink(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_shrink(v, depth + 1) for v in value]
    return str(value)


def dump_event(event: dict[str, Any]) -> bytes:
    """One event as a JSON line; never raises.

    An event orjson cannot serialize (nesting deeper than it allows, integers
    beyond 64 bits) is written cut down and marked ``"ctl_truncated": true``.
    """
    try:
        return orjson.dumps(event, option=_OPT)
    except (orjson.JSONEncodeError, TypeError, RecursionError):
        shrunk = _shrink(event, 0)
        if not isinstance(shrunk, dict):
            shrunk = {"type": "unknown", "value": shrunk}
        shrunk[TRUNCATED_KEY] = True
        try:
            return orjson.dumps(shrunk, option=_OPT)
        except (orjson.JSONEncodeError, TypeError):  # pragma: no cover - shrunk is plain data
            return orjson.dumps({"type": str(event.get("type")), TRUNCATED_KEY: True}, option=_OPT)


def is_event(obj: Any) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("type"), str)


def _passwords(secrets: Iterable[str | None]) -> list[bytes]:
    out: list[bytes] = []
    for secret in secrets:
        if not secret:
            continue
        if "://" in secret:
            for part in secret.split(";"):
                try:
                    pw = urlsplit(part).password
                except ValueError:
                    pw = None
                for candidate in {pw, unquote(pw)} if pw else ():
                    if len(candidate) >= 3:
                        out.append(candidate.encode())
                        out.append(orjson.dumps(candidate)[1:-1])
        elif len(secret) >= 3:
            out.append(secret.encode())
    return sorted(set(out), key=len, reverse=True)


class Recorder:
    """Append raw events to a JSON-lines file (gzip when the name ends in ``.gz``)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        compress: bool | None = None,
        secrets: Iterable[str | None] = (),
        flush_every: float = 0.5,
    ) -> None:
        self.path = Path(path)
        self.compress = self.path.name.endswith(".gz") if compress is None else compress
        self._secrets = _passwords(secrets)
        self.count = 0
        self.flush_every = flush_every
        self._last_flush = time.monotonic()
        raw = open(self.path, "wb")
        self._raw = raw
        self._gzip = (
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0)
            if self.compress
            else None
        )
        self._fh: gzip.GzipFile | io.BufferedWriter = self._gzip or raw

    def _line(self, event: dict[str, Any]) -> bytes:
        line = dump_event(event)
        for secret in self._secrets:
            if secret in line:
                line = line.replace(secret, b"***")
        return line

    def write(self, event: dict[str, Any]) -> None:
        self._fh.write(self._line(event))
        self.count += 1
        self._maybe_flush()

    def write_batch(self, events: Iterable[dict[str, Any]]) -> None:
        lines = [self._line(ev) for ev in events]
        if lines:
            self._fh.write(b"".join(lines))
            self.count += len(lines)
            self._maybe_flush()

    def _maybe_flush(self) -> None:
        now = time.monotonic()
        if now - self._last_flush >= self.flush_every:
            self.flush()
            self._last_flush = now

    def flush(self) -> None:
        if self._gzip is not None:
            self._gzip.flush(zlib.Z_SYNC_FLUSH)
        self._raw.flush()

    def close(self) -> None:
        if self._gzip is not None:
            self._gzip.close()
        self._raw.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(path: str | os.PathLike[str]) -> gzip.GzipFile | io.BufferedReader:
    fh = open(path, "rb")
    magic = fh.read(2)
    fh.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh, mode="rb")
    return fh


class RecordingReader:
    """Iterate over the events of a recording, optionally in (scaled) real time.

    ``speed``: 1.0 = original pace, 2.0 = twice as fast, 0 or ``inf`` = no
    waiting.  ``max_gap``: cap (seconds of recording time) on any single wait,
    so an idle hour in a recording does not stall a replay.  ``malformed``
    counts the lines skipped.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        speed: float = 0.0,
        *,
        max_gap: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        if speed < 0 or math.isnan(speed):
            raise ValueError("speed must be >= 0")
        self.speed = speed
        self.max_gap = max_gap
        self._sleep = sleep
        self._monotonic = monotonic
        self.malformed = 0
        self.count = 0

    @property
    def realtime(self) -> bool:
        return bool(self.speed) and not math.isinf(self.speed)

    def raw_events(self) -> Iterator[dict[str, Any]]:
        """All events, no timing."""
        try:
            fh = _open(self.path)
        except OSError:
            raise
        with fh:
            reader = io.BufferedReader(fh) if not isinstance(fh, io.BufferedReader) else fh
            while True:
                try:
                    line = reader.readline()
                except (EOFError, OSError, zlib.error):
                    # truncated gzip (a recording still being written / cut off)
                    self.malformed += 1
                    return
                if not line:
                    return
                line = line.strip()
                if not line:
                    continue
                try:
                    obj = orjson.loads(line)
                except ValueError:
                    self.malformed += 1
                    continue
                if is_event(obj):
                    self.count += 1
                    yield obj
                else:
                    self.malformed += 1

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self.batches(max_batch=1):
            yield from batch

    def batches(
        self, max_batch: int = 5000, max_wait: float = 0.1, stop: Callable[[], bool] | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield lists of events that are due together (honouring timing).

        Waits are split into slices of at most ``max_wait`` seconds so that
        ``stop()`` is checked regularly.
        """
        batch: list[dict[str, Any]] = []
        if not self.realtime:
            for ev in self.raw_events():
                batch.append(ev)
                if len(batch) >= max_batch:
                    yield batch
                    batch = []
                    if stop and stop():
                        return
            if batch:
                yield batch
            return
        t0_wall = self._monotonic()
        t0_rec: float | None = None
        last_ts: float | None = None
        offset = 0.0  # recording seconds removed by max_gap
        for ev in self.raw_events():
            ts = ev.get("timestamp")
            if isinstance(ts, int | float) and math.isfinite(ts):
                if t0_rec is None:
                    t0_rec = last_ts = float(ts)
                assert last_ts is not None
                if ts > last_ts:
                    gap = ts - last_ts
                    if self.max_gap is not None and gap > self.max_gap:
                        offset += gap - self.max_gap
                    last_ts = float(ts)
                due = (last_ts - t0_rec - offset) / self.speed
                while True:
                    wait = due - (self._monotonic() - t0_wall)
                    if wait <= 0:
                        break
                    if batch:
                        yield batch
                        batch = []
                    if stop and stop():
                        return
                    self._sleep(min(wait, max_wait))
            batch.append(ev)
            if len(batch) >= max_batch:
                yield batch
                batch = []
                if stop and stop():
                    return
        if batch:
            yield batch


def read_events(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every event of a recording (malformed lines skipped)."""
    return list(RecordingReader(path).raw_events())
