"""Workers: one row per worker from events, enriched by remote-control ``stats``/``active_queues``."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ..fmt import cell, clock_time, duration, loadavg, number, state_text
from ..messages import RemoteAnswer
from ..model import (
    W_ACTIVE,
    W_FAILED,
    W_HOST,
    W_LOADAVG,
    W_POOL,
    W_PROCESSED,
    W_RATE,
    W_STATUS,
    W_SUCCEEDED,
    W_SWVER,
)
from ..widgets.table_widths import settle_widths, update_cell_growing
from .base import PolledScreen

COLUMNS = (
    ("worker", "WORKER"),
    ("status", "STATUS"),
    ("active", "ACT"),
    ("processed", "DONE"),
    ("okfail", "OK/FAIL"),
    ("rate", "RATE/s"),
    ("load", "LOAD"),
    ("pool", "POOL"),
    ("queues", "QUEUES"),
    ("prefetch", "PREF"),
    ("uptime", "UPTIME"),
    ("version", "VERSION"),
)


def pool_text(stats: dict[str, Any] | None, hint: Any) -> str:
    pool = (stats or {}).get("pool") if isinstance(stats, dict) else None
    if isinstance(pool, dict):
        impl = str(pool.get("implementation") or "").rsplit(":", 1)[-1].replace("TaskPool", "")
        impl = {"": "prefork", "celery.concurrency.prefork": "prefork"}.get(
            impl, impl
        ).lower() or "prefork"
        procs = pool.get("processes")
        conc = pool.get("max-concurrency")
        n = len(procs) if isinstance(procs, list) else conc
        return f"{impl} {n}" + (f"/{conc}" if conc not in (None, n) else "")
    return str(hint) if hint else "-"


class WorkersScreen(PolledScreen):
    POLL_FACTOR, POLL_MIN = 2.0, 2.0  # stats: every other interval, at least 2 s apart
    MODE = "workers"
    BINDINGS = [
        Binding(
            "enter",
            "detail",
            "Detail",
            id="workers.detail",
            tooltip="stats, registered, queues, conf",
        ),
        Binding(
            "r", "refresh", "Refresh", id="workers.refresh", tooltip="ask the workers for stats now"
        ),
        Binding("plus", "do_pool_grow", "Pool +1", key_display="+", id="workers.pool_grow"),
        Binding("minus", "do_pool_shrink", "Pool -1", key_display="-", id="workers.pool_shrink"),
        Binding("a", "do_autoscale", "Autoscale", show=False, id="workers.autoscale"),
        Binding("l", "do_rate_limit", "Rate limit", id="workers.rate_limit"),
        Binding("L", "do_time_limit", "Time limit", show=False, id="workers.time_limit"),
        Binding("o", "do_add_consumer", "Add queue", show=False, id="workers.add_consumer"),
        Binding(
            "O", "do_cancel_consumer", "Cancel queue", show=False, id="workers.cancel_consumer"
        ),
        Binding("K", "do_shutdown", "Shutdown", id="workers.shutdown"),
    ]
    DEFAULT_CSS = """
    WorkersScreen DataTable { height: 1fr; }
    WorkersScreen #workers-bar { height: 1; background: $boost; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.stats: dict[str, Any] = {}
        self.queues: dict[str, Any] = {}
        self.answer_at: float | None = None
        self.missing: list[str] = []
        self._cells: dict[str, tuple[Any, ...]] = {}

    def compose_body(self) -> ComposeResult:
        yield Static(id="workers-bar")
        table: DataTable[Any] = DataTable(
            id="workers-table", cursor_type="row", zebra_stripes=False
        )
        for key, title in COLUMNS:
            table.add_column(title, key=key)
        yield table

    # -- remote stats ---------------------------------------------------------
    def start_poll(self) -> None:
        self._poll(self.capp.remote)

    @work(thread=True, exclusive=True, exit_on_error=False, group="workers-poll")
    def _poll(self, remote: Any) -> None:
        try:
            stats = remote.inspect("stats", timeout=1.0)
            queues = remote.inspect("active_queues", timeout=1.0)
            result = (stats, queues)
            error = None
        except Exception as exc:
            result, error = None, self.capp.error_text(exc)
        self.post_message(RemoteAnswer("workers", result, error, self.capp.clock()))

    def on_remote_answer(self, message: RemoteAnswer) -> None:
        self.answered(message.error)
        if message.result is not None:
            stats, queues = message.result
            self.stats = dict(stats.replies)
            self.capp.worker_stats.update(self.stats)
            self.queues = dict(queues.replies)
            self.answer_at = message.at
            self.missing = sorted(
                set(self.capp.model.workers)
                - set(self.stats)
                - {h for h, w in self.capp.model.workers.items() if w[W_STATUS] == "offline"}
            )
        if self.is_current:  # hidden: on_screen_resume repaints (500 rows cost ~0.2 s)
            self.refresh_model(False, True)
        self.schedule_next()

    # -- table --------------------------------------------------------------
    def _row(self, w: Any) -> tuple[Any, ...]:
        host = w[W_HOST]
        st = self.stats.get(host)
        q = self.queues.get(host)
        queues = (
            ",".join(str(x.get("name")) for x in q if isinstance(x, dict))
            if isinstance(q, list)
            else "-"
        )
        prefetch = st.get("prefetch_count") if isinstance(st, dict) else None
        uptime = st.get("uptime") if isinstance(st, dict) else None
        # an offline worker runs nothing we know of: its last active count and rate are
        # history, not "now" (its tasks show "lost?" on the Tasks screen)
        offline = w[W_STATUS] == "offline"
        rate = w[W_RATE]
        return (
            cell(host, 60),
            state_text(w[W_STATUS]),
            Text("-" if offline else number(w[W_ACTIVE]), justify="right"),
            Text(number(w[W_PROCESSED]), justify="right"),
            Text(
                f"{number(w[W_SUCCEEDED])}/{number(w[W_FAILED])}",
                style="bold red" if w[W_FAILED] else "",
            ),
            Text(
                f"{rate:.1f}" if isinstance(rate, int | float) and not offline else "-",
                justify="right",
            ),
            Text(loadavg(w[W_LOADAVG])),
            cell(pool_text(st, w[W_POOL]), 30),
            cell(queues, 60),
            Text(number(prefetch)),
            Text(duration(uptime) if uptime is not None else "-"),
            cell(w[W_SWVER] or "-", 20),
        )

    def refresh_model(self, tasks_changed: bool, workers_changed: bool) -> None:
        self._update_bar()
        if not workers_changed:
            return
        table = self.query_one(DataTable)
        workers = self.capp.model.workers
        for host in list(self._cells):
            if host not in workers:
                table.remove_row(host)
                del self._cells[host]
        for host in sorted(workers):
            values = self._row(workers[host])
            old = self._cells.get(host)
            if old is None:
                table.add_row(*values, key=host)
            elif old != values:
                for (key, _), new, prev in zip(COLUMNS, values, old, strict=True):
                    if new != prev:
                        update_cell_growing(table, host, key, new)
            self._cells[host] = values
        settle_widths(table)  # widths right in the very next frame, not after the table's Idle

    def _update_bar(self) -> None:
        model = self.capp.model
        online, total = model.online_workers()
        bar = Text(no_wrap=True, overflow="ellipsis")
        bar.append(f"{online}/{total} online", style="bold")
        late = sum(1 for w in model.workers.values() if w[W_STATUS] == "late")
        if late:
            bar.append(f" │ {late} heartbeat late", style="bold yellow")
        evicted = model.stats.get("workers_evicted") or 0
        refused = model.stats.get("workers_refused") or 0
        if evicted or refused:  # a flood of hostnames (forged heartbeats?) met the cap
            bar.append(
                f" │ worker cap: {evicted:,} evicted, {refused:,} refused", style="bold yellow"
            )
        if self.error:
            bar.append(" │ stats: ")
            bar.append(self.error[:200], style="bold red")
        elif self.answer_at:
            bar.append(f" │ stats at {clock_time(self.answer_at)}")
            if self.missing:
                bar.append(" │ no answer: " + ", ".join(self.missing)[:200], style="bold yellow")
        self.query_one("#workers-bar", Static).update(bar)

    # -- selection / actions ----------------------------------------------
    def current_worker(self) -> str | None:
        return self.cursor_key()  # rows are keyed by hostname

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_detail()

    def action_detail(self) -> None:
        host = self.current_worker()
        if host:
            from .worker_detail import WorkerDetailScreen

            self.app.push_screen(WorkerDetailScreen(host))

    def _worker_action(self, action: str, **params: str) -> None:
        self.request(action, self.current_worker(), **params)

    def action_do_pool_grow(self) -> None:
        self._worker_action("pool_grow", n="1")

    def action_do_pool_shrink(self) -> None:
        self._worker_action("pool_shrink", n="1")

    def action_do_autoscale(self) -> None:
        self._worker_action("autoscale")

    def action_do_rate_limit(self) -> None:
        self._worker_action("rate_limit")

    def action_do_time_limit(self) -> None:
        self._worker_action("time_limit")

    def action_do_add_consumer(self) -> None:
        self._worker_action("add_consumer")

    def action_do_cancel_consumer(self) -> None:
        self._worker_action("cancel_consumer")

    def action_do_shutdown(self) -> None:
        self._worker_action("shutdown")

    def on_action_result(self, message: Any) -> None:
        self.poll()
