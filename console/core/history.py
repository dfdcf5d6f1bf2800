"""Task history from the result backend: the newest finished tasks that match a query.

The result backend holds the durable record of every finished task (until
``result_expires`` removes it); Celery only reads it one id at a time.  This
module lists it as a whole, read-only and bounded:

* **Redis** (and ``rediss://``): ``SCAN`` over ``celery-task-meta-*`` in
  batches with pipelined ``MGET`` -- never ``KEYS``, never a write.  Redis
  keeps no order, so every key (up to ``scan_limit``, within ``budget``
  seconds) is read and the newest ``limit`` matches kept in a heap.
* **Database** (``db+sqlite://``, ``db+postgresql://``, ...): one ``SELECT``
  on Celery's task table through SQLAlchemy (reflected: no ``create_all``,
  no write), state and time pushed into SQL, newest first, streamed.

Every other backend (``rpc://`` sends results only to the caller; ``cache``,
``s3``, ...) is refused with :class:`UnlistableBackend` (exit 2) naming it.
A scan that stopped early says so (:attr:`History.stopped`, ``scanned`` of
``total``).  Values are capped (:data:`VALUE_CAP`) with the size that was cut.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

import orjson

from .errors import EXIT_USAGE, BackendUnreachable, CtlError
from .filterlang import TaskFilter
from .results import child_ids
from .sanitize import mask_url

if TYPE_CHECKING:
    from .settings import ClusterSettings

VALUE_CAP = 4_096  # characters of a result / args / traceback kept per task
SCAN_BATCH = 1_000
DEFAULT_SCAN_LIMIT = 200_000
DEFAULT_BUDGET = 20.0


class UnlistableBackend(CtlError):
    """The result backend cannot be listed (exit 2, names the backend)."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class HistoryQuery:
    states: frozenset[str] | None = None
    name: str | None = None  # glob (no wildcard: exact name)
    worker: str | None = None  # glob (no wildcard: exact hostname)
    since: float | None = None  # epoch seconds, on date_done
    until: float | None = None
    limit: int = 50
    scan_limit: int = DEFAULT_SCAN_LIMIT
    budget: float = DEFAULT_BUDGET  # seconds
    filter: TaskFilter | None = None


@dataclass
class History:
    tasks: list[dict[str, Any]] = field(default_factory=list)  # newest first
    matched: int = 0  # matches among the records read (>= len(tasks))
    scanned: int = 0  # records read
    total: int | None = None  # records (DB) or keys in the db (Redis) the backend holds
    stopped: str | None = None  # None: read everything; "scan limit" / "time budget"
    backend: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks,
            "matched": self.matched,
            "scanned": self.scanned,
            "total": self.total,
            "complete": self.stopped is None,
            "stopped": self.stopped,
            "backend": self.backend,
        }


# -- one record ----------------------------------------------------------------
def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    if when.tzinfo is None:  # Celery stores UTC
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _capped(value: Any) -> tuple[Any, int]:
    """``value`` if its JSON text fits :data:`VALUE_CAP`, else a cut text; (value, chars cut)."""
    if value is None or isinstance(value, bool | int | float):
        return value, 0
    if isinstance(value, str):
        text = value
        if len(text) <= VALUE_CAP:
            return value, 0
    else:
        try:
            text = orjson.dumps(value, default=repr).decode()
        except (TypeError, orjson.JSONEncodeError):
            text = repr(value)
        if len(text) <= VALUE_CAP:
            return value, 0
    return text[:VALUE_CAP], len(text) - VALUE_CAP


def _exception(meta: Mapping[str, Any]) -> dict[str, Any] | None:
    result = meta.get("result")
    if isinstance(result, Mapping) and "exc_type" in result:
        message = result.get("exc_message")
        if isinstance(message, list | tuple):
            message = ", ".join(str(m) for m in message)
        return {"type": str(result.get("exc_type")), "message": str(message or "")}
    return None


def task_record(meta: Mapping[str, Any], done: float | None) -> dict[str, Any]:
    """The JSON-able record of one stored task meta (values capped)."""
    out: dict[str, Any] = {
        "id": meta.get("task_id"),
        "state": meta.get("status"),
        "name": meta.get("name"),
        "worker": meta.get("worker"),
        "queue": meta.get("queue"),
        "retries": meta.get("retries"),
        "date_done": _iso(done),
        "parent_id": meta.get("parent_id"),
        "group_id": meta.get("group_id"),
        "children": [c["id"] for c in child_ids(meta.get("children"))],
        "exception": _exception(meta),
    }
    cut: dict[str, int] = {}
    for key in ("args", "kwargs", "result", "traceback"):
        value, lost = _capped(meta.get(key))
        out[key] = value
        if lost:
            cut[key] = lost
    out["truncated"] = cut or None
    return out


