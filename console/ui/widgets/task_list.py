"""A Line-API task table: renders only the visible rows, so 100,000 tasks stay smooth.

The widget holds no rows of its own: it renders ``ids`` (filtered / sorted
task ids from the UI model) by looking up ``rows[uuid]`` for the lines on
screen.  Line 0 is the column header; the cursor follows a task id (not a
position) across updates.
"""

from __future__ import annotations

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
)

_NULL = Style.null()

# (key, title, width (0 = flexible), min terminal width to show it)
COLUMNS: tuple[tuple[str, str, int, int], ...] = (
    ("state", "STATE", 10, 0),
    ("name", "NAME", 26, 0),
    ("worker", "WORKER", 16, 0),
    ("received", "RECEIVED", 8, 100),
    ("started", "STARTED", 8, 0),
    ("runtime", "RUNTIME", 7, 0),
    ("retries", "RT", 2, 90),
    ("uuid", "ID", 36, 140),
    ("args", "ARGS", 0, 0),
)


def _value(row: Any, key: str) -> Text:
    if key == "state":
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

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ids: list[str] = []
        self.rows: dict[str, Any] = {}
        self.sort_key = "timestamp"
        self.reverse = True
        self.cursor_id: str | None = None
        self._cache: dict[tuple[Any, ...], tuple[Any, Strip]] = {}
        self._header_cache: tuple[Any, Strip] | None = None

    # -- data ---------------------------------------------------------------
    def set_rows(self, ids: list[str], rows: dict[str, Any], sort_key: str = "timestamp",
                 reverse: bool = True) -> None:
        """New view (cheap: keeps references, renders lazily)."""
        self.ids = ids
        self.rows = rows
        self.sort_key, self.reverse = sort_key, reverse
        if len(self._cache) > 2000:
            self._cache.clear()
        if self.cursor_id is not None:
            try:
                index = ids.index(self.cursor_id) if (self.cursor < len(ids) and ids[self.cursor] != self.cursor_id) \
                    or self.cursor >= len(ids) else self.cursor
            except ValueError:
                index = min(self.cursor, max(0, len(ids) - 1))
        else:
            index = 0
        self.virtual_size = Size(self.size.width, len(ids) + 1)
        self._set_cursor(index, scroll=False)
        self.refresh()

    @property
    def selected(self) -> str | None:
        if 0 <= self.cursor < len(self.ids):
            return self.ids[self.cursor]
        return None

    def _set_cursor(self, index: int, scroll: bool = True) -> None:
        n = len(self.ids)
        index = max(0, min(index, n - 1)) if n else 0
        old = self.cursor_id
        self.cursor = index
        self.cursor_id = self.ids[index] if n else None
        if scroll:
            self._scroll_to_cursor()
        if self.cursor_id != old:
            self.post_message(self.Highlighted(self.cursor_id))

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

    def action_page(self, direction: int) -> None:
        self._set_cursor(self.cursor + direction * max(1, self.scrollable_content_region.height - 2))

    def action_jump(self, where: int) -> None:
        self._set_cursor(0 if where == 0 else len(self.ids) - 1)

    def action_select(self) -> None:
        if self.selected:
            self.post_message(self.Selected(self.selected))

    def on_click(self, event: Any) -> None:
        y = event.y
        if y >= 1:
            self._set_cursor(int(self.scroll_offset.y) + y - 1, scroll=False)

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
        segments = [Segment(s.text, s.style or null) for s in line.render(self.app.console) if s.text != "\n"]
        strip = Strip(segments).adjust_cell_length(width, null)
        if style is not None:
            strip = strip.apply_style(style)
        return strip

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width or self.size.width
        layout = self._layout(width)
        widths = [w for _, _, w in layout]
        if y == 0:
            key = (width, self.sort_key, self.reverse, len(self.ids))
            if self._header_cache and self._header_cache[0] == key:
                return self._header_cache[1]
            titles = []
            for k, title, _ in layout:
                if k == self.sort_key:
                    titles.append(Text(title + ("▼" if self.reverse else "▲"), style="underline"))
                else:
                    titles.append(Text(title))
            strip = self._line(titles, widths, width, self.get_component_rich_style("task-list--header"))
            self._header_cache = (key, strip)
            return strip
        index = int(self.scroll_offset.y) + y - 1
        if index >= len(self.ids):
            if index == 0 and not self.ids:
                return Strip([Segment("  no tasks match" if self.rows else "  no tasks yet", _NULL)]
                             ).adjust_cell_length(width, _NULL)
            return Strip.blank(width, _NULL)
        uid = self.ids[index]
        row = self.rows.get(uid)
        if row is None:
            return Strip.blank(width, _NULL)
        selected = index == self.cursor
        ckey = (uid, width, selected, self.has_focus)
        cached = self._cache.get(ckey)
        if cached is not None and cached[0] is row:
            return cached[1]
        style = self.get_component_rich_style("task-list--cursor") if selected else None
        strip = self._line([_value(row, k) for k, _, _ in layout], widths, width, style)
        self._cache[ckey] = (row, strip)
        return strip

    def on_resize(self) -> None:
        self._cache.clear()
        self._header_cache = None
        self.virtual_size = Size(self.size.width, len(self.ids) + 1)

    def watch_has_focus(self, _value: bool) -> None:
        self.refresh()


__all__ = ["TaskList", "COLUMNS", "T_UUID"]
