"""Worker detail: remote-control ``stats``, ``registered``, ``active_queues`` and ``conf`` of one worker."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.core.sanitize import inert

from ..fmt import capped, clock_time
from ..messages import RemoteAnswer
from .base import ConsoleScreen

SECTIONS = (
    ("stats", "Stats"),
    ("registered", "Registered tasks"),
    ("active_queues", "Active queues"),
    ("conf", "Configuration"),
)


def pretty(value: Any) -> Text:
    try:
        raw = json.dumps(value, indent=2, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        raw = repr(value)
    return capped(raw)


class WorkerDetailScreen(ConsoleScreen):
    MODE = "workers"
    BINDINGS = [
        Binding("escape,backspace", "back", "Back", id="worker.back"),
        Binding("r", "refresh", "Refresh", id="worker.refresh"),
        Binding("plus", "do_pool_grow", "Pool +1", key_display="+", id="worker.pool_grow"),
        Binding("minus", "do_pool_shrink", "Pool -1", key_display="-", id="worker.pool_shrink"),
        Binding("a", "do_autoscale", "Autoscale", show=False, id="worker.autoscale"),
        Binding("l", "do_rate_limit", "Rate limit", show=False, id="worker.rate_limit"),
        Binding("L", "do_time_limit", "Time limit", show=False, id="worker.time_limit"),
        Binding("o", "do_add_consumer", "Add queue", id="worker.add_consumer"),
        Binding("O", "do_cancel_consumer", "Cancel queue", id="worker.cancel_consumer"),
        Binding("K", "do_shutdown", "Shutdown", id="worker.shutdown"),
    ]
    DEFAULT_CSS = """
    WorkerDetailScreen VerticalScroll { padding: 0 1; }
    WorkerDetailScreen .section { text-style: bold; background: $boost; margin-top: 1; padding: 0 1; }
    """

    def __init__(self, hostname: str) -> None:
        super().__init__()
        self.hostname = hostname

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="worker-body"):
            yield Static(inert(self.hostname, 200, style="bold"), id="worker-title")
            yield Static(Text("asking the worker …"), id="worker-status")
            for key, title in SECTIONS:
                yield Static(Text(title), classes="section")
                yield Static(Text("-"), id=f"worker-{key}")

    def on_mount(self) -> None:
        self.query_one("#worker-body").focus()
        self.action_refresh()

    def action_refresh(self) -> None:
        remote = self.capp.remote
        if remote is None:
            self.query_one("#worker-status", Static).update(
                Text(self.capp.remote_unavailable_reason)
            )
            return
        self._load(remote)

    @work(thread=True, exclusive=True, exit_on_error=False, group="worker-detail")
    def _load(self, remote: Any) -> None:
        out: dict[str, Any] = {}
        error = None
        try:
            for key, _ in SECTIONS:
                out[key] = remote.inspect(key, destination=[self.hostname], timeout=1.0)
        except Exception as exc:
            error = self.capp.error_text(exc)
        self.post_message(RemoteAnswer("worker-detail", out, error, self.capp.clock()))

    def on_remote_answer(self, message: RemoteAnswer) -> None:
        status = Text(f"answer at {clock_time(message.at)}")
        missing = False
        for key, _ in SECTIONS:
            res = message.result.get(key)
            if res is None:
                continue
            replies = getattr(res, "replies", {}) or {}
            if key == "stats" and isinstance(replies.get(self.hostname), dict):
                self.capp.worker_stats[self.hostname] = replies[self.hostname]
            if self.hostname in replies:
                self.query_one(f"#worker-{key}", Static).update(pretty(replies[self.hostname]))
            else:
                missing = True
        if missing:
            status.append(" │ the worker did not answer (some sections)", style="bold yellow")
        if message.error:
            status.append(" │ ")
            status.append(message.error[:300], style="bold red")
        self.query_one("#worker-status", Static).update(status)

    def action_back(self) -> None:
        self.app.pop_screen()

    def current_worker(self) -> str | None:
        return self.hostname

    def action_do_pool_grow(self) -> None:
        self.request("pool_grow", self.hostname, n="1")

    def action_do_pool_shrink(self) -> None:
        self.request("pool_shrink", self.hostname, n="1")

    def action_do_autoscale(self) -> None:
        self.request("autoscale", self.hostname)

    def action_do_rate_limit(self) -> None:
        self.request("rate_limit", self.hostname)

    def action_do_time_limit(self) -> None:
        self.request("time_limit", self.hostname)

    def action_do_add_consumer(self) -> None:
        self.request("add_consumer", self.hostname)

    def action_do_cancel_consumer(self) -> None:
        self.request("cancel_consumer", self.hostname)

    def action_do_shutdown(self) -> None:
        self.request("shutdown", self.hostname)

    def on_action_result(self, message: Any) -> None:
        self.action_refresh()