def _filter_view(meta: Mapping[str, Any], done: float | None) -> dict[str, Any]:
    """The fields the filter language tests, from a stored meta."""
    exc = _exception(meta)
    return {
        "id": meta.get("task_id"),
        "name": meta.get("name"),
        "state": meta.get("status"),
        "worker": meta.get("worker"),
        "args": meta.get("args"),
        "kwargs": meta.get("kwargs"),
        "result": None if exc else meta.get("result"),
        "exc": f"{exc['type']}: {exc['message']}" if exc else None,
        "queue": meta.get("queue"),
        "finished": done,
        "received": None,
        "runtime": None,
        "retries": meta.get("retries"),
    }


def _glob(pattern: str | None, value: Any) -> bool:
    if pattern is None:
        return True
    return value is not None and fnmatchcase(str(value), pattern)


class _Collector:
    """Keeps the newest ``limit`` matches of a stream of metas."""

    def __init__(self, query: HistoryQuery) -> None:
        self.q = query
        self.heap: list[tuple[float, int, dict[str, Any]]] = []
        self.matched = 0
        self._n = 0

    def offer(self, meta: Mapping[str, Any]) -> None:
        q = self.q
        state = meta.get("status")
        if q.states is not None and state not in q.states:
            return
        if not _glob(q.name, meta.get("name")) or not _glob(q.worker, meta.get("worker")):
            return
        done = _epoch(meta.get("date_done"))
        if q.since is not None and (done is None or done < q.since):
            return
        if q.until is not None and (done is None or done > q.until):
            return
        if q.filter is not None and not q.filter.matches(_filter_view(meta, done)):
            return
        self.matched += 1
        self._n += 1
        key = (done if done is not None else float("-inf"), -self._n)
        if len(self.heap) < q.limit:
            heapq.heappush(self.heap, (*key, task_record(meta, done)))
        elif key > self.heap[0][:2]:  # the record is built only when it is kept
            heapq.heapreplace(self.heap, (*key, task_record(meta, done)))

    def newest(self) -> list[dict[str, Any]]:
        return [rec for _, _, rec in sorted(self.heap, key=lambda i: i[:2], reverse=True)]


# -- Redis -------------------------------------------------------------------
def _redis_metas(backend: Any, query: HistoryQuery, hist: History) -> Iterator[Mapping[str, Any]]:
    client = backend.client
    prefix = backend.task_keyprefix
    prefix = prefix.decode() if isinstance(prefix, bytes) else str(prefix)
    try:
        hist.total = int(client.dbsize())
    except Exception:
        hist.total = None
    fast = getattr(backend, "serializer", "json") == "json"
    deadline = time.monotonic() + query.budget
    seen: set[bytes] = set()
    cursor: int | str = 0
    while True:
        cursor, keys = client.scan(cursor=cursor, match=f"{prefix}*", count=SCAN_BATCH)
        fresh = [k for k in keys if k not in seen]
        seen.update(fresh)
        room = query.scan_limit - hist.scanned
        if len(fresh) > room:
            fresh = fresh[:room]
        if fresh:
            pipe = client.pipeline(transaction=False)
            for i in range(0, len(fresh), 250):
                pipe.mget(fresh[i : i + 250])
            for values in pipe.execute():
                for raw in values:
                    if raw is None:
                        continue  # expired between SCAN and MGET
                    hist.scanned += 1
                    meta = _decode_redis(backend, raw, fast)
                    if meta is not None:
                        yield meta
        if int(cursor) == 0:
            return
        if hist.scanned >= query.scan_limit:
            hist.stopped = "scan limit"
            return
        if time.monotonic() > deadline:
            hist.stopped = "time budget"
            return


def _decode_redis(backend: Any, raw: bytes, fast: bool) -> Mapping[str, Any] | None:
    meta: Any = None
    if fast:
        try:
            meta = orjson.loads(raw)
        except orjson.JSONDecodeError:
            meta = None
    if meta is None:
        try:
            meta = backend.decode(raw)
        except Exception:
            return None
    return meta if isinstance(meta, dict) else None


