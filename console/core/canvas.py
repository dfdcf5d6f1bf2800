"""Canvas graph: the whole tree of any task id (chains, groups, chords, nesting).

``canvas_tree(state, task_id, backend=None)`` finds the root of the canvas the
task belongs to (its ``root_id``, else by walking ``parent_id`` links), then
rebuilds the structure from what is known:

* **events** (``state``): ``parent_id`` / ``root_id`` of every task, and the
  time each task was sent / finished;
* **the result backend** (optional, ``backend`` = a Celery backend or app):
  ``get_task_meta`` of tasks the events do not know (evicted, missed), its
  ``children`` (results the task spawned, *including group ids*), ``group_id``
  and ``parent_id`` of each task, and ``restore_group`` for saved groups;
* **the cluster** (optional, ``cluster`` = :func:`read_waiting`): queued and
  reserved messages with the chain / chord embedded in them, and the workers'
  ``reserved`` / ``scheduled`` replies.  A canvas that is still waiting (ETA,
  backlog, a queue nobody consumes) exists whole only there: when a message
  names a task of the canvas, the tree is built by ``ctl revoke --tree``'s code
  (:func:`console.core.revoke_tree.plan_from`) and shows what that shows.

What the model cannot know and how it guesses is documented in docs/CANVAS.md.
The heuristics, in short:

* a child *sent after its parent finished* is a continuation (next chain step,
  or chord callback); a child sent while the parent ran is a nested canvas
  started from inside the task;
* two or more continuations of the same task (or nested children of it) form a
  **group** (Celery sends a group's members back to back);
* a task that continues one member of a group, was sent after *every* member
  finished and (when its args can be parsed) takes a list with one result per
  member is that group's **chord callback**;
* with a backend, a top-level task carrying a ``group_id`` whose single
  continuation is known is a chord header member (the other members are
  counted in ``missing`` when the callback's args tell how many there were).

The tree is bounded (``max_nodes``, default 2,000; ``truncated`` marks the
node where we stopped) and never raises on inconsistent data (cycles, missing
links, a backend that fails).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .revoke_tree import ClusterRead, Node
    from .settings import ClusterSettings

__all__ = ["CanvasNode", "canvas_tree", "find_root", "read_waiting", "MAX_NODES"]

MAX_NODES = 2_000
MAX_DEPTH = 100
MAX_BACKEND_LOOKUPS = 500
BACKEND_BUDGET_S = 2.0
#: tasks sent this close to a known member are checked for the group id (backend)
MEMBER_WINDOW_S = 30.0
MAX_MEMBER_CANDIDATES = 400
#: the console's bounds on reading the cluster for a canvas (:func:`read_waiting`):
#: queued messages read at most (and for this long), workers' reply timeout
WAITING_MAX_MESSAGES = 10_000
WAITING_BUDGET_S = 0.3
WAITING_INSPECT_TIMEOUT_S = 0.3

_FINISHED = ("SUCCESS", "FAILURE", "REVOKED", "REJECTED")


@dataclass
class CanvasNode:
    """One node: a task, or a chain / group / chord of nodes."""

    id: str
    name: str | None
    state: str
    runtime: float | None
    kind: str = "task"  # "task" | "chain" | "group" | "chord"
    children: list[CanvasNode] = field(default_factory=list)
    source: str = "events"  # "events" | "backend" | "message"
    #: members known to exist but not linked (e.g. other header tasks of a chord)
    missing: int = 0
    #: the tree was cut here (node cap, depth cap or a cycle)
    truncated: bool = False
    #: "callback" for a chord's body (the task run with the header's results)
    role: str | None = None
    #: (the top node only) tasks of this canvas the console knows but the tree does not show
    hidden: int = 0
    #: (the top node only) sources that could not be read (or not whole), one sentence each
    unread: list[str] = field(default_factory=list)

    def walk(self) -> Iterator[CanvasNode]:
        """This node and every descendant, depth first."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def tasks(self) -> list[CanvasNode]:
        return [n for n in self.walk() if n.kind == "task"]

    def find(self, node_id: str) -> CanvasNode | None:
        for node in self.walk():
            if node.id == node_id:
                return node
        return None

    def count(self) -> int:
        return sum(1 for _ in self.walk())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "runtime": self.runtime,
            "kind": self.kind,
            "source": self.source,
            "missing": self.missing,
            "truncated": self.truncated,
            "role": self.role,
            "hidden": self.hidden,
            "unread": list(self.unread),
            "children": [c.to_dict() for c in self.children],
        }

    def shape(self) -> Any:
        """Compact structure for tests/debugging: ``("chain", [..])`` / task name."""
        if self.kind == "task":
            label = (self.name or "?").rsplit(".", 1)[-1]
            return label if not self.children else (label, [c.shape() for c in self.children])
        return (self.kind, [c.shape() for c in self.children])


