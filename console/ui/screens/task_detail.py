"""Task detail: args, kwargs, result, exception, traceback, timeline, relations; actions from here.

Everything shown comes from the task (hostile): each value is made inert
(:func:`console.core.sanitize.inert`) and capped at ``DETAIL_CAP`` characters.
"""

from __future__ import annotations

from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Static

from console.core.detail import complete, signal_name
from console.core.sanitize import inert, safe_text

from ..fmt import DETAIL_CAP, capped, clock_time, duration, state_text
from ..messages import DetailLoaded
from .base import ConsoleScreen

FINAL_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED", "REJECTED"})


def traceback_renderable(tb: Any) -> Any:
    """Syntax-highlighted traceback (text sanitized first; Syntax never parses markup)."""
    raw = tb if isinstance(tb, str) else str(tb)
    cut = len(raw) > DETAIL_CAP
    code = safe_text(raw[:DETAIL_CAP])
    syntax = Syntax(code, "pytb", theme="ansi_dark", word_wrap=True, background_color="default")
    if not cut:
        return syntax
    from rich.console import Group

    return Group(
        syntax, Text(f"… traceback truncated ({len(raw):,} characters)", style="bold reverse")
    )


def summary_text(d: dict[str, Any], now: float | None = None) -> Text:
    """The summary block; ``now`` (the app's clock) gives a running task's elapsed time."""
    t = Text()
    sources = d.get("sources") or {}

    def label(name: str) -> None:
        t.append(f"{name:>8} ", style="bold")

    def value(v: Any, limit: int = 300) -> None:
        t.append(safe_text(v, limit, oneline=True))

    def source(*names: str) -> None:
        where = sorted({sources[n] for n in names if n in sources})
        if where:
            t.append(f"  (from the {' and '.join(where)})", style="dim")

    label("name")
    value(d.get("name") or "-")
    source("name")
    t.append("\n")
    if d.get("source") == "backend":  # loaded on start (console/core/backfill.py)
        label("source")
        t.append("the result backend (finished before the console connected)", style="italic")
        if d.get("missing"):
            value(f"; not stored there: {', '.join(map(str, d['missing']))}")
        t.append("\n")
    label("state")
    t.append_text(state_text(d.get("state")))
    t.append("  on ")
    value(d.get("worker") or d.get("hostname") or "-", 120)
    t.append(f"  retries {d.get('retries') or 0}")
    source("state", "worker", "retries")
    signame = signal_name(d.get("signum")) if d.get("terminated") else None
    if signame:
        t.append("  terminated by ", style="bold")
        value(signame, 20)
    elif d.get("expired"):
        t.append("  expired", style="bold")
    t.append("\n")
    label("times")
    t.append(
        f"received {clock_time(d.get('received'))} started {clock_time(d.get('started'))} "
        f"runtime {duration(d.get('runtime')) if d.get('runtime') is not None else '-'}"
    )
    started = d.get("started")
    if d.get("state") == "STARTED" and isinstance(started, int | float) and now is not None:
        t.append(f"  running for {duration(max(0.0, now - started))}", style="bold")
    t.append("\n")
    label("eta")
    value(d.get("eta") or "-", 60)
    t.append("  expires ")
    value(d.get("expires") or "-", 60)
    t.append("\n")
    label("queue")
    value(d.get("queue") or "-", 120)
    t.append("  routing key ")
    value(d.get("routing_key") or "-", 120)
    t.append("  exchange ")
    exchange = d.get("exchange")
    value("-" if exchange is None else (exchange or "'' (default)"), 120)
    source("queue", "routing_key", "exchange")
    t.append("\n")
    label("sender")
    value(d.get("sender") or "-", 120)
    t.append("\n")
    label("root")
    value(d.get("root_id") or "-", 60)
    t.append("\n")
    label("parent")
    value(d.get("parent_id") or "-", 60)
    source("parent_id")
    t.append("\n")
    children = d.get("children") or []
    label("children")
    value(
        f"{len(children)}: "
        + ", ".join(map(str, children[:6]))
        + (" …" if len(children) > 6 else "")
        if children
        else "-",
        600,
    )
    source("children")
    if d.get("backend_error"):
        t.append("\n")
        label("backend")
        t.append(safe_text(d["backend_error"], 200, oneline=True), style="bold red")
    return t


