"""The common shape of every console screen: header, body, footer; refresh on demand."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from ..widgets.header import ClusterHeader

if TYPE_CHECKING:
    from ..app import ConsoleApp


class ConsoleScreen(Screen):
    """Subclasses implement ``compose_body`` and ``refresh_model``.

    Actions named ``action_do_*`` change the cluster: hidden and refused in
    read-only mode (:meth:`check_action`).
    """

    MODE = ""
    TITLE_TEXT = ""

    @property
    def capp(self) -> ConsoleApp:
        return self.app  # type: ignore[return-value]

    @property
    def active_bindings(self) -> dict[str, Any]:
        """Textual's active bindings with the app's first (screens, help, quit).

        The footer lists them in this order: at 80 columns it cuts the end, so
        the keys that get you anywhere (``1``-``9``, ``?``, ``q``) stay visible
        and this screen's actions follow as far as they fit (all are in ``?``).
        """
        bindings = super().active_bindings
        app = self.app
        first = {k: b for k, b in bindings.items() if b.node is app}
        return first | {k: b for k, b in bindings.items() if k not in first}

    def compose(self) -> ComposeResult:
        yield ClusterHeader(self.MODE)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action.startswith("do_") and getattr(self.app, "read_only", False):
            return False
        return True

    def on_screen_resume(self) -> None:
        try:
            self.refresh_header()
            self.refresh_model(True, True)
        except NoMatches:
            self.call_after_refresh(self._late_refresh)

    def _late_refresh(self) -> None:
        try:
            self.refresh_header()
            self.refresh_model(True, True)
        except NoMatches:
            pass

    def refresh_header(self) -> None:
        for header in self.query(ClusterHeader):
            header.update_from_app()

    def refresh_model(self, tasks_changed: bool, workers_changed: bool) -> None:
        """Called at the bounded repaint rate while this screen is active."""

    def tick(self) -> None:
        """Called about once a second while active (countdowns)."""

    # what the palette / actions apply to
    def current_task(self) -> tuple[str, str] | None:
        return None

    def current_worker(self) -> str | None:
        return None

    def current_queue(self) -> str | None:
        return None

    def request(self, action: str, target: str | None, label: str = "", **params: Any) -> None:
        self.capp.request_action(action, target, label=label, params=params or None)


class PolledScreen(ConsoleScreen):
    """A screen that asks the cluster (in a thread worker): on mount, on demand and
    every ``poll_interval`` seconds (times ``POLL_FACTOR``, at least ``POLL_MIN``)
    while it is shown; a poll that falls due while hidden runs on resume.

    Subclasses implement ``start_poll`` (start the worker), ``_update_bar`` and,
    when not remote control, ``unavailable``; their answer handler calls
    :meth:`answered` first and :meth:`schedule_next` last.
    """

    POLL_FACTOR = 1.0
    POLL_MIN = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.error: str | None = None
        self._polling = False
        self._stale = False

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.poll()

    def on_screen_resume(self) -> None:
        # (ConsoleScreen.on_screen_resume runs too: Textual calls each class's handler)
        if self._stale:
            self._stale = False
            self.poll()

    def unavailable(self) -> str | None:
        """Why this screen cannot ask (None: it can)."""
        return None if self.capp.remote is not None else self.capp.remote_unavailable_reason

    def poll(self) -> None:
        if self._polling:
            return
        reason = self.unavailable()
        if reason:
            self.error = reason
            self._update_bar()
            return
        self._polling = True
        self.start_poll()

    def start_poll(self) -> None:
        raise NotImplementedError

    def _update_bar(self) -> None:
        raise NotImplementedError

    def answered(self, error: str | None) -> None:
        self._polling = False
        self.error = error

    def schedule_next(self) -> None:
        interval = self.capp.poll_interval
        if interval and interval > 0:
            self.set_timer(max(interval * self.POLL_FACTOR, self.POLL_MIN), self._scheduled)

    def _scheduled(self) -> None:
        if self.is_current:
            self.poll()
        else:
            self._stale = True

    def action_refresh(self) -> None:
        self.poll()

    def cursor_key(self) -> str | None:
        """The row key under the table's cursor (None: empty table)."""
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            return None
        return str(key) if key is not None else None
