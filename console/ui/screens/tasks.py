"""Tasks: live from the event stream; ``/`` filters as you type, ``s`` sorts, ``f`` quick filters.

Filtering and sorting run where the rows are (the feed's TaskViewer, in the
intake process for a live cluster): this screen sends the view parameters and
the rows it can show, and paints the window it gets back.  The bar shows the
filter *of the rows on screen*, so it never claims a filter not yet applied.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input

from ..marks import MAX_MARKS, Marks
from ..model import QUICK_FILTERS, T_NAME, T_UUID, TASK_SORTS
from ..widgets.task_list import COLUMNS, TaskList
from ..widgets.text_line import TextLine
from .base import ConsoleScreen

SORT_ORDER = [k for k, *_ in COLUMNS if k in TASK_SORTS] + ["timestamp"]
QUICK_ORDER = list(QUICK_FILTERS)


class TasksScreen(ConsoleScreen):
    MODE = "tasks"
    BINDINGS = [
        Binding(
            "slash",
            "filter",
            "Filter",
            key_display="/",
            id="tasks.filter",
            # priority: runs as the app reads the key, before the rest of the burst
            # is handed to the list, so ``/xy`` types "xy" into the filter
            priority=True,
            tooltip="filter as you type on name/state/worker/id/args (state:failure name:add ...)",
        ),
        Binding(
            "escape",
            "clear_filter",
            "Clear marks / filter",
            show=False,
            id="tasks.clear",
            tooltip="clear the marks (if any), else the filter",
        ),
        Binding(
            "space",
            "mark",
            "Mark",
            id="tasks.mark",
            tooltip="mark the task under the cursor (revoke/terminate/retry act on marked tasks)",
        ),
        Binding(
            "asterisk",
            "mark_all",
            "Mark all",
            key_display="*",
            show=False,
            id="tasks.mark_all",
            tooltip="mark every task matching the filter",
        ),
        Binding(
            "p",
            "pause",
            "Pause",
            id="tasks.pause",
            tooltip="freeze the live list (new tasks are counted in the bar); p again resumes",
        ),
        Binding("s", "sort_next", "Sort", id="tasks.sort", tooltip="sort by the next column"),
        Binding("S", "sort_reverse", "Reverse", show=False, id="tasks.reverse"),
        Binding(
            "f",
            "quick_next",
            "State filter",
            id="tasks.quick",
            tooltip="cycle all/failed/retrying/revoked/running/waiting/succeeded",
        ),
        Binding("F", "quick('failed')", "Failed only", show=False, id="tasks.failed"),
        Binding(
            "c", "canvas", "Canvas", id="tasks.canvas", tooltip="canvas tree of the selected task"
        ),
        Binding("x", "do_revoke", "Revoke", id="tasks.revoke"),
        Binding(
            "X",
            "do_terminate",
            "Terminate",
            id="tasks.terminate",
            tooltip="revoke + kill (choose signal)",
        ),
        Binding(
            "r",
            "do_retry",
            "Retry",
            id="tasks.retry",
            tooltip="re-send with the same name, arguments and queue",
        ),
        Binding("C", "do_revoke_canvas", "Revoke canvas", show=False, id="tasks.revoke_canvas"),
        Binding(
            "l",
            "do_rate_limit",
            "Rate limit",
            show=False,
            id="tasks.rate_limit",
            tooltip="rate limit the selected task's type on every worker",
        ),
        Binding("L", "do_time_limit", "Time limit", show=False, id="tasks.time_limit"),
    ]
    DEFAULT_CSS = """
    TasksScreen #tasks-filter { display: none; height: 1; border: none; padding: 0 1; }
    TasksScreen #tasks-filter.-visible { display: block; }
    TasksScreen #tasks-bar { height: 1; background: $boost; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.marks = Marks()
        self._mark_all_seq: int | None = None  # the window asked for by ``*``
        #: paused (``p``): the tasks tracked when it began; None = live
        self.paused_total: int | None = None
        self._asked_seq = 0  # the latest window this screen asked for (paused: still shown)

    def compose_body(self) -> ComposeResult:
        yield TextLine(id="tasks-bar")
        yield Input(
            placeholder="filter: words match name/state/worker/id/args; state:failure worker:alpha",
            id="tasks-filter",
        )
        yield TaskList(id="task-list")

    def on_mount(self) -> None:
        self.query_one("#tasks-filter", Input).cursor_blink = getattr(
            self.app, "cursor_blink", True
        )
        self.query_one(TaskList).marks = self.marks
        self.query_one(TaskList).revoke_sent = self.capp.revoke_sent
        self.query_one(TaskList).clock = self.capp.clock
        self.query_one(TaskList).focus()
        self.request_window()

    def on_screen_suspend(self) -> None:
        # nobody looks at the list: the feed keeps its view warm but cuts no rows
        self.capp.request_view(self.capp.model.spec(limit=0))

    def on_screen_resume(
        self,
    ) -> None:  # (ConsoleScreen.on_screen_resume runs too: Textual calls both)
        self.request_window()

    @property
    def task_list(self) -> TaskList:
        return self.query_one(TaskList)

    def request_window(self) -> None:
        """Ask the feed for the current view: the rows around the visible part."""
        tl = self.task_list
        offset, limit = tl.wanted()
        spec = self.capp.model.spec(offset=offset, limit=limit, cursor=tl.cursor_id)
        self._asked_seq = spec.seq
        self.capp.request_view(spec)

    def action_pause(self) -> None:
        model = self.capp.model
        self.paused_total = None if self.paused_total is not None else model.total_tasks
        if self.paused_total is None:
            self.request_window()  # live again: the rows as they are now
        self._shown = -1
        self.refresh_model(True, False)

    _shown = -1

    def refresh_model(self, tasks_changed: bool, workers_changed: bool) -> None:
        """Paint the window the feed sent (cheap: the feed filtered and sorted)."""
        model = self.capp.model
        window = model.window
        tl = self.task_list
        if self._mark_all_seq is not None and window.spec.seq >= self._mark_all_seq:
            if window.spec.seq == self._mark_all_seq:
                self._marked_all(window)
                return
            self._mark_all_seq = None  # another request came first (scrolling): not marked
            self.notify("mark all interrupted: press * again", markup=False)
        # paused: only the answer to what the user asked (scroll, filter, sort) repaints
        frozen = self.paused_total is not None and (
            tl.window.spec.seq == window.spec.seq or window.spec.seq < self._asked_seq
        )
        if frozen:
            window = tl.window
        elif self._shown != model.version or tl.window is not window:
            self._shown = model.version
            tl.set_window(window)
        spec = window.spec
        bar = Text(no_wrap=True, overflow="ellipsis")
        if self.paused_total is not None:
            new_rows = max(0, model.total_tasks - self.paused_total)
            bar.append(" PAUSED ", style="bold reverse yellow")
            bar.append(f" {new_rows:,} new (p resumes) │ ", style="bold")
        # unfiltered, every tracked task matches (between re-sorts the list may not hold
        # the newest yet: the count must not flap)
        filtered = bool(spec.query.strip()) or spec.quick != "all"
        bar.append(f"{window.matched if filtered else model.total_tasks:,}", style="bold")
        bar.append(f" of {model.total_tasks:,} tasks")
        if spec.quick != "all":
            bar.append(" │ state: ")
            bar.append(spec.quick, style="bold reverse")
        if window.error:  # first: on a narrow terminal the reason must not be cut off
            bar.append(" │ ")
            bar.append(window.error, style="bold red reverse")  # plain Text: never markup
        elif spec.query:
            bar.append(" │ filter: ")
            bar.append(spec.query, style="bold")  # typed by the user: still plain Text
        if self.marks:
            bar.append(" │ ")
            bar.append(f"{len(self.marks):,} marked", style="bold reverse")
        bar.append(
            f" │ sort: {TASK_SORTS.get(spec.sort, TASK_SORTS['timestamp'])[0]} "
            f"{'desc' if spec.reverse else 'asc'}"
        )
        evicted = model.stats.get("evicted")
        if evicted:
            bar.append(f" │ {evicted:,} evicted", style="dim")
        self.query_one("#tasks-bar", TextLine).set_text(bar)

    def on_task_list_window_needed(self, event: TaskList.WindowNeeded) -> None:
        event.stop()
        self.request_window()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "filter" and self.focused is not None and self.focused.id == "tasks-filter":
            return False  # "/" typed in the filter is a character
        return super().check_action(action, parameters)

    # -- filtering / sorting -----------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#tasks-filter", Input)
        box.add_class("-visible")
        box.display = True  # now (the class applies at the next style update)
        # at once, not at the next idle (Widget.focus): the rest of a burst typed with
        # "/" (``/xy``) goes into the filter, never to this screen's bindings
        self.set_focus(box)
        if not self.capp.model.view.filtering:
            self.capp.model.view.filtering = True  # the feed may prepare for word searches
            self.request_window()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "tasks-filter":
            self.capp.model.view.query = event.value
            self.request_window()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "tasks-filter":
            if not event.value:
                event.input.remove_class("-visible")
                event.input.display = False
                self.capp.model.view.filtering = False
            self.task_list.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#tasks-filter", Input)
        if self.marks and self.focused is not box:
            self.marks.clear()
            self._marks_changed()
            return
        box.value = ""
        box.remove_class("-visible")
        box.display = False
        self.capp.model.view.query = ""
        self.capp.model.view.filtering = False
        self.task_list.focus()
        self.request_window()

    def action_sort_next(self) -> None:
        view = self.capp.model.view
        i = SORT_ORDER.index(view.sort) if view.sort in SORT_ORDER else -1
        view.sort = SORT_ORDER[(i + 1) % len(SORT_ORDER)]
        self.request_window()

    def action_sort_reverse(self) -> None:
        self.capp.model.view.reverse = not self.capp.model.view.reverse
        self.request_window()

    def set_sort(self, key: str, reverse: bool | None = None) -> None:
        self.capp.model.view.sort = key
        if reverse is not None:
            self.capp.model.view.reverse = reverse
        self.request_window()

    def action_quick_next(self) -> None:
        view = self.capp.model.view
        view.quick = QUICK_ORDER[(QUICK_ORDER.index(view.quick) + 1) % len(QUICK_ORDER)]
        self.request_window()

    def action_quick(self, name: str) -> None:
        self.set_quick(name)

    def set_quick(self, name: str) -> None:
        self.capp.model.view.quick = name if name in QUICK_FILTERS else "all"
        self.request_window()

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

    # -- marks --------------------------------------------------------------
    def action_mark(self) -> None:
        uid = self.task_list.selected
        if uid is None:
            return
        self.marks.toggle(uid)
        self.task_list.action_cursor(1)  # as in k9s / mc: the next row, ready for Space again
        self._marks_changed()

    def action_mark_all(self) -> None:
        """Every task matching the filter: the feed sends their rows once (then the
        usual window again)."""
        matched = self.capp.model.window.matched
        if not matched:
            return
        spec = self.capp.model.spec(offset=0, limit=min(matched, MAX_MARKS))
        self._mark_all_seq = spec.seq
        self.capp.request_view(spec)

    def _marked_all(self, window: Any) -> None:
        self._mark_all_seq = None
        if window.error is None:
            self.marks.add(r[T_UUID] for r in window.rows)
        self.request_window()  # back to the rows on screen
        self._marks_changed()

    def _marks_changed(self) -> None:
        self.task_list.refresh()
        self._shown = -1
        self.refresh_model(True, False)

    def marked_or_current(self) -> tuple[str, ...]:
        """The marked tasks, else the one under the cursor (may be empty)."""
        if self.marks:
            return tuple(self.marks.ids())
        current = self.current_task()
        return (current[0],) if current else ()

    # -- actions ------------------------------------------------------------
    def _task_action(self, action: str) -> None:
        if self.marks and action in ("revoke", "terminate"):
            ids = tuple(self.marks.ids())
            self.capp.request_action(action, ids[0], targets=ids)
            return
        current = self.current_task()
        self.request(action, current[0] if current else None, current[1] if current else "")

    def action_do_revoke(self) -> None:
        self._task_action("revoke")

    def action_do_terminate(self) -> None:
        self._task_action("terminate")

    def action_do_retry(self) -> None:
        from ..retry import start_retry

        start_retry(self.capp, list(self.marked_or_current()))

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

        app.push_screen(
            FormScreen(
                f"{spec.title} (every worker)",
                tuple((n, lbl, defaults[n]) for n, lbl, _ in spec.fields),
                action,
            ),
            filled,
        )