def timeline_text(d: dict[str, Any]) -> Text:
    t = Text()
    for item in d.get("timeline") or []:
        try:
            st, ts = item[0], item[1]
        except (TypeError, IndexError, KeyError):
            continue
        t.append(f"{clock_time(ts, date=True)}  ")
        t.append_text(state_text(st))
        t.append("\n")
    return t or Text("(no events)")


class TaskDetailScreen(ConsoleScreen):
    MODE = "tasks"
    BINDINGS = [
        Binding("escape,backspace", "back", "Back", id="detail.back"),
        Binding("c", "canvas", "Canvas", id="detail.canvas"),
        Binding("p", "parent", "Parent", id="detail.parent"),
        Binding("o", "root", "Root", id="detail.root"),
        Binding("R", "reload", "Reload", show=False, id="detail.reload"),
        Binding(
            "y",
            "copy_id",
            "Copy id",
            id="detail.copy",
            tooltip="copy the task id (OSC 52; the id field above is selectable too)",
        ),
        Binding(
            "r",
            "do_retry",
            "Retry",
            id="detail.retry",
            tooltip="re-send with the same name, arguments and queue",
        ),
        Binding("x", "do_revoke", "Revoke", id="detail.revoke"),
        Binding("X", "do_terminate", "Terminate", id="detail.terminate"),
        Binding("C", "do_revoke_canvas", "Revoke canvas", id="detail.revoke_canvas"),
    ]
    DEFAULT_CSS = """
    TaskDetailScreen VerticalScroll { padding: 0 1; }
    TaskDetailScreen .section { text-style: bold; background: $boost; margin-top: 1; padding: 0 1; }
    TaskDetailScreen #detail-id-row { height: 1; }
    TaskDetailScreen #detail-id-row .label { width: 9; }
    TaskDetailScreen #detail-id-row .hint { width: auto; }
    TaskDetailScreen #detail-id { width: 38; height: 1; }
    TaskDetailScreen .-failure { display: none; }
    TaskDetailScreen.-failed .-failure { display: block; }
    """

    def __init__(self, uuid: str) -> None:
        super().__init__()
        self.uuid = uuid
        self.detail: dict[str, Any] | None = None
        # what the backend / workers filled, kept between reloads (read again when the
        # state changes): the events of a running task arrive each second, the backend
        # is not read each second
        self._filled: dict[str, Any] = {}
        self._filled_state: str | None = None

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="detail-body"):
            with Horizontal(id="detail-id-row"):
                yield Static(Text(f"{'id':>8} ", style="bold"), classes="label")
                yield Input(self.uuid, id="detail-id", compact=True, select_on_focus=True)
                yield Static(Text("  y copies it", style="dim"), classes="hint")
            yield Static(Text("loading …"), id="detail-summary")
            yield Static(
                Text("Exception / traceback"), classes="section -failure", id="detail-exc-title"
            )
            yield Static(id="detail-exception", classes="-failure")
            yield Static(id="detail-traceback", classes="-failure")
            yield Static(Text("Result"), classes="section", id="detail-result-title")
            yield Static(id="detail-result")
            yield Static(Text("Args"), classes="section")
            yield Static(id="detail-args")
            yield Static(Text("Kwargs"), classes="section")
            yield Static(id="detail-kwargs")
            yield Static(Text("Timeline"), classes="section")
            yield Static(id="detail-timeline")

    def on_mount(self) -> None:
        self.query_one("#detail-body").focus()
        self.load()

    def load(self) -> None:
        feed = self.capp.feed
        if feed is None:
            self.post_message(DetailLoaded(self.uuid, None, "no feed"))
            return
        self._load(feed)

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail")
    def _load(self, feed: Any) -> None:
        app = self.capp
        try:
            detail = feed.task_detail(self.uuid)
            state = (detail or {}).get("state")
            # a recording is shown as recorded: the backend and workers of today are not
            # the ones it was recorded from
            mode = getattr(getattr(feed, "status", None), "mode", "")
            live = app.settings is not None and not str(mode).startswith("replay")
            if live and (self._filled_state is None or state != self._filled_state):
                detail = complete(
                    detail,
                    self.uuid,
                    settings=app.settings,
                    rc=app.remote,
                    timeout=min(app.action_timeout, 1.0),
                )
            elif detail is not None:  # the same state: what was filled still holds
                detail = {**detail, **self._filled}
            scrub = getattr(app.settings, "scrub", None)
            if detail is not None and detail.get("backend_error") and scrub is not None:
                detail["backend_error"] = scrub(detail["backend_error"])
            self.post_message(DetailLoaded(self.uuid, detail))
        except Exception as exc:
            self.post_message(DetailLoaded(self.uuid, None, app.error_text(exc)))

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        if message.uuid != self.uuid:
            return
        summary = self.query_one("#detail-summary", Static)
        if message.detail is None:
            summary.update(
                inert(
                    f"task {self.uuid}: "
                    + (message.error or "not known (evicted, or not seen by this console)")
                )
            )
            return
        d = message.detail
        if "sources" in d:
            self._filled_state = d.get("state") or ""
            self._filled = {k: d[k] for k in (*d["sources"], "sources") if k in d}
        running = d.get("state") == "STARTED"
        if d == self.detail and not running:
            return  # a periodic reload with nothing new: keep the screen as it is
        self.detail = d
        summary.update(summary_text(d, self.capp.clock()))
        self.query_one("#detail-timeline", Static).update(timeline_text(d))
        self.query_one("#detail-args", Static).update(capped(d.get("args")))
        self.query_one("#detail-kwargs", Static).update(capped(d.get("kwargs")))
        self.query_one("#detail-result", Static).update(
            capped(d.get("result")) if d.get("result") is not None else Text("-")
        )
        self.query_one("#detail-exception", Static).update(
            capped(d.get("exception")) if d.get("exception") else Text("-")
        )
        self.set_class(bool(d.get("exception") or d.get("traceback")), "-failed")
        tb = d.get("traceback")
        self.query_one("#detail-traceback", Static).update(
            traceback_renderable(tb) if tb else Text("")
        )

    def refresh_model(self, tasks_changed: bool, workers_changed: bool) -> None:
        # reload when this task changed (bounded by the app's repaint rate)
        row = self.capp.model.tasks.get(self.uuid)
        if tasks_changed and row is not None and self.detail is not None:
            if row[2] != self.detail.get("state") or row[12] != self.detail.get("timestamp"):
                self.load()

    def tick(self) -> None:
        """Once a second: reload a task that may still change (its row may be off the
        task list's window, so ``refresh_model`` would not see it move)."""
        if self.detail is not None and self.detail.get("state") not in FINAL_STATES:
            self.load()

    def current_task(self) -> tuple[str, str] | None:
        name = (self.detail or {}).get("name") or ""
        return self.uuid, str(name)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reload(self) -> None:
        self.load()

    def action_canvas(self) -> None:
        self.capp.open_canvas(self.uuid)

    def _open(self, key: str) -> None:
        other = (self.detail or {}).get(key)
        if other and other != self.uuid:
            self.capp.open_task(str(other))
        else:
            self.notify(f"no {key.split('_')[0]} task", markup=False)

    def action_parent(self) -> None:
        self._open("parent_id")

    def action_root(self) -> None:
        self._open("root_id")

    def action_copy_id(self) -> None:
        self.app.copy_to_clipboard(self.uuid)  # OSC 52: terminals that allow it
        self.notify(f"copied {safe_text(self.uuid, 60, oneline=True)}", markup=False, timeout=3)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "detail-id" and event.value != self.uuid:
            event.input.value = self.uuid  # selectable, not editable

    def action_do_retry(self) -> None:
        from ..retry import start_retry

        start_retry(self.capp, [self.uuid])

    def action_do_revoke(self) -> None:
        self.request("revoke", self.uuid, self.current_task()[1])  # type: ignore[index]

    def action_do_terminate(self) -> None:
        self.request("terminate", self.uuid, self.current_task()[1])  # type: ignore[index]

    def action_do_revoke_canvas(self) -> None:
        self.request("revoke_canvas", self.uuid, self.current_task()[1])  # type: ignore[index]
