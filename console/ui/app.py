"""The console App and :func:`create_app`, the one constructor (``ctl console``, ``ctl demo``, tests).

The app consumes a Feed (docs/ARCHITECTURE.md): a ``set_interval`` timer at
``refresh`` seconds (default 0.2 s = 5 Hz) calls ``feed.poll()``, merges the
StateDelta into the :class:`~console.ui.model.UIModel` by diff and asks only
the *active* screen to repaint.  The task list is filtered and sorted by the
feed (:meth:`ConsoleApp.request_view`): the UI process holds only the rows on
screen, and a window asked for by a keystroke is painted as soon as it
arrives (:class:`~console.ui.messages.WindowReady`), not at the next tick.  Network calls (remote control, queues,
beat, task detail) run in thread workers and come back as typed messages
(:mod:`console.ui.messages`); the UI thread never blocks on the network.
"""

from __future__ import annotations

import gc
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from textual import events, work
from textual.app import App, ScreenStackError
from textual.binding import Binding
from textual.command import CommandPalette
from textual.css.query import NoMatches

from console.core.clock import system_clock
from console.core.errors import EXIT_CRASHED
from console.core.sanitize import mask_url, safe_text

from .actions import ACTIONS, ActionRequest, autoscale_refusal, caveat, execute, revoked_ids
from .actions import UNFINISHED as UNFINISHED_STATES
from .commands import ConsoleCommands
from .messages import ActionDone, WindowReady
from .model import UIModel
from .widgets.task_list import TaskList

SCREENS_GROUP = Binding.Group("Screens", compact=True)

APP_BINDINGS = [
    Binding("1", "show('workers')", "Workers", id="screen.workers", group=SCREENS_GROUP),
    Binding("2", "show('tasks')", "Tasks", id="screen.tasks", group=SCREENS_GROUP),
    Binding("3", "show('active')", "Active", id="screen.active", group=SCREENS_GROUP),
    Binding("4", "show('reserved')", "Reserved", id="screen.reserved", group=SCREENS_GROUP),
    Binding("5", "show('scheduled')", "Scheduled", id="screen.scheduled", group=SCREENS_GROUP),
    Binding("6", "show('revoked')", "Revoked", id="screen.revoked", group=SCREENS_GROUP),
    Binding("7", "show('canvas')", "Canvas", id="screen.canvas", group=SCREENS_GROUP),
    Binding("8", "show('beat')", "Beat", id="screen.beat", group=SCREENS_GROUP),
    Binding("9", "show('queues')", "Queues", id="screen.queues", group=SCREENS_GROUP),
    Binding(
        "question_mark,f1",
        "help",
        "Help",
        key_display="?",
        id="app.help",
        tooltip="every key of every screen",
    ),
    Binding("q", "quit", "Quit", id="app.quit"),
]

# Ctrl-C quits (ops users expect it); Textual's default only shows a "press ctrl+q" notice.
# priority: it wins over focused widgets; show=False: the footer keeps "q Quit".
CTRL_C_QUIT = Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="app.quit_ctrl_c")

#: exit status of a console that crashed (EX_SOFTWARE): one stderr line names the crash report
CRASH_EXIT = EXIT_CRASHED

MODE_TITLES = {
    b.action.split("'")[1]: b.description for b in APP_BINDINGS if b.action.startswith("show(")
}


def _mode_factory(mode: str) -> Callable[[], Any]:
    def make() -> Any:
        if mode == "workers":
            from .screens.workers import WorkersScreen

            return WorkersScreen()
        if mode == "tasks":
            from .screens.tasks import TasksScreen

            return TasksScreen()
        if mode in ("active", "reserved", "scheduled", "revoked"):
            from .screens.remote_view import RemoteViewScreen

            return RemoteViewScreen(mode)
        if mode == "canvas":
            from .screens.canvas import CanvasScreen

            return CanvasScreen()
        if mode == "beat":
            from .screens.beat import BeatScreen

            return BeatScreen()
        if mode == "queues":
            from .screens.queues import QueuesScreen

            return QueuesScreen()
        raise KeyError(mode)

    return make