# --------------------------------------------------------------------------- facts


@dataclass
class _Info:
    id: str
    name: str | None = None
    state: str = "PENDING"
    runtime: float | None = None
    parent: str | None = None
    root: str | None = None
    sent: float | None = None  # when it was sent (or first seen)
    done: float | None = None  # when it finished
    args: str | None = None
    group: str | None = None  # group id (backend only)
    source: str = "events"
    kids: list[str] = field(default_factory=list)  # from the backend's children
    kid_groups: dict[str, str] = field(default_factory=dict)  # kid id -> group id


def _flatten_children(
    items: Any, out: list[str], groups: dict[str, str], group: str | None = None, depth: int = 0
) -> None:
    """Parse the backend's ``children`` (``as_tuple()`` trees, lists after JSON)."""
    if depth > 20 or not isinstance(items, list | tuple):
        return
    for item in items:
        try:
            head, members = item
            rid = head[0] if isinstance(head, list | tuple) else head
        except (TypeError, ValueError):
            continue
        if not isinstance(rid, str):
            continue
        if members is None:
            out.append(rid)
            if group is not None:
                groups[rid] = group
        else:  # a GroupResult: rid is the group id
            _flatten_children(members, out, groups, rid, depth + 1)


class _Facts:
    """Everything known about task ids: events first, then the backend."""

    def __init__(self, state: Any, backend: Any, budget: float = BACKEND_BUDGET_S) -> None:
        self.state = state
        if backend is not None and not hasattr(backend, "get_task_meta"):
            backend = getattr(backend, "backend", None)  # an app
        if _results_for_caller_only(backend):
            backend = None  # rpc://: reading would declare a reply queue and find nothing
        self.backend = backend
        self.cache: dict[str, _Info | None] = {}
        self.metas: dict[str, dict[str, Any] | None] = {}
        self.lookups = 0
        self.deadline = time.monotonic() + budget
        self.backend_errors = 0

    def _can_read(self) -> bool:
        return (
            self.backend is not None
            and self.lookups < MAX_BACKEND_LOOKUPS
            and time.monotonic() <= self.deadline
            and self.backend_errors < 3
        )

    def _meta(self, tid: str) -> dict[str, Any] | None:
        if tid in self.metas:
            return self.metas[tid]
        if not self._can_read():
            return None
        self.lookups += 1
        try:
            meta = self.backend.get_task_meta(tid)
        except Exception:
            self.backend_errors += 1
            return None
        return meta if isinstance(meta, dict) else None

    def _prefetch(self, ids: list[str]) -> None:
        """Metas of ``ids`` in one round trip where the backend has ``mget`` (Redis)."""
        ids = [i for i in ids if i not in self.metas and i not in self.cache]
        mget = getattr(self.backend, "mget", None)
        key_for = getattr(self.backend, "get_key_for_task", None)
        if not ids or not self._can_read() or not callable(mget) or not callable(key_for):
            return
        self.lookups += 1
        try:
            values = mget([key_for(t) for t in ids])
            for tid, raw in zip(ids, values, strict=False):
                meta = self.backend.decode(raw) if raw is not None else None
                self.metas[tid] = meta if isinstance(meta, dict) else None
        except Exception:
            self.backend_errors += 1

    def group_members(self, gid: str, near: list[str]) -> list[str]:
        """Members of group ``gid``: a saved group (``restore_group``), else the tasks of
        the event state sent around the known members whose backend meta carries
        ``group_id == gid`` (a client-sent group or chord: its members are separate roots
        and no event names the group)."""
        saved = self.restore_group(gid)
        if saved or self.state is None or not self._can_read():
            return saved
        times = [x.sent for x in (self.get(n) for n in near) if x is not None and x.sent]
        if not times:
            return []
        lo, hi = min(times) - MEMBER_WINDOW_S, max(times) + MEMBER_WINDOW_S
        center = (lo + hi) / 2
        found: list[tuple[float, str]] = []
        for tid, task in list(self.state.tasks.items()):
            ts = task.sent or task.received or task.started
            if ts is not None and lo <= ts <= hi:
                found.append((abs(ts - center), tid))
        found.sort()
        candidates = [tid for _, tid in found[:MAX_MEMBER_CANDIDATES]]
        self._prefetch(candidates)
        out = []
        for tid in candidates:
            info = self.get(tid)
            if info is None or info.group != gid or tid in near:
                continue
            parent = self.get(info.parent) if info.parent else None
            if parent is not None and parent.group == gid:
                continue  # the chord callback runs with its header's group id
            out.append(tid)
        return list(near) + out

    def chord_size(self, gid: str) -> int | None:
        """The header size a key/value backend keeps while a chord runs (``.s`` key)."""
        getter = getattr(self.backend, "get", None)
        key_for = getattr(self.backend, "get_key_for_group", None)
        if not self._can_read() or not callable(getter) or not callable(key_for):
            return None
        self.lookups += 1
        try:
            raw = getter(key_for(gid, ".s"))
            return int(raw) if raw is not None else None
        except Exception:
            return None

    def get(self, tid: Any) -> _Info | None:
        if not isinstance(tid, str):
            return None
        if tid in self.cache:
            return self.cache[tid]
        info: _Info | None = None
        t = self.state.tasks.get(tid) if self.state is not None else None
        if t is not None:
            done = None
            for attr in ("succeeded", "failed", "revoked", "rejected"):
                ts = getattr(t, attr, None)
                if ts is not None and t.state in _FINISHED:
                    done = ts if done is None else max(done, ts)
            sent = None
            for attr in ("sent", "received", "started"):
                ts = getattr(t, attr, None)
                if ts is not None:
                    sent = ts if sent is None else min(sent, ts)
            info = _Info(
                tid, t.name, t.state, t.runtime, t.parent_id, t.root_id, sent, done, t.args
            )
        meta = self._meta(tid)
        if meta is not None:
            status = meta.get("status")
            known = bool(
                meta.get("date_done")
                or meta.get("children")
                or meta.get("name")
                or meta.get("parent_id")
                or (status and status != "PENDING")
            )
            if known:
                if info is None:
                    info = _Info(tid, source="backend")
                    info.state = status if isinstance(status, str) else "PENDING"
                    name = meta.get("name")
                    info.name = name if isinstance(name, str) else None
                    args = meta.get("args")
                    info.args = repr(args) if args is not None else None
                    if info.state in _FINISHED:
                        info.done = _date(meta.get("date_done"))
                if info.parent is None and isinstance(meta.get("parent_id"), str):
                    info.parent = meta["parent_id"]
                if isinstance(meta.get("group_id"), str):
                    info.group = meta["group_id"]
                _flatten_children(meta.get("children"), info.kids, info.kid_groups)
        self.cache[tid] = info
        return info

    def kids(self, tid: str) -> list[str]:
        out: dict[str, None] = {}
        if self.state is not None:
            children_of = getattr(self.state, "children_of", None)
            if children_of is not None:
                out.update(dict.fromkeys(children_of(tid)))
        info = self.get(tid)
        if info is not None:
            for kid in info.kids:
                if kid not in out and self.get(kid) is not None:
                    out[kid] = None
        return list(out)

    def restore_group(self, gid: str) -> list[str]:
        if self.backend is None or self.lookups >= MAX_BACKEND_LOOKUPS:
            return []
        self.lookups += 1
        try:
            res = self.backend.restore_group(gid)
        except Exception:
            return []
        if res is None:
            return []
        return [r.id for r in getattr(res, "results", ()) or () if isinstance(r.id, str)]