# -- database ------------------------------------------------------------------
def _like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _db_metas(backend: Any, query: HistoryQuery, hist: History) -> Iterator[Mapping[str, Any]]:
    import sqlalchemy as sa

    conf = backend.app.conf
    name = (conf.database_table_names or {}).get("task") or "celery_taskmeta"
    schema = (conf.database_table_schemas or {}).get("task")
    engine = sa.create_engine(backend.url, **dict(backend.engine_options or {}))
    try:
        with engine.connect() as conn:
            try:
                table = sa.Table(name, sa.MetaData(), schema=schema, autoload_with=conn)
            except sa.exc.NoSuchTableError:
                hist.total = 0
                return  # no task ever stored a result here
            cols = table.c
            where: list[Any] = []
            if query.states is not None:
                where.append(cols.status.in_(sorted(query.states)))
            if query.since is not None:
                where.append(cols.date_done >= _naive_utc(query.since))
            if query.until is not None:
                where.append(cols.date_done <= _naive_utc(query.until))
            for col, pattern in (("name", query.name), ("worker", query.worker)):
                if pattern is not None and col in cols:
                    where.append(cols[col].like(_like(pattern), escape="\\"))
                elif pattern is not None:
                    return  # not result_extended: nothing can match a name / worker
            hist.total = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            stmt = (
                sa.select(table)
                .where(*where)
                .order_by(cols.date_done.desc(), cols.id.desc())
                .limit(query.scan_limit)
            )
            deadline = time.monotonic() + query.budget
            result = conn.execution_options(stream_results=True, yield_per=SCAN_BATCH)
            for row in result.execute(stmt):
                hist.scanned += 1
                yield _db_meta(backend, dict(row._mapping))
                if hist.scanned % SCAN_BATCH == 0 and time.monotonic() > deadline:
                    hist.stopped = "time budget"
                    return
            if hist.scanned >= query.scan_limit and (hist.total or 0) > hist.scanned:
                hist.stopped = "scan limit"
    finally:
        engine.dispose()


def _naive_utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


def _db_meta(backend: Any, row: Mapping[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "task_id": row.get("task_id"),
        "status": row.get("status"),
        "date_done": row.get("date_done"),
        "traceback": row.get("traceback"),
    }
    decode_result = getattr(backend, "_decode_stored_result", backend.decode)
    for key, decode in (
        ("result", decode_result),
        ("children", backend.decode),
        ("args", backend.decode),
        ("kwargs", backend.decode),
    ):
        raw = row.get(key)
        if raw is None:
            continue
        try:
            meta[key] = decode(raw)
        except Exception:
            meta[key] = f"<undecodable {len(raw)} bytes>"
    for key in ("name", "worker", "retries", "queue"):
        if key in row:
            meta[key] = row[key]
    return meta


# -- entry point ---------------------------------------------------------------
def _source(backend: Any) -> Any:
    from celery.backends.database import DatabaseBackend
    from celery.backends.redis import RedisBackend

    if isinstance(backend, RedisBackend):
        return _redis_metas
    if isinstance(backend, DatabaseBackend):
        return _db_metas
    return None


def list_history(
    settings: ClusterSettings,
    query: HistoryQuery,
    progress: Callable[[History], None] | None = None,
) -> History:
    """The newest ``query.limit`` stored tasks matching ``query`` (read-only, bounded).

    ``progress(hist)`` is called every :data:`SCAN_BATCH` records read (the console's
    progress line: ``hist.scanned`` of ``hist.total``)."""
    url = settings.effective_backend_url
    hist = History(backend=mask_url(url))
    if not url:
        raise UnlistableBackend(
            "no result backend configured (use --result-backend or CELERY_RESULT_BACKEND)"
        )
    try:
        backend = settings.app.backend
    except Exception as exc:
        raise UnlistableBackend(
            settings.scrub(f"cannot load result backend {hist.backend}: {exc}")
        ) from None
    source = _source(backend)
    if source is None:
        scheme = url.split(":", 1)[0]
        why = (
            "rpc:// sends each result only to the client that sent the task"
            if scheme == "rpc"
            else f"{type(backend).__name__} has no listing"
        )
        raise UnlistableBackend(
            f"cannot list tasks of a {scheme}:// result backend ({why}); "
            "ctl tasks reads Redis and database (db+...) backends"
        )
    collector = _Collector(query)
    try:
        for meta in source(backend, query, hist):
            collector.offer(meta)
            if progress is not None and hist.scanned % SCAN_BATCH == 0:
                progress(hist)
    except CtlError:
        raise
    except Exception as exc:
        if _is_connection_error(exc):
            raise BackendUnreachable(
                settings.scrub(f"result backend {hist.backend} unreachable: {exc}")
            ) from None
        raise
    hist.tasks = collector.newest()
    hist.matched = collector.matched
    return hist


def _is_connection_error(exc: BaseException) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {"ConnectionError", "TimeoutError", "OperationalError", "OSError"}:
        return True
    return False


def iter_states(values: Iterable[str]) -> frozenset[str]:
    """Upper-cased state names (raises UsageError-like FilterError on an unknown one)."""
    from .filterlang import STATES, FilterError

    out = set()
    for value in values:
        for part in value.split(","):
            state = part.strip().upper()
            if not state:
                continue
            if state not in STATES:
                raise FilterError(f"unknown state {part!r} (one of {', '.join(STATES)})")
            out.add(state)
    return frozenset(out)