class ConsoleApp(App[int]):
    """Full-screen operations console for a Celery cluster."""

    TITLE = "ctl console"
    CSS_PATH = "styles/app.tcss"
    BINDINGS = [*APP_BINDINGS, CTRL_C_QUIT]
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    MODES = {mode: _mode_factory(mode) for mode in MODE_TITLES}
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        settings: Any = None,
        feed: Any = None,
        *,
        read_only: bool = False,
        clock: Callable[[], float] = system_clock,
        remote: Any = None,
        poll_interval: float = 5.0,
        refresh: float = 0.2,
        initial: str = "workers",
        cluster_label: str | None = None,
        beat_schedule_file: str | None = None,
        action_timeout: float = 2.0,
        cursor_blink: bool = True,
        max_tasks: int = 100_000,
        utc: bool = False,
    ) -> None:
        super().__init__()
        from .fmt import set_zone

        self.utc = utc
        set_zone(utc)  # clock times: local (the terminal's TZ) unless --utc
        self.cursor_blink = cursor_blink
        self.settings = settings
        self.feed = feed
        self._read_only = bool(read_only)
        self.clock = clock
        self._remote = remote
        self._remote_error: str | None = None
        self.poll_interval = poll_interval
        self.refresh_interval = refresh
        self.initial_mode = initial
        self.beat_schedule_file = beat_schedule_file
        self.action_timeout = action_timeout
        self.model = UIModel()
        self._reported: set[str] = set()
        self._gc_threshold: tuple[int, int, int] | None = None
        self.selected_task: str | None = None
        self.action_log: list[ActionDone] = []
        #: task ids this console sent a revoke for (TaskList shows "revoke sent")
        self.revoke_sent: set[str] = set()
        #: the last ``stats`` reply of each worker (Workers screen, worker detail)
        self.worker_stats: dict[str, Any] = {}
        self.started_at = time.perf_counter()
        self.first_frame: float | None = None
        self._label_pending = cluster_label is None and settings is not None
        if cluster_label is None:
            # the effective URL may need the -A app (a Celery import): known after the first frame
            explicit = getattr(settings, "broker_url", None) if settings is not None else None
            cluster_label = (
                mask_url(explicit)
                if explicit
                else ("connecting …" if settings is not None else "(no broker)")
            )
        self.cluster_label = cluster_label
        self.max_tasks = max_tasks
        self._view_spec: Any = None  # the task view last asked for (ViewSpec)
        self.crash_report: str | None = None  # path of the crash report, once written
        self.crash_line: str | None = None  # the one line printed on stderr after a crash
        self._crash_buffer: io.StringIO | None = None

    # -- crashes --------------------------------------------------------------
    def _handle_exception(self, error: Exception) -> None:
        """An unhandled exception: Textual's hook (there is no public one).

        Textual exits the app and prints a traceback with locals; here the
        traceback goes to a crash report file (scrubbed of the broker password,
        mode 0600) and :meth:`run` prints one line naming it and returns
        :data:`CRASH_EXIT`.
        """
        if self._crash_buffer is None:
            self._crash_buffer = io.StringIO()
            self.error_console = Console(
                file=self._crash_buffer, width=120, color_system=None, markup=False
            )
            self.crash_line = f"{type(error).__name__}: {error}"
        super()._handle_exception(error)

    def write_crash_report(self) -> str | None:
        """Write what the crash left (traceback) to a file; its path (None: no crash)."""
        if self._crash_buffer is None:
            return self.crash_report
        text = self._scrub(self._crash_buffer.getvalue())
        self._crash_buffer = None
        try:
            fd, path = tempfile.mkstemp(prefix="ctl-console-crash-", suffix=".txt")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(f"ctl console crash at {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n")
                fh.write(text)
            self.crash_report = path
        except OSError:
            self.crash_report = None
        return self.crash_report

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """App.run; after a crash: one line on stderr with the report's path, CRASH_EXIT."""
        result = super().run(*args, **kwargs)
        if self._crash_buffer is None and self.crash_line is None:
            return result
        path = self.write_crash_report()
        line = self._scrub(self.crash_line or "internal error").replace("\n", " ")[:300]
        where = f"crash report: {path}" if path else "no crash report could be written"
        try:
            print(f"ctl console: crashed ({line}); {where}", file=sys.stderr, flush=True)
        except (OSError, ValueError):
            pass  # the terminal may be gone: the exit code still says it
        self.crash_line = None
        return CRASH_EXIT

    @property
    def crashed(self) -> bool:
        return self.crash_report is not None or self._crash_buffer is not None

    # -- type-ahead -----------------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        """Keys typed before a dialog was shown never reach it (see screens/guard.py)."""
        if isinstance(event, events.Key) and event.key != "ctrl+c":
            screen = self._current()
            accepts = getattr(screen, "accepts_key", None)
            drop = accepts is not None and not accepts(event)
            # Textual 8.2.8: page up/down in the command palette before its option list
            # was laid out raises KeyError in OptionList (found by tests/keyfuzz.py)
            drop = drop or (
                isinstance(screen, CommandPalette) and event.key in ("pageup", "pagedown")
            )
            if drop:
                event.stop()
                event.prevent_default()
                return
        await super().on_event(event)

    @property
    def read_only(self) -> bool:
        """Refuse every action.  A read-only context (``settings.read_only``) stays read-only
        whatever is set here: nothing in the console can make it writable."""
        return self._read_only or bool(getattr(self.settings, "read_only", False))

    @read_only.setter
    def read_only(self, value: bool) -> None:
        self._read_only = bool(value)

    # -- lifecycle ----------------------------------------------------------
    def on_mount(self) -> None:
        self.switch_mode(self.initial_mode)
        self.call_after_refresh(self._after_first_frame)

    def _after_first_frame(self) -> None:
        self.first_frame = time.perf_counter() - self.started_at
        # up to 100k rows live for minutes: fewer young-generation collections
        # (each one costs more with a big heap) keep keypresses under ~100 ms
        gc.freeze()
        gen0, gen1, gen2 = self._gc_threshold = gc.get_threshold()
        gc.set_threshold(max(gen0, 50_000), max(gen1, 20), max(gen2, 20))
        if self._label_pending:
            self._label_pending = False
            try:
                self.cluster_label = self.settings.masked_broker
            except Exception as exc:
                self.cluster_label = "(broker unknown)"
                self.notify(self.error_text(exc), severity="error", markup=False)
        if self.feed is None and self.settings is not None:
            try:
                from console.core.feed import LiveFeed

                self.feed = LiveFeed(
                    self.settings,
                    max_tasks=self.max_tasks,
                    rate_hz=max(1.0, 1.0 / max(self.refresh_interval, 0.05)),
                )
            except Exception as exc:
                self.notify(self.error_text(exc), severity="error", markup=False)
        self._repaint(False, False)
        if self.feed is not None:
            if hasattr(self.feed, "on_window"):
                self.feed.on_window = self._window_arrived
            try:
                self.feed.start()  # LiveFeed starts its process with the real stdio
            except Exception as exc:
                self.notify(
                    self._scrub(f"feed failed to start: {exc}"), severity="error", markup=False
                )
            # a Tasks screen may have asked before the feed existed; otherwise a warm view
            # with no rows: from the start the feed sends counts and windows, never every row
            self.request_view(
                self._view_spec if self._view_spec is not None else self.model.spec(limit=0)
            )
            self.poll_feed()
            self.set_interval(self.refresh_interval, self.poll_feed, name="feed-poll")
        self.set_interval(1.0, self._second, name="second")

    def on_unmount(self) -> None:
        if self._gc_threshold is not None:  # leave the process as we found it (tests, ctl demo)
            gc.set_threshold(*self._gc_threshold)
            gc.unfreeze()
        if self.feed is not None:
            try:
                self.feed.stop()
            except Exception:
                pass

    def _window_arrived(self) -> None:
        """From the feed's receiver thread: a window asked for is there."""
        self.post_message(WindowReady())

    def on_window_ready(self, _message: WindowReady) -> None:
        self.poll_feed()

    def request_view(self, spec: Any) -> None:
        """Ask for the task-list window ``spec`` (a ViewSpec); painted when it arrives."""
        self._view_spec = spec
        if self.feed is None:  # not started yet (the first frame comes first): sent on start
            return
        request = getattr(self.feed, "request_view", None)
        if request is None:  # a feed of plain rows: the view is computed here
            self.model.view_locally(spec)
            self._repaint(True, False)
            return
        try:
            request(spec)
        except Exception as exc:
            self._report_once(self._scrub(f"feed error: {exc}"))
            return
        self.poll_feed()  # in-process feeds answer at once

    def poll_feed(self) -> None:
        """Merge everything the feed has, then repaint the active screen once."""
        try:
            delta = self.feed.poll() if self.feed is not None else None
        except Exception as exc:
            self.notify(self._scrub(f"feed error: {exc}"), severity="error", markup=False)
            return
        if delta is None:
            if self.model.refresh_local():
                self._repaint(True, False)
                return
            status = getattr(self.feed, "status", None)
            if status is not None and status != self.model.status:
                self.model.status = status
                self._repaint(False, False)
            return
        tasks_changed, workers_changed = self.model.apply(delta)
        if getattr(delta, "full", False) and len(delta.tasks) > 10_000:
            # a big snapshot of long-lived rows: keep the collector from re-walking it
            gc.freeze()
        self._repaint(tasks_changed, workers_changed)

    def _current(self) -> Any:
        try:
            return self.screen
        except ScreenStackError:  # switching modes / shutting down
            return None

    def _repaint(self, tasks_changed: bool, workers_changed: bool) -> None:
        screen = self._current()
        refresh_header = getattr(screen, "refresh_header", None)
        if refresh_header is None:  # a modal: repaint the screen under it later (on resume)
            return
        try:
            with self.batch_update():
                refresh_header()
                screen.refresh_model(tasks_changed, workers_changed)
        except NoMatches:
            pass  # a screen still mounting its widgets: the next tick repaints it
        except Exception as exc:
            self._report_once(f"display error: {type(exc).__name__}: {exc}")

    def _report_once(self, message: str) -> None:
        if message not in self._reported:
            self._reported.add(message)
            self.log.error(message)
            self.notify(self._scrub(message), severity="error", markup=False)

    def _second(self) -> None:
        screen = self._current()
        refresh_header = getattr(screen, "refresh_header", None)
        if refresh_header is not None:  # the rate decays and "no events for N s" counts
            try:
                refresh_header()
            except NoMatches:
                pass
        tick = getattr(screen, "tick", None)
        if tick is not None:
            try:
                tick()
            except NoMatches:
                pass
            except Exception as exc:
                self._report_once(f"display error: {type(exc).__name__}: {exc}")

    # -- services for screens -----------------------------------------------
    @property
    def remote(self) -> Any:
        """The shared RemoteControl (lazy; None when unavailable)."""
        if self._remote is None and self.settings is not None and self._remote_error is None:
            try:
                from console.core.remote import RemoteControl

                self._remote = RemoteControl(self.settings)
            except Exception as exc:
                self._remote_error = f"remote control not available: {exc}"
        return self._remote

    @property
    def remote_unavailable_reason(self) -> str:
        if self.settings is None and self._remote is None:
            return "remote control not available (no broker: replay mode)"
        return self._remote_error or "remote control not available"

    def _scrub(self, message: str) -> str:
        scrub = getattr(self.settings, "scrub", None)
        return scrub(message) if scrub else message

    def error_text(self, exc: BaseException) -> str:
        msg = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        return self._scrub(str(msg))

    # -- navigation ---------------------------------------------------------
    def action_show(self, mode: str) -> None:
        if self.current_mode == mode and len(self.screen_stack) > 1:
            # back to the root of the mode (e.g. from a task detail)
            while len(self.screen_stack) > 1:
                self.pop_screen()
            return
        self.switch_mode(mode)

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        self.push_screen(HelpScreen(self.help_sections(), self.read_only))

    def help_sections(self) -> list[tuple[str, list[Any]]]:
        from .screens.beat import BeatScreen
        from .screens.canvas import CanvasScreen
        from .screens.queues import QueuesScreen
        from .screens.remote_view import RemoteViewScreen
        from .screens.task_detail import TaskDetailScreen
        from .screens.tasks import TasksScreen
        from .screens.worker_detail import WorkerDetailScreen
        from .screens.workers import WorkersScreen

        return [
            (
                "Everywhere",
                list(APP_BINDINGS) + [Binding("ctrl+p", "command_palette", "Command palette")],
            ),
            ("Workers (1)", WorkersScreen.BINDINGS),
            ("Worker detail", WorkerDetailScreen.BINDINGS),
            ("Tasks (2)", TasksScreen.BINDINGS + TaskList.BINDINGS),
            ("Task detail", TaskDetailScreen.BINDINGS),
            ("Active / Reserved / Scheduled / Revoked (3-6)", RemoteViewScreen.BINDINGS),
            ("Canvas (7)", CanvasScreen.BINDINGS),
            ("Beat (8)", BeatScreen.BINDINGS),
            ("Queues (9)", QueuesScreen.BINDINGS),
        ]

    def open_task(self, uuid: str) -> None:
        from .screens.task_detail import TaskDetailScreen

        self.selected_task = uuid
        self.push_screen(TaskDetailScreen(uuid))

    def open_canvas(self, uuid: str) -> None:
        """Show the canvas of ``uuid``; the Canvas screen loads it on mount / resume
        (it may not be composed yet: never query it from here)."""
        self.selected_task = uuid
        if self.current_mode == "canvas":
            reload = getattr(self.screen, "load", None)
            if reload is not None and self.screen.is_mounted:
                reload()
            return
        self.switch_mode("canvas")

    # -- actions ------------------------------------------------------------
    def request_action(
        self,
        action: str,
        target: str | None,
        *,
        label: str = "",
        params: dict[str, str] | None = None,
        targets: tuple[str, ...] = (),
    ) -> bool:
        """Ask for parameters, confirm, then run ``action`` in a thread worker.

        ``targets``: marked tasks (the action acts on all of them; ``target`` is the first).
        Returns False when refused right away (read-only, no target).
        """
        spec = ACTIONS[action]
        if self.read_only:
            self.notify(
                f"read-only console: {spec.title.lower()} refused",
                severity="warning",
                title="Read-only",
                markup=False,
            )
            return False
        if target is None:
            what = {"task": "a task", "worker": "a worker", "queue": "a queue"}[spec.target]
            self.notify(f"select {what} first", severity="warning", markup=False)
            return False
        if action == "autoscale":  # offered only to workers started with --autoscale
            hosts = [target] if target else sorted(self.model.workers)
            refusal = autoscale_refusal(hosts, self.worker_stats)
            if refusal:
                self.notify(refusal, severity="warning", title=spec.title, markup=False)
                return False
        req = ActionRequest(action, target, dict(params or {}), label, targets=tuple(targets))
        if spec.target == "task" and not self._task_target_ok(req):
            return False
        if action == "revoke_canvas" and "ids" not in req.params:
            self.notify("finding the canvas members …", markup=False, timeout=3)
            self._plan_canvas(req)
            return True
        self._ask(req)
        return True

    def _task_target_ok(self, req: ActionRequest) -> bool:
        """Name the task's state; a finished task has nothing to revoke (no dialog)."""
        from .actions import UNFINISHED
        from .model import T_NAME, T_STATE

        row = self.model.tasks.get(req.target)
        if row is None or len(req.targets) > 1:  # marked tasks: the dialog counts them
            return True
        state = row[T_STATE]
        req.state = str(state or "")
        if not req.label:
            req.label = str(row[T_NAME] or "")
        if req.action in ("revoke", "terminate") and state not in UNFINISHED:
            self.notify(
                f"task {safe_text(req.target, 60, oneline=True)} is {safe_text(state, 20)}: "
                "already finished: nothing to revoke",
                severity="warning",
                markup=False,
            )
            return False
        return True

    @work(thread=True, exit_on_error=False, group="plan")
    def _plan_canvas(self, req: ActionRequest) -> None:
        from .actions import plan_canvas

        try:
            members = plan_canvas(
                req,
                remote=self.remote,
                settings=self.settings,
                canvas=getattr(self.feed, "canvas", None),
                timeout=self.action_timeout,
            )
        except Exception as exc:
            self.post_message(ActionDone(req.action, req.target, False, self.error_text(exc)))
            return
        self.call_from_thread(self._confirm_canvas, req, members)

    def _confirm_canvas(self, req: ActionRequest, members: list[tuple[str, str, str]]) -> None:
        unfinished = [m for m in members if m[2] in UNFINISHED_STATES]
        if not unfinished:
            self.notify(
                f"canvas of {safe_text(req.target, 60, oneline=True)}: {len(members)} task(s), "
                "all finished: nothing to revoke",
                severity="warning",
                markup=False,
            )
            return
        req.params["ids"] = ",".join(m[0] for m in unfinished)
        req.members = unfinished
        self._ask(req)

    def _ask(self, req: ActionRequest) -> None:
        from .screens.confirm import ConfirmScreen
        from .screens.form import FormScreen

        spec = ACTIONS[req.action]

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_action_request(req)

        def filled(values: dict[str, str] | None) -> None:
            if values is None:
                return
            req.params.update(values)
            title = spec.title + (f" × {len(req.targets)}" if len(req.targets) > 1 else "")
            text = req.describe() + caveat(req, self.settings)
            self.push_screen(ConfirmScreen(title, text, spec.destructive), confirmed)

        missing = [f for f in spec.fields if f[0] not in req.params]
        if missing:
            fields = tuple((n, lbl, str(req.params.get(n, d))) for n, lbl, d in spec.fields)
            title = spec.title
            if spec.target == "task":
                title += f" — {req.target_text()}"
            elif spec.target == "worker":
                title += f" — {req.workers_text()}"
            self.push_screen(FormScreen(title, fields, req.action), filled)
        else:
            filled({})

    @work(thread=True, exit_on_error=False, group="action")
    def run_action_request(self, req: ActionRequest) -> None:
        if self.read_only:  # defence in depth: never reached through the UI
            self.post_message(ActionDone(req.action, req.target, False, "refused: read-only"))
            return
        try:
            outcome = execute(
                req,
                remote=self.remote,
                settings=self.settings,
                canvas=getattr(self.feed, "canvas", None),
                timeout=self.action_timeout,
            )
            msg = ActionDone(
                req.action,
                req.target,
                outcome.ok,
                outcome.summary,
                outcome.result,
                revoked=revoked_ids(req) if outcome.ok else (),
            )
        except Exception as exc:
            msg = ActionDone(req.action, req.target, False, self.error_text(exc))
        self.post_message(msg)

    def on_action_done(self, message: ActionDone) -> None:
        self.action_log.append(message)
        del self.action_log[:-100]
        if message.revoked:  # rows say "revoke sent" until the worker's event confirms
            self.revoke_sent.update(message.revoked)
            for tl in self.screen.query(TaskList):
                tl.refresh()
        spec = ACTIONS.get(message.action)
        title = spec.title if spec else message.action
        self.notify(
            message.summary,
            title=title,
            severity="information" if message.ok else "error",
            timeout=8,
            markup=False,
        )
        hook = getattr(self.screen, "on_action_result", None)
        if hook is not None:
            hook(message)


