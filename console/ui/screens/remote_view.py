"""Active / Reserved / Scheduled / Revoked: remote-control views, per worker.

Refreshed every ``poll_interval`` seconds while visible and on demand
(``r``).  Polls never overlap: the next one is scheduled only after the
previous answer arrived.  The bar shows when the last answer came and which
workers did not answer.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ..fmt import cell, clock_time
from ..messages import RemoteAnswer
from ..model import W_STATUS
from ..widgets.table_widths import settle_widths
from .base import PolledScreen

TITLES = {
    "active": "Active",
    "reserved": "Reserved",
    "scheduled": "Scheduled",
    "revoked": "Revoked",
}


def _args(req: dict[str, Any]) -> str:
    args, kwargs = req.get("args"), req.get("kwargs")
    parts = []
    if args not in (None, [], (), "()", "[]"):
        parts.append(str(args))
    if kwargs not in (None, {}, "{}"):
        parts.append(str(kwargs))
    return " ".join(parts)


def eta_text(eta: Any, now: float | None = None) -> str:
    """``09:04:53 (in 5.0s)`` from an ISO-8601 ETA; the raw value if it does not parse."""
    import datetime as _dt

    from ..fmt import duration

    try:
        when = _dt.datetime.fromisoformat(str(eta))
    except (TypeError, ValueError):
        return str(eta or "-")
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    ts = when.timestamp()
    text = clock_time(ts)
    if now is not None:
        text += f" (in {duration(ts - now)})" if ts > now else " (due)"
    return text


def rows_of(
    kind: str, replies: dict[str, Any], now: float | None = None, short_ids: bool = False
) -> list[tuple[str, str, tuple[Any, ...]]]:
    """(row key, task id, cells) for each entry of each worker's reply (ids cut to 8 when narrow)."""

    def tid_cell(tid: str) -> Text:
        return cell(tid[:8] + "…" if short_ids and len(tid) > 9 else tid, 40)

    out: list[tuple[str, str, tuple[Any, ...]]] = []
    for host in sorted(replies):
        items = replies[host]
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if kind == "revoked":
                tid = str(item)
                cells: tuple[Any, ...] = (
                    cell(host, 60),
                    tid_cell(tid),
                    Text(""),
                    Text(""),
                    Text(""),
                )
            else:
                if not isinstance(item, dict):
                    continue
                req = item.get("request", item) if kind == "scheduled" else item
                if not isinstance(req, dict):
                    continue
                tid = str(req.get("id") or "")
                if kind == "scheduled":
                    extra = f"eta {eta_text(item.get('eta'), now)} prio {item.get('priority', '-')}"
                elif kind == "active":
                    extra = f"started {clock_time(req.get('time_start'))}"
                else:
                    extra = "acked" if req.get("acknowledged") else "prefetched"
                cells = (
                    cell(host, 60),
                    tid_cell(tid),
                    cell(req.get("name"), 80),
                    cell(extra, 60),
                    cell(_args(req), 200, style="dim"),
                )
            out.append((f"{host}\x00{tid}\x00{i}", tid, cells))
    return out


