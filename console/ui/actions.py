"""Every user action, run through the shared core (the same calls as the CLI).

An :class:`ActionRequest` names exactly what will happen (``describe``), is
confirmed in a modal, and runs in a thread worker via :func:`execute`, which
returns what the workers actually said.  Nothing here touches Textual.
Core modules that may be absent are imported lazily: the action then reports
"not available" instead of crashing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from console.core.sanitize import safe_text

SIGNALS = ("SIGTERM", "SIGKILL", "SIGINT", "SIGQUIT", "SIGUSR1")
UNFINISHED = frozenset({"PENDING", "RECEIVED", "STARTED", "RETRY", None, ""})


@dataclass(frozen=True)
class ActionSpec:
    id: str
    title: str
    target: str  # "task" | "worker" | "queue"
    destructive: bool
    fields: tuple[tuple[str, str, str], ...] = ()  # (name, label, default)
    #: what will be done, for the confirmation: ``{task}`` / ``{workers}`` / ``{target}``
    #: and the parameters by name (ActionRequest.describe fills them, sanitized)
    sentence: str = "{target}"


ACTIONS: dict[str, ActionSpec] = {
    a.id: a
    for a in (
        ActionSpec(
            "revoke",
            "Revoke task",
            "task",
            True,
            sentence="Revoke {task}: workers will discard it if it has not started.",
        ),
        ActionSpec(
            "terminate",
            "Revoke and terminate task (choose signal)",
            "task",
            True,
            (("signal", "Signal", "SIGTERM"),),
            sentence="Revoke {task} and send {signal} to the process running it.",
        ),
        ActionSpec(
            "retry",
            "Retry task (same name, arguments and queue)",
            "task",
            True,
            sentence="Re-send {task} with its original name and arguments.",
        ),
        ActionSpec(
            "revoke_canvas",
            "Revoke the whole canvas of task",
            "task",
            True,
            sentence="Revoke {members} of the canvas of {task}.",
        ),
        ActionSpec(
            "rate_limit",
            "Set rate limit of a task type",
            "worker",
            False,
            (("task_name", "Task name", ""), ("rate_limit", "Rate (e.g. 10/m, 0 = none)", "")),
            sentence="Set the rate limit of {task_name} to {rate_limit} on {workers}.",
        ),
        ActionSpec(
            "time_limit",
            "Set time limits of a task type",
            "worker",
            False,
            (
                ("task_name", "Task name", ""),
                ("soft", "Soft limit (s, empty = none)", ""),
                ("hard", "Hard limit (s, empty = none)", ""),
            ),
            sentence="Set time limits of {task_name} to soft={soft}s hard={hard}s on {workers}.",
        ),
        ActionSpec(
            "pool_grow",
            "Grow worker pool",
            "worker",
            False,
            (("n", "Processes to add", "1"),),
            sentence="Grow the pool of {workers} by {n} process(es).",
        ),
        ActionSpec(
            "pool_shrink",
            "Shrink worker pool",
            "worker",
            True,
            (("n", "Processes to remove", "1"),),
            sentence="Shrink the pool of {workers} by {n} process(es).",
        ),
        ActionSpec(
            "autoscale",
            "Set autoscale max/min",
            "worker",
            False,
            (("max", "Max processes", ""), ("min", "Min processes", "")),
            sentence="Set autoscale of {workers} to max={max} min={min}.",
        ),
        ActionSpec(
            "add_consumer",
            "Add queue consumer",
            "worker",
            False,
            (("queue", "Queue", ""),),
            sentence="Make {workers} start consuming from queue {queue}.",
        ),
        ActionSpec(
            "cancel_consumer",
            "Cancel queue consumer",
            "worker",
            True,
            (("queue", "Queue", ""),),
            sentence="Make {workers} stop consuming from queue {queue}.",
        ),
        ActionSpec(
            "shutdown",
            "Shut down worker",
            "worker",
            True,
            sentence="Shut down {workers} (warm shutdown: running tasks finish first).",
        ),
        ActionSpec(
            "purge",
            "Purge queue (delete every waiting message)",
            "queue",
            True,
            sentence="Purge queue {target}: delete {count} waiting message(s). This cannot be undone.",
        ),
    )
}


#: what a field's empty input shows (never a pre-filled value: a limit must be typed)
PLACEHOLDERS: dict[str, str] = {
    "task_name": "e.g. sample_proj.tasks.add",
    "rate_limit": "e.g. 10/m, 100/s, 2/h (0 = no limit)",
    "soft": "seconds, e.g. 60",
    "hard": "seconds, e.g. 120",
    "n": "a whole number ≥ 1",
    "max": "a whole number ≥ 1",
    "min": "a whole number ≥ 0",
    "queue": "queue name",
}


def check_field(name: str, value: str) -> str | None:
    """Why ``value`` is not acceptable for field ``name`` (None: it is), checked as typed.

    Rate limits are parsed as Celery parses them (``celery.utils.time.rate``).
    """
    v = str(value).strip()
    if name == "task_name":
        return None if v and not any(c.isspace() for c in v) else "a task name is required"
    if name == "rate_limit":
        if not v:
            return "a rate is required (0 = no limit)"
        ops, _, unit = v.partition("/")
        if unit not in ("", "s", "m", "h"):
            return f"unknown unit {safe_text(unit, 10, oneline=True)!r}: use /s, /m or /h"
        try:
            from celery.utils.time import rate

            if float(ops) < 0:
                return "a rate cannot be negative"
            rate(v)
        except (ValueError, KeyError):
            return "not a rate: a number, optionally /s, /m or /h (e.g. 10/m)"
        return None
    if name in ("soft", "hard"):
        if not v or v.lower() == "none":
            return None
        try:
            f = float(v)
        except ValueError:
            return "seconds: a number (or empty for no limit)"
        return None if f > 0 and f < float("inf") else "seconds must be a number > 0"
    if name in ("n", "max", "min"):
        if not v.isdigit():
            return "a whole number"
        low = 0 if name == "min" else 1
        return None if int(v) >= low else f"at least {low}"
    if name == "queue":
        return None if v and not any(c.isspace() for c in v) else "a queue name (no spaces)"
    return None


def check_values(action: str, values: dict[str, str]) -> str | None:
    """Every field, then the rules between fields (soft ≤ hard, min ≤ max)."""
    spec = ACTIONS.get(action)
    for name, label, _ in spec.fields if spec else ():
        problem = check_field(name, values.get(name, ""))
        if problem:
            return f"{label}: {problem}"
    if action == "time_limit":
        soft, hard = _float_or_none(values.get("soft", "")), _float_or_none(values.get("hard", ""))
        if soft is not None and hard is not None and soft > hard:
            return "the soft limit must not be above the hard limit"
    if action == "autoscale" and int(values.get("min", "0")) > int(values.get("max", "0")):
        return "min must not be above max"
    return None


@dataclass
class ActionRequest:
    action: str
    target: str  # task id / worker hostname ("" = every worker) / queue name
    params: dict[str, str] = field(default_factory=dict)
    label: str = ""  # e.g. the task name, for the description
    state: str = ""  # the task's state as shown, for the description
    #: revoke_canvas: (id, name, state) of the tasks that will be revoked
    members: list[tuple[str, str, str]] = field(default_factory=list)
    #: marked tasks (console/ui/marks.py): the action acts on all of them, ``target`` is the first
    targets: tuple[str, ...] = ()

    @property
    def spec(self) -> ActionSpec:
        return ACTIONS[self.action]

    def target_text(self) -> str:
        t = safe_text(self.target, 120, oneline=True)
        label = safe_text(self.label, 80, oneline=True)
        state = safe_text(self.state, 20, oneline=True)
        inner = ", ".join(x for x in (label, state) if x)
        if len(self.targets) > 1:
            from .marks import count_and_first

            return count_and_first([safe_text(i, 60, oneline=True) for i in self.targets])
        return f"task {t}" + (f" ({inner})" if inner else "")

    def workers_text(self) -> str:
        t = safe_text(self.target, 120, oneline=True)
        return f"worker {t}" if t else "EVERY worker"

    def members_text(self, shown: int = 5) -> str:
        if not self.members:
            n = len([i for i in self.params.get("ids", "").split(",") if i])
            return f"{n} unfinished task(s)"
        states: dict[str, int] = {}
        for _, _, st in self.members:
            states[st or "PENDING"] = states.get(st or "PENDING", 0) + 1
        counts = ", ".join(
            f"{n} {safe_text(s, 20, oneline=True)}" for s, n in sorted(states.items())
        )
        lines = [f"{len(self.members)} unfinished task(s) ({counts})"]
        for tid, name, st in self.members[:shown]:
            lines.append(
                f"  {safe_text(tid, 40, oneline=True)} {safe_text(name or '?', 60, oneline=True)}"
                f" {safe_text(st or 'PENDING', 20, oneline=True)}"
            )
        if len(self.members) > shown:
            lines.append(f"  … and {len(self.members) - shown} more")
        return "\n".join(lines) + "\n"

    def describe(self) -> str:
        """One sentence naming exactly what will be done (plain text, sanitized)."""
        p = {k: safe_text(v, 80, oneline=True) for k, v in self.params.items()}
        for k in ("soft", "hard"):
            if k in p and not p[k].strip():
                p[k] = "none"
        t = safe_text(self.target, 120, oneline=True)
        spec = ACTIONS.get(self.action)
        if spec is None:
            return f"{self.action} {t}"
        # a parameter not given reads "None"; signal and n have the defaults execute() uses
        values = _Values(
            {"signal": "SIGTERM", "n": "1", "count": "every"} | p,
            task=self.target_text(),
            workers=self.workers_text(),
            target=t,
        )
        if "{members}" in spec.sentence:
            values["members"] = self.members_text()
        return spec.sentence.format_map(values)


class _Values(dict):
    """format_map values: a missing name reads "None" (it was never given)."""

    def __missing__(self, key: str) -> str:
        return "None"


@dataclass
class ActionOutcome:
    ok: bool
    summary: str
    result: Any = None


def autoscale_refusal(hosts: list[str], stats: dict[str, Any]) -> str | None:
    """Why autoscale is not offered to ``hosts`` (None: at least one can autoscale).

    A worker started with ``--autoscale`` has an ``autoscaler`` key in its ``stats``
    reply (Celery's Autoscaler bootstep); without it Celery answers the command with
    "Autoscale not enabled".  Workers whose stats have not arrived yet are named."""
    if not hosts:
        return "no workers known yet: nothing to autoscale"
    can = [h for h in hosts if isinstance(stats.get(h), dict) and "autoscaler" in stats[h]]
    if can:
        return None
    unknown = [h for h in hosts if not isinstance(stats.get(h), dict)]
    if unknown:
        names = ", ".join(safe_text(h, 60, oneline=True) for h in unknown[:3])
        return f"no stats from {names} yet: cannot tell whether it autoscales (r refreshes)"
    names = ", ".join(safe_text(h, 60, oneline=True) for h in hosts[:3])
    more = f" and {len(hosts) - 3} more" if len(hosts) > 3 else ""
    return f"{names}{more}: not started with --autoscale: autoscale not available"


def revoked_ids(req: ActionRequest) -> tuple[str, ...]:
    """The task ids a (sent) revoke / terminate / revoke canvas request names."""
    if req.action in ("revoke", "terminate"):
        return tuple(req.targets) or ((req.target,) if req.target else ())
    if req.action == "revoke_canvas":
        return tuple(m[0] for m in req.members)
    return ()


def caveat(req: ActionRequest, settings: Any) -> str:
    """What the action cannot see on this cluster, said before the user confirms ("" if nothing).

    Revoking a canvas on RabbitMQ cannot read queued messages, and an rpc://
    backend keeps results for their caller: the plan is then incomplete.
    """
    if req.action != "revoke_canvas" or settings is None:
        return ""
    from console.core.revoke_tree import unreadable_sources

    try:
        unread = unreadable_sources(settings)
    except Exception:
        return ""
    if not unread:
        return ""
    return " Cannot read " + "; ".join(unread) + " (the plan may be incomplete)."


def summarize(result: Any, *, expect_reply: bool = True) -> tuple[bool, str]:
    """What the workers said: ``alpha@h: ok (...)``, ``no reply: bravo@h``."""
    replies = dict(getattr(result, "replies", None) or {})
    missing = list(getattr(result, "missing", None) or [])
    parts: list[str] = []
    ok = bool(replies)
    for host in sorted(replies):
        value = replies[host]
        if isinstance(value, dict) and ("ok" in value or "error" in value):
            if "error" in value:
                ok = False
                parts.append(f"{host}: error: {value['error']}")
            else:
                parts.append(f"{host}: ok: {value['ok']}")
        else:
            parts.append(f"{host}: {value!r}")
    if missing:
        parts.append("no reply from " + ", ".join(missing))
    if not replies and not missing:
        expected = getattr(result, "expected", None)
        if not expect_reply:
            ok = True
            parts.append(
                f"sent (to {expected} worker(s)); no reply expected"
                if expected is not None
                else "sent; no reply expected"
            )
        else:
            parts.append("no worker replied")
    return ok, safe_text("; ".join(parts), 2000, oneline=True)


def _int(value: str, name: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(
            f"{name} must be a whole number, not {safe_text(value, 40, oneline=True)!r}"
        ) from None


def _float_or_none(value: str) -> float | None:
    value = str(value).strip()
    return float(value) if value.lower() not in ("", "none") else None


def canvas_ids(node: Any) -> Iterable[tuple[str, Any]]:
    """(id, state) of every node of a CanvasNode tree."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n is None:
            continue
        nid = getattr(n, "id", None)
        if nid and getattr(n, "kind", "task") == "task":
            yield nid, getattr(n, "state", None)
        stack.extend(getattr(n, "children", None) or [])


def execute(
    req: ActionRequest,
    *,
    remote: Any,
    settings: Any = None,
    canvas: Callable[[str], Any] | None = None,
    timeout: float = 2.0,
) -> ActionOutcome:
    """Run ``req`` (blocking: call from a thread worker)."""
    a, target, p = req.action, req.target, req.params
    dest = [target] if target else None
    if a == "purge":
        if settings is None:
            return ActionOutcome(False, "purge needs a broker (not available in replay mode)")
        from console.core.queues import purge_checked

        shown = str(p.get("count") or "").strip()
        expected = int(shown) if shown.isdigit() else None
        (outcome,) = purge_checked(settings, {target: expected})
        name = safe_text(target, 120, oneline=True)
        if outcome.changed:  # what was confirmed is what happens: nothing, and say why
            return ActionOutcome(
                False,
                f"queue {name} now holds {outcome.found} message(s), not the {shown} shown: "
                "nothing purged (press P again to confirm the new count)",
                {target: 0},
            )
        return ActionOutcome(
            True,
            f"purged queue {name}: {outcome.purged} message(s) deleted",
            {target: outcome.purged},
        )
    if remote is None:
        return ActionOutcome(False, "remote control is not available")
    ids = list(req.targets) or [target]
    if a == "revoke":
        res = remote.revoke(ids, timeout=timeout)
    elif a == "terminate":
        sig = str(p.get("signal") or "SIGTERM").upper()
        if sig not in SIGNALS and not sig.isdigit():
            raise ValueError(f"unknown signal {safe_text(sig, 20)!r}")
        res = remote.revoke(ids, terminate=True, signal=sig, timeout=timeout)
    elif a == "revoke_canvas":
        return _revoke_canvas(req, remote, settings, canvas, timeout)
    elif a == "rate_limit":
        res = remote.control(
            "rate_limit",
            destination=dest,
            timeout=timeout,
            task_name=str(p["task_name"]).strip(),
            rate_limit=str(p["rate_limit"]).strip(),
        )
    elif a == "time_limit":
        res = remote.control(
            "time_limit",
            destination=dest,
            timeout=timeout,
            task_name=str(p["task_name"]).strip(),
            soft=_float_or_none(p.get("soft", "")),
            hard=_float_or_none(p.get("hard", "")),
        )
    elif a in ("pool_grow", "pool_shrink"):
        res = remote.control(a, destination=dest, timeout=timeout, n=_int(p.get("n", "1"), "n"))
    elif a == "autoscale":
        res = remote.control(
            "autoscale",
            destination=dest,
            timeout=timeout,
            max=_int(p["max"], "max"),
            min=_int(p["min"], "min"),
        )
    elif a in ("add_consumer", "cancel_consumer"):
        queue = str(p["queue"]).strip()
        if not queue:
            raise ValueError("a queue name is required")
        res = remote.control(a, destination=dest, timeout=timeout, queue=queue)
    elif a == "shutdown":
        res = remote.control("shutdown", destination=dest, timeout=timeout, reply=False)
        ok, text = summarize(res, expect_reply=False)
        return ActionOutcome(ok, text + " (watch the worker go offline)", res)
    else:
        raise ValueError(f"unknown action {a!r}")
    ok, text = summarize(res)
    return ActionOutcome(ok, text, res)


def plan_canvas(
    req: ActionRequest,
    *,
    remote: Any,
    settings: Any = None,
    canvas: Callable[[str], Any] | None = None,
    timeout: float = 2.0,
) -> list[tuple[str, str, str]]:
    """(id, name, state) of every member of the canvas of ``req.target`` (blocking):
    the plan of ``ctl revoke --tree`` (broker scan + inspect + backend) and the
    members the event stream knows of.  The confirmation shows the unfinished ones
    and exactly those are revoked."""
    found: dict[str, tuple[str, str, str]] = {}
    if settings is not None:
        from console.core.revoke_tree import plan_tree

        plan = plan_tree(settings, [req.target], rc=remote, timeout=timeout)
        for n in plan.members:
            found[n.id] = (n.id, str(getattr(n, "name", "") or ""), str(n.state or "PENDING"))
    tree = None
    if canvas is not None:
        try:
            tree = canvas(req.target)
        except Exception:
            tree = None
    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if node is None:
            continue
        nid = getattr(node, "id", None)
        if nid and getattr(node, "kind", "task") == "task":
            state = str(getattr(node, "state", None) or "PENDING")
            name = str(getattr(node, "name", None) or "")
            old = found.get(nid)
            # the event stream is fresher than the backend for a running task
            if old is None or old[2] in UNFINISHED:
                found[nid] = (nid, name or (old[1] if old else ""), state)
        stack.extend(getattr(node, "children", None) or [])
    if not found:
        found[req.target] = (req.target, req.label, req.state or "PENDING")
    return list(found.values())


def _revoke_canvas(
    req: ActionRequest,
    remote: Any,
    settings: Any,
    canvas: Callable[[str], Any] | None,
    timeout: float,
) -> ActionOutcome:
    """Revoke exactly the ids confirmed (``params["ids"]``, from :func:`plan_canvas`);
    without them, the same plan as ``ctl revoke --tree``."""
    confirmed = [i for i in req.params.get("ids", "").split(",") if i]
    if confirmed:
        res = remote.revoke(confirmed, timeout=timeout)
        ok, text = summarize(res)
        return ActionOutcome(ok, f"revoked {len(confirmed)} task(s) of the canvas; {text}", res)
    ids: list[str] = []
    notes: list[str] = []
    unknown = False
    if settings is not None:
        from console.core.revoke_tree import plan_tree

        plan = plan_tree(settings, [req.target], rc=remote, timeout=timeout)
        ids.extend(n.id for n in plan.to_revoke)
        notes.append(f"{len(plan.members)} member(s) found")
        unknown = bool(plan.unknown)
        notes.extend(f"could not read {source}" for source in plan.unread)
    tree = None
    if canvas is not None:
        try:
            tree = canvas(req.target)
        except Exception:
            tree = None
    if tree is not None:
        ids.extend(i for i, st in canvas_ids(tree) if st in UNFINISHED)
    if not ids and unknown and tree is None:  # never a no-op reported as success
        return ActionOutcome(False, f"{req.target}: found nowhere; nothing revoked")
    ids = list(dict.fromkeys(ids)) or [req.target]
    res = remote.revoke(ids, timeout=timeout)
    ok, text = summarize(res)
    return ActionOutcome(
        ok,
        f"revoked {len(ids)} unfinished task(s) of the canvas"
        + (f" ({'; '.join(notes)})" if notes else "")
        + f"; {text}",
        res,
    )