def create_app(
    settings: Any = None,
    feed: Any = None,
    *,
    read_only: bool = False,
    clock: Callable[[], float] | None = None,
    remote: Any = None,
    poll_interval: float = 5.0,
    refresh: float = 0.2,
    max_tasks: int = 100_000,
    initial: str = "workers",
    cluster_label: str | None = None,
    beat_schedule_file: str | None = None,
    action_timeout: float = 2.0,
    cursor_blink: bool = True,
    utc: bool = False,
) -> ConsoleApp:
    """Build the console.

    * ``settings``: ClusterSettings of the cluster (remote control, queues, beat).
      None = no broker (pure replay): remote-control screens say so.
    * ``feed``: a Feed; default: a LiveFeed on ``settings``, built and started right
      after the first frame (None if no settings).
    * ``read_only`` (or env ``CTL_READ_ONLY=1``, or ``settings.read_only``): every
      action is hidden and refused.
    * ``clock``: wall clock (countdowns, "last answer at"); FixedClock in tests.
    * ``remote``: a RemoteControl (default: built lazily from ``settings``).
    * ``poll_interval``: seconds between remote-control polls (0 = on demand only).
    * ``refresh``: seconds between feed polls / repaints.
    * ``cursor_blink``: False for deterministic snapshots.
    * ``utc``: show times in UTC instead of local time (``--utc``).
    """
    from console.core.settings import read_only_from_env

    read_only = bool(read_only or read_only_from_env() or getattr(settings, "read_only", False))
    # with feed=None and settings, the app builds a LiveFeed right after its first frame
    return ConsoleApp(
        settings,
        feed,
        read_only=read_only,
        clock=clock or system_clock,
        remote=remote,
        poll_interval=poll_interval,
        refresh=refresh,
        initial=initial,
        cluster_label=cluster_label,
        beat_schedule_file=beat_schedule_file,
        action_timeout=action_timeout,
        cursor_blink=cursor_blink,
        max_tasks=max_tasks,
        utc=utc,
    )


__all__ = ["ConsoleApp", "create_app"]
