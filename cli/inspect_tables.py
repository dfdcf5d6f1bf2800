"""Human tables for ``ctl inspect`` (the ``--json`` document is Celery's, untouched).

Task lists show clock times in the terminal's zone (named in the column
header) and how long each task has run; ``stats``, ``registered``,
``active-queues``, ``conf`` and ``revoked`` get one readable table each.
Every cell is inert and capped (:func:`cli.output.capped`): a worker's reply
is data, not markup, and a 20 MB reply must not take a minute to lay out.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from cli.output import capped, cell_text, out_console
from console.core.sanitize import inert

TASK_LIST_METHODS = {"active", "reserved", "scheduled", "query-task", "query_task"}
TABLE_METHODS = {"stats", "registered", "active-queues", "active_queues", "conf", "revoked"}
#: rows one table shows at most (the rest is counted, --json has them)
ROW_LIMIT = 2000


def zone_name(now: float | None = None) -> str:
    """The local zone's abbreviation (``UTC``, ``CET``...)."""
    return datetime.fromtimestamp(time.time() if now is None else now).astimezone().strftime("%Z")


def clock(ts: Any, now: float | None = None) -> str:
    """Epoch seconds as a local clock time; the date too when it is not today."""
    try:
        value = float(ts)
    except (TypeError, ValueError):
        return cell_text(ts)
    if not value or value != value or value in (float("inf"), float("-inf")):
        return ""
    try:
        when = datetime.fromtimestamp(value).astimezone()
    except (OverflowError, OSError, ValueError):
        return cell_text(ts)
    today = datetime.fromtimestamp(time.time() if now is None else now).astimezone().date()
    return when.strftime("%H:%M:%S" if when.date() == today else "%Y-%m-%d %H:%M:%S")


def duration(seconds: float) -> str:
    """``0.4s``, ``12s``, ``3m 05s``, ``2h 01m``, ``3d 4h``."""
    if seconds < 0:
        return ""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def _eta_epoch(eta: Any) -> float | None:
    if not isinstance(eta, str) or not eta:
        return None
    try:
        when = datetime.fromisoformat(eta)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return when.timestamp()