def _results_for_caller_only(backend: Any) -> bool:
    try:
        from celery.backends.rpc import RPCBackend
    except ImportError:  # pragma: no cover - celery is a dependency
        return False
    return isinstance(backend, RPCBackend)


def _date(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            from datetime import datetime

            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


def _list_len(args: str | None) -> int | None:
    """Length of the first positional arg when it is a list/tuple literal (chord callback)."""
    if not args or len(args) > 20_000 or not args.startswith(("([", "((", "[")):
        return None
    from .literal import literal

    try:
        value = literal(args)
    except ValueError:
        return None
    if isinstance(value, tuple) and value and isinstance(value[0], list | tuple):
        return len(value[0])
    if isinstance(value, list) and value and isinstance(value[0], list | tuple):
        return len(value[0])
    return None


# --------------------------------------------------------------------------- root


def find_root(
    state: Any,
    task_id: str,
    backend: Any = None,
    *,
    _facts: _Facts | None = None,
) -> str:
    """The top-most known ancestor of ``task_id`` (via ``root_id``, then parents)."""
    facts = _facts or _Facts(state, backend)
    cur = task_id
    seen = {cur}
    for _ in range(10_000):
        info = facts.get(cur)
        if info is None:
            return cur
        nxt = None
        if info.root and info.root != cur and info.root not in seen and facts.get(info.root):
            nxt = info.root
        elif info.parent and info.parent not in seen and facts.get(info.parent):
            nxt = info.parent
        if nxt is None:
            return cur
        seen.add(nxt)
        cur = nxt
    return cur


# --------------------------------------------------------------------------- build


def _aggregate(states: list[str]) -> str:
    if not states:
        return "PENDING"
    for bad in ("FAILURE", "REVOKED", "REJECTED"):
        if bad in states:
            return bad
    if all(s == "SUCCESS" for s in states):
        return "SUCCESS"
    for busy in ("RETRY", "STARTED", "RECEIVED"):
        if busy in states:
            return "STARTED" if busy == "RECEIVED" and "SUCCESS" in states else busy
    if "SUCCESS" in states:
        return "STARTED"  # partly done
    return "PENDING"


class _Builder:
    def __init__(self, facts: _Facts, max_nodes: int) -> None:
        self.facts = facts
        self.max_nodes = max_nodes
        self.nodes = 0
        self.visited: set[str] = set()
        self.truncated = False
        self.times: dict[int, tuple[float | None, float | None]] = {}  # id(node) -> (sent, done)

    # nodes ---------------------------------------------------------------

    def _budget(self) -> bool:
        if self.nodes >= self.max_nodes:
            self.truncated = True
            return False
        self.nodes += 1
        return True

    def composite(
        self, kind: str, children: list[CanvasNode], node_id: str, source: str = "events"
    ) -> CanvasNode:
        self.nodes += 1
        states = [c.state for c in children]
        sents = [self.times[id(c)][0] for c in children if id(c) in self.times]
        dones = [self.times[id(c)][1] for c in children if id(c) in self.times]
        sent = min((s for s in sents if s is not None), default=None)
        known_dones = [d for d in dones if d is not None]
        done = max(known_dones) if dones and len(known_dones) == len(dones) else None
        runtime = (done - sent) if (done is not None and sent is not None) else None
        node = CanvasNode(node_id, None, _aggregate(states), runtime, kind, children, source)
        if kind == "chain" and children:
            node.name = children[0].name
        self.times[id(node)] = (sent, done)
        return node

    def task_node(self, tid: str, depth: int) -> CanvasNode:
        info = self.facts.get(tid)
        if info is None:
            node = CanvasNode(tid, None, "PENDING", None, "task", [], "backend")
            self.times[id(node)] = (None, None)
            return node
        node = CanvasNode(tid, info.name, info.state, info.runtime, "task", [], info.source)
        self.times[id(node)] = (info.sent, info.done)
        nested = [k for k in self._kids(tid) if not self._is_continuation(info, k)]
        if nested:
            if depth >= MAX_DEPTH:
                node.truncated = self.truncated = True
            else:
                steps = self.siblings(nested, depth + 1, parent=info)
                if steps:
                    node.children.append(self.wrap(steps, depth))
        return node

    def wrap(self, steps: list[CanvasNode], depth: int = 0) -> CanvasNode:
        if len(steps) == 1:
            return steps[0]
        return self.composite("chain", steps, "chain:" + steps[0].id)

    # structure -----------------------------------------------------------

    def _kids(self, tid: str) -> list[str]:
        return [k for k in self.facts.kids(tid) if k not in self.visited]

    def _is_continuation(self, parent: _Info, kid: str) -> bool:
        # Children of a task that is still running were sent from inside it (a nested
        # canvas).  Once it finished, its children cannot be told apart by timing: the next
        # chain step / chord callback is sent *before* the task-succeeded event, inside the
        # reported runtime.  They are treated as continuations (docs/CANVAS.md).
        return parent.done is not None or parent.state in _FINISHED

    def chain(self, start: str, depth: int) -> list[CanvasNode]:
        """The steps of the chain that starts at ``start`` (continuations followed)."""
        steps: list[CanvasNode] = []
        cur: str | None = start
        while cur is not None:
            if cur in self.visited or not self._budget():
                if steps:
                    steps[-1].truncated = True
                self.truncated = True
                break
            self.visited.add(cur)
            node = self.task_node(cur, depth)
            steps.append(node)
            info = self.facts.get(cur)
            if info is None:
                break
            conts = [k for k in self._kids(cur) if self._is_continuation(info, k)]
            if not conts:
                break
            if len(conts) == 1:
                cur = conts[0]
                continue
            if depth >= MAX_DEPTH:
                node.truncated = self.truncated = True
                break
            steps.extend(self.siblings(conts, depth + 1, parent=info))
            break
        return steps

    def siblings(
        self,
        ids: list[str],
        depth: int,
        parent: _Info | None = None,
    ) -> list[CanvasNode]:
        """Steps for children started together: one chain, or a group (+ chord callback)."""
        ids = [i for i in ids if i not in self.visited]
        if not ids:
            return []
        if len(ids) == 1:
            return self.chain(ids[0], depth)
        members = [self.chain(m, depth) for m in ids]
        members = [m for m in members if m]
        if not members:
            return []
        group_id = self._group_id(ids, parent)
        cb = self._callback(members)
        if cb is None:
            return [self.group(members, group_id)]
        i, j = cb
        tail = members[i][j:]
        members[i] = members[i][:j]
        group = self.group(members, group_id)
        if tail[0].kind == "task":
            tail[0].role = "callback"
        chord = self.composite(
            "chord",
            [group, tail[0]],
            "chord:" + (group_id or tail[0].id),
            "backend" if group_id else "events",
        )
        return [chord, *tail[1:]]

    def group(self, members: list[list[CanvasNode]], group_id: str | None) -> CanvasNode:
        nodes = [self.wrap(m) for m in members]
        node_id = group_id or "group:" + nodes[0].id
        return self.composite("group", nodes, node_id, "backend" if group_id else "events")

    def _group_id(self, ids: list[str], parent: _Info | None) -> str | None:
        groups = set()
        for i in ids:
            info = self.facts.get(i)
            gid = info.group if info else None
            if gid is None and parent is not None:
                gid = parent.kid_groups.get(i)
            groups.add(gid)
        if len(groups) == 1:
            gid = groups.pop()
            # chain(group, group): Celery runs the second group (the chord body) with the
            # *first* group's id, so members carrying their parent's group id are a body
            # whose own id was only in the first group's messages (docs/CANVAS.md)
            if gid is not None and parent is not None and parent.group == gid:
                return None
            return gid
        return None

    def _callback(self, members: list[list[CanvasNode]]) -> tuple[int, int] | None:
        """(member index, step index) of the chord callback hanging off a member, if any."""
        n = len(members)
        ends = [self._end(m) for m in members]
        unknown = [k for k, e in enumerate(ends) if e is None]
        known = sorted(((e, k) for k, e in enumerate(ends) if e is not None), reverse=True)
        for i, steps in enumerate(members):
            if len(steps) < 2 or (unknown and unknown != [i]):
                continue
            # the latest end among the *other* members
            others = [e for e, k in known[:2] if k != i]
            latest = others[0] if others else None
            for j in range(1, len(steps)):
                cand = steps[j]
                if cand.kind == "task":
                    heads = [cand]
                elif cand.kind == "group":  # chain(..., group, group): the body is a group
                    heads = [c if c.kind == "task" else c.children[0] for c in cand.children]
                else:
                    continue
                infos = [x for h in heads if (x := self.facts.get(h.id)) is not None]
                sents = [x.sent for x in infos if x.sent is not None]
                if len(sents) != len(heads):
                    continue
                sent = min(sents)
                # the member that sent it finishes just *after* sending it; every other
                # member must have finished before it was sent
                if self.times.get(id(steps[j - 1]), (None, None))[1] is None:
                    continue
                if latest is not None and latest > sent:
                    continue
                sizes = {_list_len(x.args) for x in infos}
                if any(size is not None and size != n for size in sizes):
                    continue
                return i, j
        return None

    def _end(self, steps: list[CanvasNode]) -> float | None:
        return self.times.get(id(steps[-1]), (None, None))[1] if steps else None

    # top-level chord whose header members are separate roots ----------------

    def _top_chord(self, steps: list[CanvasNode]) -> list[CanvasNode]:
        """A top-level group or chord: its members are separate roots, so events link
        only the member that finished last to the callback.  The backend's ``group_id``
        on a step (the last task of a header chain carries it) marks it as a member and
        the next step as the callback; the other members come from a saved group
        (``restore_group``) or from the tasks sent around it that carry the same
        ``group_id`` in the backend (:meth:`_Facts.group_members`)."""
        for k in range(len(steps)):
            if steps[k].kind != "task":
                return steps
            if k + 1 < len(steps) and steps[k + 1].kind not in ("task", "group"):
                return steps
            info = self.facts.get(steps[k].id)
            gid = info.group if info is not None else None
            if not gid:
                continue
            known = [steps[k].id]
            members = [m for m in self.facts.group_members(gid, known) if m not in self.visited]
            header = [steps[: k + 1]]
            for m in members:
                if m not in self.visited and self.facts.get(m) is not None:
                    header.append(self.chain(find_root(None, m, _facts=self.facts), 1))
            header = [h for h in header if h]
            tail = steps[k + 1 :]
            if not tail:
                # entered from another header member: the callback hangs off the member
                # that finished last (it carries the group id too; the member before it)
                for h in header[1:]:
                    for j, step in enumerate(h[:-1]):
                        inf = self.facts.get(step.id)
                        if step.kind == "task" and inf is not None and inf.group == gid:
                            tail = h[j + 1 :]
                            del h[j + 1 :]
                            break
                    if tail:
                        break
            group = self.group(header, gid)
            if not tail or tail[0].kind not in ("task", "group"):  # a group, nothing after it
                size = self.facts.chord_size(gid)
                if size is not None and size > len(group.children):
                    group.missing = size - len(group.children)
                return [group, *tail]
            steps = [*steps[: k + 1], *tail]
            cb = steps[k + 1]
            head = cb if cb.kind == "task" else cb.children[0]
            if cb.kind == "task":
                cb.role = "callback"
            cb_info = self.facts.get(head.id)
            size = _list_len(cb_info.args if cb_info else None) or self.facts.chord_size(gid)
            if size is not None and size > len(group.children):
                group.missing = size - len(group.children)
            chord = self.composite("chord", [group, cb], "chord:" + gid, "backend")
            return [chord, *steps[k + 2 :]]
        return steps

    def top(self, root: str) -> CanvasNode:
        steps = self.chain(root, 0)
        info = self.facts.get(root)
        if info is not None and info.parent is None and self.facts.backend is not None:
            steps = self._top_chord(steps)
        node = self.wrap(steps)
        # tasks that share the root but are not linked to it (their parent unknown)
        orphans: list[str] = []
        in_root = getattr(self.facts.state, "in_root", None)
        if in_root is not None:
            for tid in in_root(root):
                if tid not in self.visited:
                    inf = self.facts.get(tid)
                    parent = inf.parent if inf else None
                    if parent is None or self.facts.get(parent) is None:
                        orphans.append(tid)
        for tid in orphans:
            if tid in self.visited:
                continue
            if not self._budget():
                node.truncated = True
                break
            self.nodes -= 1
            node.children.append(self.wrap(self.chain(tid, 1)))
        if self.truncated:
            node.truncated = True
            if in_root is not None:  # say how much was cut: the canvas's known tasks not shown
                shown = {n.id for n in node.walk() if n.kind == "task"}
                known = set(in_root(root))
                known.add(root)
                node.hidden = len(known - shown)
        return node


def canvas_tree(
    state: Any,
    task_id: str,
    backend: Any = None,
    max_nodes: int = MAX_NODES,
    budget: float = BACKEND_BUDGET_S,
    cluster: ClusterRead | None = None,
) -> CanvasNode | None:
    """The whole canvas tree ``task_id`` belongs to, or None if nothing is known of it.

    ``budget``: seconds the backend reads may take in total (then the tree is built from
    what was read; a read in flight is bounded by the backend's socket timeout).
    ``cluster``: queued / reserved messages and workers' replies (:func:`read_waiting`);
    a canvas with a member still in a message is drawn as ``ctl revoke --tree`` sees it
    (the backend is then read for at most ``budget / 2`` more seconds)."""
    if not isinstance(task_id, str) or not task_id:
        return None
    facts = _Facts(state, backend, budget)
    tree: CanvasNode | None = None
    if facts.get(task_id) is not None:
        root = find_root(state, task_id, _facts=facts)
        builder = _Builder(facts, max(1, int(max_nodes)))
        try:
            tree = builder.top(root)
        except RecursionError:  # pragma: no cover - depth is capped; belt and braces
            tree = builder.task_node(task_id, MAX_DEPTH)
            tree.truncated = True
    if cluster is None:
        return tree
    waiting, unread = _waiting_tree(
        state, task_id, tree, facts.backend, cluster, max(1, int(max_nodes)), budget / 2
    )
    out = waiting or tree
    if out is not None:
        out.unread = unread
    return out


# --------------------------------------------------------------------------- waiting canvases


def read_waiting(settings: ClusterSettings) -> ClusterRead:
    """What the console reads for a canvas besides events and backend, bounded and never
    writing: queued and unacked messages where the broker's adapter can scan them (Redis;
    at most WAITING_MAX_MESSAGES / WAITING_BUDGET_S), and the workers' ``reserved`` and
    ``scheduled`` replies (asked meanwhile, WAITING_INSPECT_TIMEOUT_S)."""
    from .revoke_tree import read_cluster

    return read_cluster(
        settings,
        timeout=WAITING_INSPECT_TIMEOUT_S,
        methods=("reserved", "scheduled"),
        budget=WAITING_BUDGET_S,
        max_messages=WAITING_MAX_MESSAGES,
    )


def _in_message(node: Node) -> bool:
    return any(s == "unacked" or s.startswith(("queue:", "embedded:")) for s in node.sources)


def _waiting_tree(
    state: Any,
    task_id: str,
    tree: CanvasNode | None,
    backend: Any,
    cluster: ClusterRead,
    max_nodes: int,
    budget: float,
) -> tuple[CanvasNode | None, list[str]]:
    """The canvas as ``ctl revoke --tree`` builds it, when a member of it is still in a
    message and it shows at least the tasks the event tree shows; else (None, unread)."""
    from .revoke_tree import Seen, _tops, canvas_dict, plan_from

    unread = list(cluster.unread)
    if not cluster.messages:
        return None, unread
    tasks = getattr(state, "tasks", None) or {}
    known = [n.id for n in tree.tasks()] if tree is not None else []
    seen = []
    for tid in dict.fromkeys([task_id, *known]):
        t = tasks.get(tid)
        if t is not None:
            seen.append(Seen(tid, t.name, t.state or "PENDING", t.parent_id, t.root_id))
    plan = plan_from(
        cluster,
        [task_id],
        backend,
        seen=seen,
        deadline=time.monotonic() + budget,
        focus=True,
    )
    unread = list(dict.fromkeys(plan.unread))
    if task_id in plan.unknown or not any(_in_message(n) for n in plan.members):
        return None, unread
    nodes = {n.id: n for n in plan.members}
    tops = [canvas_dict(plan, top) for top in _tops(plan)]
    tops.sort(key=lambda d: not _contains(d, task_id))
    count = [0]
    main = _from_plan(tops[0], nodes, tasks, count, max_nodes)
    for other in tops[1:]:  # members whose link to the rest is unknown
        if count[0] >= max_nodes:
            main.truncated = True
            break
        main.children.append(_from_plan(other, nodes, tasks, count, max_nodes))
    if count[0] >= max_nodes:
        main.truncated = True
    if tree is not None and len(main.tasks()) < len(tree.tasks()):
        return None, unread
    return main, unread


def _contains(d: dict[str, Any], task_id: str) -> bool:
    stack = [d]
    while stack:
        cur = stack.pop()
        if cur.get("id") == task_id:
            return True
        stack.extend(cur.get("children") or [])
    return False


def _from_plan(
    d: dict[str, Any], nodes: dict[str, Node], tasks: Any, count: list[int], max_nodes: int
) -> CanvasNode:
    """A CanvasNode from revoke_tree's nested canvas; task states and runtimes from the
    events where they know more (a reserved task is RECEIVED, not PENDING)."""
    count[0] += 1
    kind = d.get("kind", "task")
    if kind in ("task", "callback"):
        tid = str(d.get("id"))
        plan_node = nodes.get(tid)
        name = d.get("name")
        status = str(d.get("state") or "PENDING")
        runtime = None
        t = tasks.get(tid)
        if t is not None:
            name = name or t.name
            runtime = t.runtime
            if (
                t.state
                and t.state != "PENDING"
                and not (status in _FINISHED and t.state not in _FINISHED)
            ):
                status = t.state
        source = "events"
        if plan_node is not None and _in_message(plan_node):
            source = "message"
        elif plan_node is not None and plan_node.has_meta:
            source = "backend"
        role = "callback" if kind == "callback" else None
        return CanvasNode(tid, name, status, runtime, "task", [], source, role=role)
    children: list[CanvasNode] = []
    truncated = False
    for child in d.get("children") or []:
        if count[0] >= max_nodes:
            truncated = True
            break
        children.append(_from_plan(child, nodes, tasks, count, max_nodes))
    first = children[0].id if children else ""
    if kind == "chain":
        node_id = "chain:" + first
    elif kind == "chord":
        node_id = "chord:" + str(d.get("id") or first)
    else:
        node_id = str(d.get("id") or "group:" + first)
    source = "message" if any(c.source == "message" for c in children) else "backend"
    node = CanvasNode(
        node_id,
        children[0].name if kind == "chain" and children else None,
        _aggregate([c.state for c in children]),
        None,
        kind,
        children,
        source,
        missing=int(d.get("missing") or 0),
        truncated=truncated,
    )
    return node
