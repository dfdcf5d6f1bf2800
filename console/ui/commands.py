"""Command palette (ctrl+p): every screen, help, and every action (on the current selection)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .actions import ACTIONS

SCREEN_COMMANDS = (
    ("workers", "Workers", "worker list: status, load, pool, queues"),
    ("tasks", "Tasks", "live task list: filter, sort, quick filters"),
    ("active", "Active tasks", "remote control: tasks running now, per worker"),
    ("reserved", "Reserved tasks", "remote control: prefetched tasks, per worker"),
    ("scheduled", "Scheduled tasks", "remote control: tasks with an ETA/countdown"),
    ("revoked", "Revoked ids", "remote control: revoked task ids, per worker"),
    ("canvas", "Canvas", "tree of the selected task's chain/group/chord"),
    ("beat", "Beat", "periodic tasks with a countdown to the next run"),
    ("queues", "Queues", "broker queue depths and trend"),
)


class ConsoleCommands(Provider):
    """Screens, help, task quick filters and actions."""

    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        app: Any = self.app
        out: list[tuple[str, Callable[[], Any], str]] = []
        for mode, title, help_text in SCREEN_COMMANDS:
            out.append((f"Screen: {title}", partial(app.action_show, mode), help_text))
        out.append(("Help: list every key", app.action_help, "show the key reference"))
        for quick in ("all", "failed", "retrying", "revoked", "running", "waiting", "succeeded"):
            out.append(
                (
                    f"Tasks: show {quick}",
                    partial(self._quick, quick),
                    f"quick filter: {quick} tasks",
                )
            )
        if not getattr(app, "read_only", False):
            for spec in ACTIONS.values():
                out.append(
                    (
                        f"Action: {spec.title}",
                        partial(self._action, spec.id),
                        f"applies to the selected {spec.target}"
                        + (" (every worker if none)" if spec.target == "worker" else ""),
                    )
                )
        return out

    def _quick(self, quick: str) -> None:
        app: Any = self.app
        app.switch_mode("tasks")
        app.screen.set_quick(quick)

    def _action(self, action_id: str) -> None:
        app: Any = self.app
        spec = ACTIONS[action_id]
        screen = app.screen
        target: str | None = None
        label = ""
        if spec.target == "task":
            current = getattr(screen, "current_task", lambda: None)()
            if current is None and app.selected_task:
                current = (app.selected_task, "")
            if current:
                target, label = current
        elif spec.target == "worker":
            target = getattr(screen, "current_worker", lambda: None)() or ""
        else:
            target = getattr(screen, "current_queue", lambda: None)()
        app.request_action(action_id, target, label=label)

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