def task_rows(method: str, replies: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(worker, eta, request) for every task in a task-listing reply."""
    rows: list[tuple[str, str, dict[str, Any]]] = []
    for host in sorted(replies):
        reply = replies[host]
        if method in ("query-task", "query_task") and isinstance(reply, dict):
            for tid, value in reply.items():
                state, req = (value + [None, None])[:2] if isinstance(value, list) else ("", value)
                req = req if isinstance(req, dict) else {"id": tid}
                rows.append((host, str(state or ""), req))
        elif isinstance(reply, list):
            for item in reply:
                if not isinstance(item, dict):
                    continue
                if method == "scheduled":
                    req = r if isinstance(r := item.get("request"), dict) else {}
                    rows.append((host, str(item.get("eta") or ""), req))
                else:
                    rows.append((host, "", item))
    return rows


def _table(*columns: str) -> Table:
    table = Table()
    for name in columns:
        table.add_column(name, overflow="fold")
    return table


def _more(console: Any, shown: int, total: int, what: str) -> None:
    if total > shown:
        console.print(f"{total - shown} more {what} not shown; --json for all")


def render_tasks(method: str, replies: dict[str, Any], now: float | None = None) -> None:
    console = out_console()
    now = time.time() if now is None else now
    zone = zone_name(now)
    rows = task_rows(method, replies)
    if method == "scheduled":
        table = _table("worker", "task id", "name", "args", "kwargs", f"eta ({zone})", "in")
    elif method in ("query-task", "query_task"):
        table = _table("worker", "task id", "name", "state", f"started ({zone})", "runtime")
    else:
        table = _table(
            "worker", "task id", "name", "args", "kwargs", f"started ({zone})", "runtime", "pid"
        )
    for host, extra, req in rows[:ROW_LIMIT]:
        name = req.get("name") or req.get("type")
        started = req.get("time_start")
        try:
            ran = duration(now - float(started)) if started else ""
        except (TypeError, ValueError):
            ran = ""
        if method == "scheduled":
            eta = _eta_epoch(extra)
            table.add_row(
                inert(host),
                capped(req.get("id"), 200),
                capped(name, 500),
                capped(req.get("args")),
                capped(req.get("kwargs")),
                Text(clock(eta, now)) if eta is not None else capped(extra, 200),
                Text(duration(eta - now)) if eta is not None and eta >= now else Text("due"),
            )
        elif method in ("query-task", "query_task"):
            table.add_row(
                inert(host),
                capped(req.get("id"), 200),
                capped(name, 500),
                capped(extra, 200),
                Text(clock(started, now)) if started else Text(""),
                Text(ran),
            )
        else:
            table.add_row(
                inert(host),
                capped(req.get("id"), 200),
                capped(name, 500),
                capped(req.get("args")),
                capped(req.get("kwargs")),
                Text(clock(started, now)) if started else Text("not started"),
                Text(ran),
                capped(req.get("worker_pid"), 40),
            )
    if rows:
        console.print(table)
        _more(console, min(len(rows), ROW_LIMIT), len(rows), "task(s)")
    for host in sorted(replies):
        count = sum(1 for h, _, _ in rows if h == host)
        line = inert(host, oneline=True)
        line.append(f": {count} task(s)")
        console.print(line)
    console.print(f"{len(rows)} task(s) on {len(replies)} worker(s)")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _stats_row(host: str, reply: Any, now: float) -> list[Text]:
    if not isinstance(reply, dict):
        return [inert(host), capped(reply), *[Text("")] * 7]
    pool = _dict(reply.get("pool"))
    impl = str(pool.get("implementation") or "")
    kind = impl.split(":", 1)[0].rsplit(".", 1)[-1]  # celery.concurrency.prefork:TaskPool
    procs = pool.get("processes")
    concurrency = pool.get("max-concurrency")
    done = sum(v for v in _dict(reply.get("total")).values() if isinstance(v, int))
    rss = _dict(reply.get("rusage")).get("maxrss")
    broker = _dict(reply.get("broker"))
    where = ""
    if broker:
        where = (
            f"{broker.get('transport', '')}://{broker.get('hostname', '')}:"
            f"{broker.get('port', '')}/{broker.get('virtual_host', '')}"
        )
    uptime = reply.get("uptime")
    return [
        inert(host),
        capped(reply.get("pid"), 20),
        Text(duration(float(uptime)) if isinstance(uptime, int | float) else ""),
        capped(f"{kind} x{concurrency}" if concurrency is not None else kind, 100),
        Text(str(len(procs)) if isinstance(procs, list) else ""),
        capped(reply.get("prefetch_count"), 20),
        Text(str(done)),
        Text(f"{rss / 1024:.0f} MB" if isinstance(rss, int | float) else ""),
        capped(where, 300),
    ]


def render_stats(replies: dict[str, Any], now: float | None = None) -> None:
    console = out_console()
    now = time.time() if now is None else now
    table = _table(
        "worker", "pid", "uptime", "pool", "procs", "prefetch", "tasks done", "max rss", "broker"
    )
    for host in sorted(replies):
        table.add_row(*_stats_row(host, replies[host], now))
    console.print(table)
    per_task: dict[str, dict[str, int]] = {}
    for host in sorted(replies):
        reply = replies[host]
        total = reply.get("total") if isinstance(reply, dict) else None
        if isinstance(total, dict):
            for name, count in total.items():
                per_task.setdefault(str(name), {})[host] = count if isinstance(count, int) else 0
    if per_task:
        hosts = sorted(replies)
        tasks = _table("task", *hosts)
        names = sorted(per_task)
        for name in names[:ROW_LIMIT]:
            tasks.add_row(capped(name, 500), *[Text(str(per_task[name].get(h, 0))) for h in hosts])
        console.print(tasks)
        _more(console, min(len(names), ROW_LIMIT), len(names), "task name(s)")


def render_registered(replies: dict[str, Any]) -> None:
    console = out_console()
    hosts = sorted(replies)
    by_task: dict[str, list[str]] = {}
    for host in hosts:
        reply = replies[host]
        for item in reply if isinstance(reply, list) else []:
            by_task.setdefault(cell_text(item), []).append(host)
    table = _table("task", "workers")
    names = sorted(by_task)
    for name in names[:ROW_LIMIT]:
        on = by_task[name]
        label = "all" if len(on) == len(hosts) and len(hosts) > 1 else ", ".join(on)
        table.add_row(capped(name, 500), capped(label, 2000))
    console.print(table)
    _more(console, min(len(names), ROW_LIMIT), len(names), "task name(s)")
    footer = Text(f"{len(names)} task type(s) on {len(hosts)} worker(s): ")
    footer.append_text(capped(", ".join(hosts), 2000))
    console.print(footer)


def render_active_queues(replies: dict[str, Any]) -> None:
    console = out_console()
    table = _table("worker", "queue", "exchange", "type", "routing key", "durable", "options")
    rows = 0
    for host in sorted(replies):
        reply = replies[host]
        for queue in reply if isinstance(reply, list) else []:
            rows += 1
            if rows > ROW_LIMIT:
                continue
            if not isinstance(queue, dict):
                table.add_row(inert(host), capped(queue), *[Text("")] * 5)
                continue
            exchange = _dict(queue.get("exchange"))
            options = {
                k: queue[k]
                for k in (
                    "max_priority",
                    "message_ttl",
                    "expires",
                    "max_length",
                    "queue_arguments",
                    "exclusive",
                    "auto_delete",
                )
                if queue.get(k)
            }
            table.add_row(
                inert(host),
                capped(queue.get("name"), 500),
                capped(exchange.get("name"), 500),
                capped(exchange.get("type"), 50),
                capped(queue.get("routing_key"), 500),
                Text("yes" if queue.get("durable") else "no"),
                capped(options or "", 1000),
            )
    console.print(table)
    _more(console, min(rows, ROW_LIMIT), rows, "queue(s)")


def render_conf(replies: dict[str, Any]) -> None:
    console = out_console()
    for host in sorted(replies):
        reply = replies[host]
        header = Text("-> ", style="bold")
        header.append_text(inert(host, oneline=True))
        console.print(header)
        if not isinstance(reply, dict):
            console.print(capped(reply))
            continue
        table = _table("setting", "value")
        keys = sorted(reply, key=str)
        for key in keys[:ROW_LIMIT]:
            table.add_row(capped(key, 200), capped(reply[key]))
        console.print(table)
        _more(console, min(len(keys), ROW_LIMIT), len(keys), "setting(s)")


def render_revoked(replies: dict[str, Any]) -> None:
    console = out_console()
    table = _table("worker", "revoked task id")
    rows = 0
    for host in sorted(replies):
        reply = replies[host]
        for tid in reply if isinstance(reply, list) else []:
            rows += 1
            if rows <= ROW_LIMIT:
                table.add_row(inert(host), capped(tid, 200))
    if rows:
        console.print(table)
        _more(console, min(rows, ROW_LIMIT), rows, "id(s)")
    for host in sorted(replies):
        reply = replies[host]
        count = len(reply) if isinstance(reply, list) else 0
        line = inert(host, oneline=True)
        line.append(f": {count} revoked")
        console.print(line)


def render_table(method: str, replies: dict[str, Any]) -> None:
    """The readable table of ``method`` (one of :data:`TABLE_METHODS`)."""
    if method == "stats":
        render_stats(replies)
    elif method == "registered":
        render_registered(replies)
    elif method in ("active-queues", "active_queues"):
        render_active_queues(replies)
    elif method == "conf":
        render_conf(replies)
    else:
        render_revoked(replies)
