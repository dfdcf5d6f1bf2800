"""``r`` on the Tasks screen / task detail: re-send tasks with their original call.

The same core as ``ctl retry`` (:mod:`console.core.resend`): for each id, what it was
called with comes from the result backend (``result_extended``), else the workers
(``query_task``), else the event reprs (``ast.literal_eval``); an id whose arguments
cannot be recovered exactly, or that has not finished, is refused and named.  The
confirmation shows each task's name and arguments before anything is sent.

Flow (:func:`start_retry`): refuse in read-only mode; plan in a thread worker
(backend and broker reads); confirm on the UI thread; send in a thread worker;
report an :class:`~console.ui.messages.ActionDone` like every other action.  No
Textual import here: the app's own ``run_worker`` / ``call_from_thread`` are used.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from console.core.sanitize import safe_text

from .marks import count_and_first
from .messages import ActionDone

if TYPE_CHECKING:
    from console.core.resend import Call, Refusal

    from .app import ConsoleApp

#: calls listed in full in the confirmation
SHOWN_CALLS = 5


@dataclass
class RetryPlan:
    ids: list[str]
    calls: list[tuple[str, Call]] = field(default_factory=list)  # (old id, call)
    refused: list[Refusal] = field(default_factory=list)

    def describe(self) -> str:
        """What will be sent (plain text, sanitized): count, first ids, names and arguments."""
        lines = [f"Re-send {count_and_first([c[0] for c in self.calls])} as new tasks:"]
        for old, call in self.calls[:SHOWN_CALLS]:
            lines.append(f"  {safe_text(old, 40, oneline=True)}: {call_text(call)}")
        if len(self.calls) > SHOWN_CALLS:
            lines.append(f"  … and {len(self.calls) - SHOWN_CALLS} more")
        if self.refused:
            lines.append(f"Refused ({len(self.refused)}), not sent:")
            lines.extend(
                f"  {safe_text(r.reason, 160, oneline=True)}" for r in self.refused[:SHOWN_CALLS]
            )
        return "\n".join(lines)


def call_text(call: Call) -> str:
    """``name(args, kwargs) → queue q [from backend]`` on one line, cut and sanitized."""
    args = json.dumps(call.args, default=repr)
    kwargs = json.dumps(call.kwargs, default=repr)
    queue = f" → queue {call.queue}" if call.queue else ""
    return safe_text(
        f"{call.name} args={args} kwargs={kwargs}{queue} [from {call.source}]", 300, oneline=True
    )


def plan_retry(
    settings: Any,
    ids: list[str],
    *,
    remote: Any,
    detail: Callable[[str], dict[str, Any] | None] | None,
    timeout: float,
) -> RetryPlan:
    """What each id was called with (blocking: backend and broker reads)."""
    from console.core.resend import Call, Refusal, recover

    plan = RetryPlan(list(ids))
    for uuid in ids:
        fields = None
        if detail is not None:
            try:
                fields = detail(uuid)
            except Exception:
                fields = None
        try:
            found = recover(settings, uuid, rc=remote, event_fields=fields, timeout=timeout)
        except Exception as exc:
            found = Refusal(uuid, f"{uuid}: {type(exc).__name__}: {exc}")
        if isinstance(found, Call):
            plan.calls.append((uuid, found))
        else:
            plan.refused.append(found)
    return plan


def run_retry(settings: Any, plan: RetryPlan) -> tuple[bool, str, dict[str, str]]:
    """Send every planned call; (all sent and none refused, summary, old id -> new id)."""
    from console.core.resend import resend

    sent: dict[str, str] = {}
    failed: list[str] = []
    for old, call in plan.calls:
        try:
            sent[old] = resend(settings, call)
        except Exception as exc:
            failed.append(f"{old}: {type(exc).__name__}: {exc}")
    parts = [f"{old} -> {new}" for old, new in sent.items()]
    text = f"re-sent {len(sent)} task(s)" + (": " + ", ".join(parts[:3]) if parts else "")
    if len(parts) > 3:
        text += ", …"
    if failed:
        text += f"; {len(failed)} failed to send: " + "; ".join(failed[:3])
    if plan.refused:
        text += f"; {len(plan.refused)} refused: " + "; ".join(r.reason for r in plan.refused[:3])
    ok = bool(sent) and not failed and not plan.refused
    return ok, safe_text(text, 2000, oneline=True), sent


def start_retry(app: ConsoleApp, ids: list[str]) -> bool:
    """``r``: plan (thread), confirm, send (thread). False when refused at once."""
    if app.read_only:
        app.notify(
            "read-only console: retry refused", severity="warning", title="Read-only", markup=False
        )
        return False
    if not ids:
        app.notify("select a task first", severity="warning", markup=False)
        return False
    if app.settings is None:
        app.post_message(
            ActionDone("retry", ids[0], False, "retry needs a broker (not available in replay)")
        )
        return False
    settings, remote, feed = app.settings, app.remote, app.feed
    detail = feed.task_detail if feed is not None else None

    def plan_in_thread() -> None:
        try:
            plan = plan_retry(
                settings, ids, remote=remote, detail=detail, timeout=app.action_timeout
            )
        except Exception as exc:
            app.post_message(ActionDone("retry", ids[0], False, app.error_text(exc)))
            return
        app.call_from_thread(confirm, plan)

    def confirm(plan: RetryPlan) -> None:
        from .screens.confirm import ConfirmScreen

        if not plan.calls:
            reasons = "; ".join(r.reason for r in plan.refused[:3])
            app.post_message(ActionDone("retry", ids[0], False, safe_text(f"refused: {reasons}")))
            return

        def answered(yes: bool | None) -> None:
            if yes and not app.read_only:
                app.run_worker(
                    lambda: send_in_thread(plan), thread=True, exit_on_error=False, group="action"
                )

        app.push_screen(ConfirmScreen("Retry tasks", plan.describe(), True), answered)

    def send_in_thread(plan: RetryPlan) -> None:
        try:
            ok, text, sent = run_retry(settings, plan)
            msg = ActionDone("retry", plan.ids[0], ok, text, sent)
        except Exception as exc:
            msg = ActionDone("retry", plan.ids[0], False, app.error_text(exc))
        app.post_message(msg)

    app.run_worker(plan_in_thread, thread=True, exit_on_error=False, group="action")
    return True


__all__ = ["RetryPlan", "call_text", "plan_retry", "run_retry", "start_retry"]