class RemoteViewScreen(PolledScreen):
    BINDINGS = [
        Binding("r", "refresh", "Refresh", id="remote.refresh", tooltip="ask the workers now"),
        Binding("enter", "detail", "Detail", id="remote.detail"),
        Binding("x", "do_revoke", "Revoke", id="remote.revoke"),
        Binding("X", "do_terminate", "Terminate", id="remote.terminate"),
    ]
    DEFAULT_CSS = """
    RemoteViewScreen DataTable { height: 1fr; }
    RemoteViewScreen .remote-bar { height: 1; background: $boost; padding: 0 1; }
    """

    def __init__(self, kind: str) -> None:
        super().__init__(name=kind)
        self.kind = kind
        self.MODE = kind
        self.answer_at: float | None = None
        self.missing: list[str] = []
        self.count = 0
        self._ids: dict[str, str] = {}
        self._names: dict[str, str] = {}  # row key -> task name as the worker reported it

    def compose_body(self) -> ComposeResult:
        yield Static(
            Text(f"{TITLES[self.kind]}: asking the workers …"),
            classes="remote-bar",
            id="remote-bar",
        )
        table: DataTable[Any] = DataTable(id="remote-table", cursor_type="row")
        table.add_columns(
            "WORKER", "ID", "NAME", "INFO" if self.kind != "scheduled" else "ETA", "ARGS"
        )
        yield table

    def start_poll(self) -> None:
        self._update_bar()  # "asking …"
        self._poll(self.capp.remote)

    @work(thread=True, exclusive=True, exit_on_error=False, group="remote-poll")
    def _poll(self, remote: Any) -> None:
        try:
            result, error = remote.inspect(self.kind, timeout=1.0), None
        except Exception as exc:
            result, error = None, self.capp.error_text(exc)
        self.post_message(RemoteAnswer(self.kind, result, error, self.capp.clock()))

    def on_remote_answer(self, message: RemoteAnswer) -> None:
        self.answered(message.error)
        if message.result is not None:
            replies = dict(getattr(message.result, "replies", {}) or {})
            self.answer_at = message.at
            known = {h for h, w in self.capp.model.workers.items() if w[W_STATUS] != "offline"}
            self.missing = sorted(
                set(getattr(message.result, "missing", []) or []) | (known - set(replies))
            )
            self._fill(rows_of(self.kind, replies, message.at, short_ids=self.app.size.width < 140))
        self._update_bar()
        self.schedule_next()

    def _fill(self, rows: list[tuple[str, str, tuple[Any, ...]]]) -> None:
        table = self.query_one(DataTable)
        new_keys = {k for k, _, _ in rows}
        with self.app.batch_update():
            for key in list(self._ids):
                if key not in new_keys:
                    table.remove_row(key)
                    del self._ids[key]
                    self._names.pop(key, None)
            for key, tid, cells in rows:
                if key not in self._ids:
                    table.add_row(*cells, key=key)
                    self._ids[key] = tid
                    self._names[key] = cells[2].plain if isinstance(cells[2], Text) else ""
            settle_widths(table)
        self.count = len(rows)

    def _update_bar(self) -> None:
        bar = Text(no_wrap=True, overflow="ellipsis")
        bar.append(f"{TITLES[self.kind]}: ", style="bold")
        bar.append(f"{self.count} ")
        if self._polling:
            bar.append("│ asking … ")
        if self.answer_at is not None:
            bar.append(f"│ answer at {clock_time(self.answer_at)} ")
        if self.missing:
            bar.append("│ no answer: " + ", ".join(self.missing)[:200], style="bold yellow")
        if self.error:
            bar.append("│ ")
            bar.append(self.error[:300], style="bold red")
        self.query_one("#remote-bar", Static).update(bar)

    def current_task(self) -> tuple[str, str] | None:
        key = self.cursor_key()
        tid = self._ids.get(key) if key is not None else None
        if key is None or not tid:
            return None
        name = self._names.get(key)
        if not name:  # (revoked ids come without a name) the task list may know it
            row = self.capp.model.tasks.get(tid)
            name = str(row[1] or "") if row is not None else ""
        return tid, name

    def current_worker(self) -> str | None:
        key = self.cursor_key()  # "host\x00task id\x00index"
        return key.split("\x00", 1)[0] if key is not None else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_detail()

    def action_detail(self) -> None:
        current = self.current_task()
        if current:
            self.capp.open_task(current[0])

    def action_do_revoke(self) -> None:
        current = self.current_task()
        self.request("revoke", current[0] if current else None, current[1] if current else "")

    def action_do_terminate(self) -> None:
        current = self.current_task()
        self.request("terminate", current[0] if current else None, current[1] if current else "")

    def on_action_result(self, message: Any) -> None:
        self.poll()
