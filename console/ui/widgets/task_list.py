"""A Line-API task table over a *window* of the task list, so 100,000 tasks stay smooth.

The widget shows a :class:`~console.core.taskview.TaskWindow`: the number of
matching tasks (its virtual height) and the rows around the visible part
(``window.offset`` ...).  When scrolling or the cursor leaves those rows it
posts :class:`TaskList.WindowNeeded`; the screen asks the feed for them
(lines not known yet draw as a dim placeholder for that moment).  Line 0 is
the column header; the cursor follows a task id (not a position) across
updates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..fmt import cell, clock_time, duration, state_text
from ..model import (
    T_ARGS,
    T_HOST,
    T_KWARGS,
    T_NAME,
    T_RECEIVED,
    T_RETRIES,
    T_RUNTIME,
    T_STARTED,
    T_STATE,
    T_UUID,
    TaskWindow,
)

_NULL = Style.null()

# (key, title, width (0 = flexible), min terminal width to show it)
COLUMNS: tuple[tuple[str, str, int, int], ...] = (
    ("state", "STATE", 11, 0),
    ("name", "NAME", 26, 0),
    ("worker", "WORKER", 16, 0),
    ("received", "RECEIVED", 8, 100),
    ("started", "STARTED", 8, 0),
    ("runtime", "RUNTIME", 7, 0),
    ("retries", "RT", 2, 90),
    ("uuid", "ID", 36, 140),
    ("args", "ARGS", 0, 0),
)


#: states after which a task never changes again (a revoke sent to it is moot)
FINISHED = frozenset({"SUCCESS", "FAILURE", "REVOKED", "REJECTED"})
_T_LOST = 13  # TaskRow.lost: its worker went offline while it was unfinished


def is_lost(row: Any) -> bool:
    """Unfinished on a worker that went offline (console/core/state.py flags it)."""
    return len(row) > _T_LOST and bool(row[_T_LOST]) and row[T_STATE] not in FINISHED


def elapsed(row: Any, now: float) -> float | None:
    """Seconds since a running task started (None unless STARTED with a start time)."""
    started = row[T_STARTED]
    if row[T_RUNTIME] is None and row[T_STATE] == "STARTED" and isinstance(started, int | float):
        return max(0.0, now - started)
    return None


def _value(row: Any, key: str, now: float = 0.0, revoke_sent: bool = False) -> Text:
    if key == "state":
        if is_lost(row):
            return Text("lost?", style="bold red", no_wrap=True)
        if revoke_sent and row[T_STATE] not in FINISHED:
            return Text("revoke sent", style="bold yellow", no_wrap=True)
        return state_text(row[T_STATE])
    if key == "name":
        return cell(row[T_NAME], 80)
    if key == "worker":
        return cell(row[T_HOST], 60)
    if key == "received":
        return Text(clock_time(row[T_RECEIVED]))
    if key == "started":
        return Text(clock_time(row[T_STARTED]))
    if key == "runtime":
        running = elapsed(row, now)
        if running is not None:  # still running: time so far, "+" = still counting
            return Text(duration(running) + "+", style="yellow")
        return Text(duration(row[T_RUNTIME]) if row[T_RUNTIME] is not None else "")
    if key == "retries":
        return Text(str(row[T_RETRIES] or ""))
    if key == "uuid":
        return cell(row[T_UUID], 40)
    if key == "args":
        args, kwargs = row[T_ARGS], row[T_KWARGS]
        text = "" if args in (None, "", "()", "[]") else str(args)
        if kwargs not in (None, "", "{}"):
            text = f"{text} {kwargs}" if text else str(kwargs)
        return cell(text, 200, style="dim")
    return Text("")


class TaskList(ScrollView, can_focus=True):
    """Virtual task table (Line API)."""

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="tasks.up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="tasks.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="tasks.pageup"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="tasks.pagedown"),
        Binding("home,g", "jump(0)", "First", show=False, id="tasks.first"),
        Binding("end,G", "jump(-1)", "Last", show=False, id="tasks.last"),
        Binding("enter", "select", "Detail", id="tasks.detail", tooltip="Open the task detail"),
    ]
    COMPONENT_CLASSES = {"task-list--header", "task-list--cursor", "task-list--sorted"}
    DEFAULT_CSS = """
    TaskList { height: 1fr; overflow-x: hidden; }
    TaskList > .task-list--header { text-style: bold; background: $boost; }
    TaskList > .task-list--cursor { background: $accent 60%; text-style: bold; }
    TaskList:blur > .task-list--cursor { background: $accent 30%; text-style: none; }
    TaskList > .task-list--sorted { text-style: bold underline; }
    """

    cursor = reactive(0, always_update=True, repaint=True)

    class Selected(Message):
        def __init__(self, uuid: str) -> None:
            super().__init__()
            self.uuid = uuid

    class Highlighted(Message):
        def __init__(self, uuid: str | None) -> None:
            super().__init__()
            self.uuid = uuid

    class WindowNeeded(Message):
        """Rows around the visible part are not in the window: ask the feed for them."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.window = TaskWindow()
        self.sort_key = "timestamp"
        self.reverse = True
        self.cursor_id: str | None = None
        #: marked task ids (console/ui/marks.py): their state cell starts with "*"
        self.marks: Container[str] = ()
        #: tasks this console sent a revoke for: "revoke sent" until their state confirms
        self.revoke_sent: Container[str] = ()
        #: the wall clock running tasks' elapsed time is measured with (the app's)
        self.clock: Callable[[], float] = time.time
        self._cache: dict[tuple[Any, ...], tuple[Any, Strip]] = {}
        self._header_cache: tuple[Any, Strip] | None = None
        self._asked: tuple[int, int, int] | None = (
            None  # (offset, limit, answer seq) last asked for
        )

    # -- data ---------------------------------------------------------------
    @property
    def matched(self) -> int:
        return self.window.matched

    def row_at(self, index: int) -> Any:
        """The row at ``index`` of the filtered list, or None if not in the window."""
        i = index - self.window.offset
        rows = self.window.rows
        return rows[i] if 0 <= i < len(rows) else None

    def wanted(self) -> tuple[int, int]:
        """(offset, limit) to ask for: the visible rows with a page either side."""
        height = max(1, self.scrollable_content_region.height - 1, self.size.height - 1)
        top = int(self.scroll_offset.y)
        return max(0, top - height), 3 * height + 2

    def set_window(self, window: TaskWindow) -> None:
        """New rows / counts (cheap: renders lazily); the cursor follows its task."""
        self.window = window
        self.sort_key, self.reverse = window.spec.sort, window.spec.reverse
        if len(self._cache) > 2000:
            self._cache.clear()
        index = self.cursor
        was_visible = self._cursor_visible()
        following = (
            self.cursor_id is not None
            and window.spec.cursor == self.cursor_id
            and window.cursor_index is not None
        )
        if following and window.cursor_index is not None:
            index = window.cursor_index
        elif self.cursor_id is not None:
            # an answer to an older request (the cursor moved since): the highlighted task
            # is still the one acted on if it is in these rows, wherever they put it
            for i, row in enumerate(window.rows):
                if row[T_UUID] == self.cursor_id:
                    index, following = window.offset + i, True
                    break
        self.virtual_size = Size(self.size.width, window.matched + 1)
        # following its task, the cursor may leave the rows sent: keep the id; if it was on
        # screen the view scrolls with it (new rows above never push it off the screen;
        # a user who scrolled away with the wheel keeps the view they chose)
        self._set_cursor(index, scroll=following and was_visible, keep_id=following)
        self.refresh()
        self.check_window()

    def check_window(self) -> None:
        """Post WindowNeeded when the visible lines are not all in the window."""
        n = self.window.matched
        if not n:
            return
        height = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_offset.y)
        first, last = top, min(n, top + height) - 1
        off, count = self.window.offset, len(self.window.rows)
        if off <= first and (last < off + count or off + count >= n):
            return
        offset, limit = self.wanted()
        spec = self.window.spec
        if (offset, limit) == (spec.offset, spec.limit):
            return  # this is the answer to exactly that slice: asking again cannot help
        if (offset, limit, spec.seq) != self._asked:  # once per slice and answer
            self._asked = (offset, limit, spec.seq)
            self.post_message(self.WindowNeeded())

    @property
    def selected(self) -> str | None:
        row = self.row_at(self.cursor)
        return row[T_UUID] if row is not None else self.cursor_id

    def _set_cursor(self, index: int, scroll: bool = True, keep_id: bool = False) -> None:
        n = self.window.matched
        index = max(0, min(index, n - 1)) if n else 0
        old = self.cursor_id
        self.cursor = index
        row = self.row_at(index)
        if row is not None or not keep_id:
            self.cursor_id = row[T_UUID] if row is not None else None  # None: not known yet
        if scroll:
            self._scroll_to_cursor()
        if self.cursor_id != old:
            self.post_message(self.Highlighted(self.cursor_id))

    def _moved(self) -> None:
        """After a user move: live updates should follow the task now under the cursor."""
        if self.cursor_id != self.window.spec.cursor:
            self.post_message(self.WindowNeeded())

    def _cursor_visible(self) -> bool:
        height = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_offset.y)
        return top <= self.cursor < top + height

    def _scroll_to_cursor(self) -> None:
        height = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False)

    # -- actions ------------------------------------------------------------
    def action_cursor(self, delta: int) -> None:
        self._set_cursor(self.cursor + delta)
        self._moved()

    def action_page(self, direction: int) -> None:
        self._set_cursor(
            self.cursor + direction * max(1, self.scrollable_content_region.height - 2)
        )
        self._moved()

    def action_jump(self, where: int) -> None:
        self._set_cursor(0 if where == 0 else self.window.matched - 1)
        self._moved()

    def action_select(self) -> None:
        if self.selected:
            self.post_message(self.Selected(self.selected))

    def on_click(self, event: Any) -> None:
        y = event.y
        if y >= 1:
            self._set_cursor(int(self.scroll_offset.y) + y - 1, scroll=False)
            self._moved()

    # -- rendering ----------------------------------------------------------
    def _layout(self, width: int) -> list[tuple[str, str, int]]:
        cols = [(k, t, w) for k, t, w, min_w in COLUMNS if width >= min_w]
        fixed = sum(w for _, _, w in cols if w) + len(cols) - 1
        flex = max(8, width - fixed)
        return [(k, t, w or flex) for k, t, w in cols]

    def _line(self, texts: list[Text], widths: list[int], width: int, style: Any = None) -> Strip:
        line = Text(no_wrap=True, overflow="ellipsis")
        for i, (text, w) in enumerate(zip(texts, widths, strict=True)):
            text = text.copy()
            text.truncate(w, overflow="ellipsis", pad=True)
            line.append_text(text)
            if i < len(texts) - 1:
                line.append(" ")
        null = _NULL
        segments = [
            Segment(s.text, s.style or null)
            for s in line.render(self.app.console)
            if s.text != "\n"
        ]
        strip = Strip(segments).adjust_cell_length(width, null)
        if style is not None:
            strip = strip.apply_style(style)
        return strip

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width or self.size.width
        layout = self._layout(width)
        widths = [w for _, _, w in layout]
        if y == 0:
            key = (width, self.sort_key, self.reverse)
            if self._header_cache and self._header_cache[0] == key:
                return self._header_cache[1]
            titles = []
            for k, title, _ in layout:
                if k == self.sort_key:
                    titles.append(Text(title + ("▼" if self.reverse else "▲"), style="underline"))
                else:
                    titles.append(Text(title))
            strip = self._line(
                titles, widths, width, self.get_component_rich_style("task-list--header")
            )
            self._header_cache = (key, strip)
            return strip
        index = int(self.scroll_offset.y) + y - 1
        if index >= self.window.matched:
            if index == 0 and not self.window.matched:
                return Strip(
                    [Segment("  no tasks match" if self.window.total else "  no tasks yet", _NULL)]
                ).adjust_cell_length(width, _NULL)
            return Strip.blank(width, _NULL)
        row = self.row_at(index)
        if row is None:  # not in the window yet (asked for: check_window)
            return Strip([Segment("  …", Style(dim=True))]).adjust_cell_length(width, _NULL)
        uid = row[T_UUID]
        selected = index == self.cursor
        marked = uid in self.marks
        sent = uid in self.revoke_sent
        now = self._now()
        running = elapsed(row, now)
        ckey = (uid, width, selected, self.has_focus, marked, sent)
        cached = self._cache.get(ckey)
        # a running task's elapsed time is part of the row as painted (tenths of a second)
        painted = (row, None if running is None else round(running, 1))
        if cached is not None and cached[0] == painted:
            return cached[1]
        style = self.get_component_rich_style("task-list--cursor") if selected else None
        texts = [_value(row, k, now, sent) for k, _, _ in layout]
        if marked:
            texts[0] = Text("*", style="bold reverse") + texts[0]
        strip = self._line(texts, widths, width, style)
        self._cache[ckey] = (painted, strip)
        return strip

    def on_mount(self) -> None:
        # running tasks' elapsed time moves with the clock, not only with events
        self.set_interval(1.0, self._tick_running)

    def _tick_running(self) -> None:
        now = self._now()
        if any(elapsed(r, now) is not None for r in self.window.rows):
            self.refresh()

    def _now(self) -> float:
        return float(self.clock())

    def on_resize(self) -> None:
        self._cache.clear()
        self._header_cache = None
        self.virtual_size = Size(self.size.width, self.window.matched + 1)
        self._asked = None
        self.post_message(self.WindowNeeded())  # the window's size follows the height

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self.check_window()

    def watch_has_focus(self, _value: bool) -> None:
        self.refresh()


__all__ = ["TaskList", "COLUMNS", "T_UUID"]
