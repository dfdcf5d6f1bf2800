"""Tasks: live from the event stream; ``/`` filters as you type, ``s`` sorts, ``f`` quick filters."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static

from ..model import QUICK_FILTERS, T_NAME, TASK_SORTS
from ..widgets.task_list import COLUMNS, TaskList
from .base import ConsoleScreen

SORT_ORDER = [k for k, *_ in COLUMNS if k in TASK_SORTS] + ["timestamp"]
QUICK_ORDER = list(QUICK_FILTERS)


class TasksScreen(ConsoleScreen):
    MODE = "tasks"
    _deferred = False
    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/", id="tasks.filter",
                tooltip="filter as you type on name/state/worker/id/args (state:failure name:add ...)"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="tasks.clear"),
        Binding("s", "sort_next", "Sort", id="tasks.sort", tooltip="sort by the next column"),
        Binding("S", "sort_reverse", "Reverse", show=False, id="tasks.reverse"),
        Binding("f", "quick_next", "State filter", id="tasks.quick",
                tooltip="cycle all/failed/retrying/revoked/running/waiting/succeeded"),
        Binding("F", "quick('failed')", "Failed only", show=False, id="tasks.failed"),
        Binding("c", "canvas", "Canvas", id="tasks.canvas", tooltip="canvas tree of the selected task"),
        Binding("x", "do_revoke", "Revoke", id="tasks.revoke"),
        Binding("X", "do_terminate", "Terminate", id="tasks.terminate", tooltip="revoke + kill (choose signal)"),
        Binding("C", "do_revoke_canvas", "Revoke canvas", show=False, id="tasks.revoke_canvas"),
        Binding("l", "do_rate_limit", "Rate limit", show=False, id="tasks.rate_limit",
                tooltip="rate limit the selected task's type on every worker"),
        Binding("L", "do_time_limit", "Time limit", show=False, id="tasks.time_limit"),
    ]
    DEFAULT_CSS = """
    TasksScreen #tasks-filter { display: none; height: 1; border: none; padding: 0 1; }
    TasksScreen #tasks-filter.-visible { display: block; }
    TasksScreen #tasks-bar { height: 1; background: $boost; padding: 0 1; }
    """

    def compose_body(self) -> ComposeResult:
        yield Static(id="tasks-bar")
        yield Input(placeholder="filter: words match name/state/worker/id/args; state:failure worker:alpha",
                    id="tasks-filter")
        yield TaskList(id="task-list")

    def on_mount(self) -> None:
        self.query_one("#tasks-filter", Input).cursor_blink = getattr(self.app, "cursor_blink", True)
        self.query_one(TaskList).focus()

    @property
    def task_list(self) -> TaskList:
        return self.query_one(TaskList)

    _next_data_refresh = 0.0

    def refresh_model(self, tasks_changed: bool, workers_changed: bool) -> None:
        """Repaint; live data changes re-sort at most ~20% of the time (a 100k-row re-sort
        can cost tens of ms), user changes (filter, sort, quick filter) apply at once."""
        now = time.perf_counter()
        if tasks_changed and now < self._next_data_refresh:
            self._deferred = True
            return
        if self._deferred:
            self._deferred = False
            tasks_changed = True
        model = self.capp.model
        view = model.view
        # user-driven refreshes (typing, sort, quick filter) reuse the last sort if
        # only data moved; data refreshes (throttled above) re-sort
        ids = model.task_ids(allow_stale=not tasks_changed)
        cost = time.perf_counter() - now
        self._next_data_refresh = now + 4 * cost if cost > 0.02 else 0.0
        tl = self.task_list
        if tasks_changed or ids is not tl.ids:
            tl.set_rows(ids, model.tasks, view.sort, view.reverse)
        bar = Text(no_wrap=True, overflow="ellipsis")
        bar.append(f"{len(ids):,}", style="bold")
        bar.append(f" of {len(model.tasks):,} tasks")
        if view.quick != "all":
            bar.append(" │ state: ")
            bar.append(view.quick, style="bold reverse")
        if view.query:
            bar.append(" │ filter: ")
            bar.append(view.query, style="bold")  # typed by the user: still plain Text
        bar.append(f" │ sort: {TASK_SORTS[view.sort][0]} {'desc' if view.reverse else 'asc'}")
        evicted = model.stats.get("evicted")
        if evicted:
            bar.append(f" │ {evicted:,} evicted", style="dim")
        self.query_one("#tasks-bar", Static).update(bar)

    def tick(self) -> None:
        """Once a second: show live changes a throttled refresh held back."""
        if self._deferred:
            self.refresh_model(False, False)

    # -- filtering / sorting -----------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#tasks-filter", Input)
        box.add_class("-visible")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "tasks-filter":
            self.capp.model.view.query = event.value
            self.refresh_model(False, False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "tasks-filter":
            if not event.value:
                event.input.remove_class("-visible")
            self.task_list.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#tasks-filter", Input)
        box.value = ""
        box.remove_class("-visible")
        self.capp.model.view.query = ""
        self.task_list.focus()
        self.refresh_model(False, False)

    def action_sort_next(self) -> None:
        view = self.capp.model.view
        i = SORT_ORDER.index(view.sort) if view.sort in SORT_ORDER else -1
        view.sort = SORT_ORDER[(i + 1) % len(SORT_ORDER)]
        self.refresh_model(False, False)

    def action_sort_reverse(self) -> None:
        self.capp.model.view.reverse = not self.capp.model.view.reverse
        self.refresh_model(False, False)

    def set_sort(self, key: str, reverse: bool | None = None) -> None:
        self.capp.model.view.sort = key
        if reverse is not None:
            self.capp.model.view.reverse = reverse
        self.refresh_model(False, False)

    def action_quick_next(self) -> None:
        view = self.capp.model.view
        view.quick = QUICK_ORDER[(QUICK_ORDER.index(view.quick) + 1) % len(QUICK_ORDER)]
        self.refresh_model(False, False)

    def action_quick(self, name: str) -> None:
        self.set_quick(name)

    def set_quick(self, name: str) -> None:
        self.capp.model.view.quick = name if name in QUICK_FILTERS else "all"
        self.refresh_model(False, False)

    # -- selection ----------------------------------------------------------
    def current_task(self) -> tuple[str, str] | None:
        uid = self.task_list.selected
        if uid is None:
            return None
        row = self.capp.model.tasks.get(uid)
        return uid, str(row[T_NAME] or "") if row is not None else ""

    def on_task_list_selected(self, event: TaskList.Selected) -> None:
        self.capp.open_task(event.uuid)

    def on_task_list_highlighted(self, event: TaskList.Highlighted) -> None:
        if event.uuid:
            self.capp.selected_task = event.uuid

    def action_canvas(self) -> None:
        current = self.current_task()
        if current:
            self.capp.open_canvas(current[0])

    # -- actions ------------------------------------------------------------
    def _task_action(self, action: str) -> None:
        current = self.current_task()
        self.request(action, current[0] if current else None, current[1] if current else "")

    def action_do_revoke(self) -> None:
        self._task_action("revoke")

    def action_do_terminate(self) -> None:
        self._task_action("terminate")

    def action_do_revoke_canvas(self) -> None:
        self._task_action("revoke_canvas")

    def action_do_rate_limit(self) -> None:
        current = self.current_task()
        self._limit("rate_limit", current[1] if current else "")

    def action_do_time_limit(self) -> None:
        current = self.current_task()
        self._limit("time_limit", current[1] if current else "")

    def _limit(self, action: str, task_name: str) -> None:
        from ..actions import ACTIONS

        app = self.capp
        if app.read_only:
            app.request_action(action, "")
            return
        # prefill the task name, ask for the rest
        spec = ACTIONS[action]
        defaults = {n: (task_name if n == "task_name" else d) for n, _, d in spec.fields}
        from .form import FormScreen

        def filled(values: dict[str, str] | None) -> None:
            if values is not None:
                app.request_action(action, "", params=values)

        app.push_screen(FormScreen(f"{spec.title} (every worker)",
                                   tuple((n, lbl, defaults[n]) for n, lbl, _ in spec.fields)), filled)
