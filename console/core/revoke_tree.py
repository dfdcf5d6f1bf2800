"""Find every not-yet-finished task of the canvas an id belongs to, and revoke them.

Sources, all read-only:

* queued and unacked messages (:mod:`broker_scan`): their ids, ``root_id``,
  ``parent_id``, ``group`` headers, and the task ids pre-assigned to chain
  steps / chord bodies / callbacks embedded in their bodies;
* ``inspect active / reserved / scheduled`` (what workers hold right now);
* the result backend: ``parent_id``, ``group_id`` and ``children`` of each
  task (what already ran or is running).

Records are linked when they share a task id, root id, parent id or group
id (embedded signatures are linked to the message that carries them); the
canvas of an id is its connected component.  Every member that is not
READY (SUCCESS / FAILURE / REVOKED) is revoked in ONE broadcast.

A source the broker or backend cannot offer is skipped and named in
``TreePlan.unread`` (the CLI says so on stderr and in the JSON): RabbitMQ
cannot read queued messages without consuming them (the adapter's
``scan_messages`` capability), an ``rpc://`` backend keeps results for the
caller only, and workers that do not answer leave their holdings unknown.

Limitation: a chain step that follows a *running* task exists only in that
task's (already acknowledged) message; it cannot be listed, but terminating
the running step stops the chain there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .results import READY_STATES, child_ids, raw_meta

if TYPE_CHECKING:
    from .broker_scan import QueuedMessage
    from .remote import RemoteControl
    from .settings import ClusterSettings

MAX_NODES = 50_000
MAX_DEPTH = 100


@dataclass
class Node:
    id: str
    name: str | None = None
    state: str = "PENDING"
    sources: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)
    has_meta: bool = False
    #: "task", or "group" for a group id (no task has it; GroupResult.revoke revokes its members)
    kind: str = "task"
    #: how the task was found inside another's message: "chain" (a later step), "callback"
    #: (a chord body / link), "errback", "group-member"; None for a message or a backend meta
    role: str | None = None
    parent_id: str | None = None
    group_id: str | None = None
    #: what runs after this one: the next chain step(s), or a group id
    next: list[str] = field(default_factory=list)
    #: group only: its members (ids of tasks that carry the group id), its chord callback,
    #: and how many members Celery says it has (None when no source tells)
    members: list[str] = field(default_factory=list)
    callback: str | None = None
    size: int | None = None

    def link(self, attr: str, value: str | None) -> None:
        if not value or value == self.id:
            return
        seq = getattr(self, attr)
        if value not in seq:
            seq.append(value)
        self.keys.add(value)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "state": self.state,
            "role": self.role,
            "found_in": sorted(self.sources),
            "parent_id": self.parent_id,
            "group_id": self.group_id,
            "next": list(self.next),
        }
        if self.kind == "group":
            out["members"] = list(self.members)
            out["callback"] = self.callback
            out["size"] = self.size
            out["missing"] = max(0, self.size - len(self.members)) if self.size else 0
        return out


@dataclass
class TreePlan:
    targets: list[str]
    members: list[Node]  # the whole canvas (every target's component)
    to_revoke: list[Node]  # task members not READY
    #: targets found nowhere (no message, no worker, no backend record, no group)
    unknown: list[str] = field(default_factory=list)
    #: sources that could not be read, one sentence each (the plan may be incomplete)
    unread: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "targets": self.targets,
            "unknown": self.unknown,
            "members": [n.as_dict() for n in self.members],
            "revoke": [n.id for n in self.to_revoke],
            "unread_sources": self.unread,
            "canvas": [canvas_dict(self, top) for top in _tops(self)],
        }


def unreadable_sources(settings: ClusterSettings) -> list[str]:
    """What a plan of this cluster cannot read, known before asking anyone (capabilities)."""
    from .brokers import adapter_for
    from .brokers.urls import results_go_to_caller_only

    out = []
    adapter = adapter_for(settings)
    if not adapter.capabilities.scan_messages:
        out.append(
            f"queued messages: the {adapter.capabilities.transport} broker cannot read them "
            "without consuming them"
        )
    if results_go_to_caller_only(settings.effective_backend_url):
        out.append("result backend: rpc:// results go only to the client that sent the task")
    return out


class _Pool:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}

    def add(self, tid: str, source: str, name: str | None = None, *keys: str | None) -> Node:
        node = self.nodes.get(tid)
        if node is None:
            node = self.nodes[tid] = Node(tid)
            node.keys.add(tid)
        node.sources.add(source)
        if name and not node.name:
            node.name = name
        node.keys.update(k for k in keys if k)
        return node

    def group(self, gid: str, source: str) -> Node:
        node = self.add(gid, source)
        node.kind = "group"
        return node

    def join(self, tid: str, gid: str | None, source: str) -> None:
        """``tid`` carries group id ``gid``."""
        if not gid or gid == tid:
            return
        node = self.nodes[tid]
        node.group_id = node.group_id or gid
        node.keys.add(gid)
        self.group(gid, source).link("members", tid)


# --------------------------------------------------------------------------- signatures


def _opts(sig: dict[str, Any]) -> dict[str, Any]:
    value = sig.get("options")
    return value if isinstance(value, dict) else {}


def _walk(
    pool: _Pool, sig: Any, source: str, role: str, group: str | None = None, depth: int = 0
) -> tuple[str | None, str | None]:
    """Record a signature embedded in a message; (id of its first task/group, of its last)."""
    if depth > 50:
        return None, None
    if isinstance(sig, list):  # a chain as a plain list
        sig = {"task": "celery.chain", "kwargs": {"tasks": sig}}
    if not isinstance(sig, dict):
        return None, None
    options = _opts(sig)
    kwargs = value if isinstance(value := sig.get("kwargs"), dict) else {}
    task = sig.get("task")
    kind = sig.get("subtask_type")
    if task == "celery.group" or kind == "group":
        gid = options.get("task_id")
        gid = gid if isinstance(gid, str) and gid else None
        raw_tasks = kwargs.get("tasks")
        tasks: list[Any] = raw_tasks if isinstance(raw_tasks, list) else []
        if gid is None:
            for member in tasks:
                _walk(pool, member, source, "group-member", group, depth + 1)
            return None, None
        gnode = pool.group(gid, source)
        gnode.role = gnode.role or role
        gnode.size = gnode.size or len(tasks) or None
        for member in tasks:
            first, last = _walk(pool, member, source, "group-member", gid, depth + 1)
            if last is not None and last in pool.nodes:
                pool.join(last, gid, source)
        if group:
            pool.join(gid, group, source)
        return gid, gid
    if task == "celery.chain" or kind == "chain":
        raw_steps = kwargs.get("tasks")
        steps: list[Any] = raw_steps if isinstance(raw_steps, list) else []
        first = prev = None
        for step in steps:
            head, last = _walk(pool, step, source, "chain", None, depth + 1)
            if head is None:
                continue
            if prev is not None:
                pool.nodes[prev].link("next", head)
            first = first or head
            prev = last
        if group and prev is not None and prev in pool.nodes:
            pool.join(prev, group, source)
        return first, prev
    if task == "celery.chord" or kind == "chord":
        header = kwargs.get("header")
        body = kwargs.get("body")
        if isinstance(header, list):
            header = {"task": "celery.group", "kwargs": {"tasks": header}, "options": {}}
            hid = _opts(body).get("group_id") if isinstance(body, dict) else None
            header["options"] = {"task_id": hid} if hid else {}
        head, _ = _walk(pool, header, source, role, group, depth + 1)
        cb, last = _walk(pool, body, source, "callback", None, depth + 1)
        if head is not None and cb is not None and pool.nodes[head].kind == "group":
            pool.nodes[head].callback = cb
            pool.nodes[head].keys.add(cb)
        return head or cb, last or head
    tid = options.get("task_id")
    if not isinstance(tid, str) or not tid:
        return None, None
    node = pool.add(tid, f"embedded:{role}", str(task) if task else None)
    node.role = node.role or role
    gid = options.get("group_id")
    if isinstance(gid, str) and gid and role == "callback":
        node.keys.add(gid)  # a chord body carries its header's group id: not a member
    elif group is None and isinstance(gid, str) and gid:
        pool.join(tid, gid, source)
    if options.get("chord"):
        cb, _ = _walk(pool, options["chord"], source, "callback", None, depth + 1)
        target = node.group_id
        if cb is not None and target:
            pool.group(target, source).callback = cb
            pool.nodes[target].keys.add(cb)
    for key, sub_role in (("link", "callback"), ("link_error", "errback")):
        links = options.get(key)
        for link in links if isinstance(links, list) else [links] if links else []:
            head, _ = _walk(pool, link, source, sub_role, None, depth + 1)
            if sub_role == "callback":
                node.link("next", head)
            elif head:
                node.keys.add(head)
    return tid, tid


def _add_message(pool: _Pool, msg: QueuedMessage) -> None:
    src = "unacked" if msg.unacked else f"queue:{msg.queue}"
    node = pool.add(msg.id, src, msg.name, msg.root_id, msg.parent_id, msg.group_id)
    node.parent_id = node.parent_id or msg.parent_id
    pool.join(msg.id, msg.group_id, src)
    embed = msg.embed if isinstance(msg.embed, dict) else {}
    prev = msg.id
    chain = embed.get("chain")
    for step in reversed(chain) if isinstance(chain, list) else []:  # sent last step first
        head, last = _walk(pool, step, src, "chain")
        if head is None:
            continue
        pool.nodes[prev].link("next", head)
        prev = last or head
    if embed.get("chord") and msg.group_id:
        cb, _ = _walk(pool, embed["chord"], src, "callback")
        if cb is not None:
            pool.nodes[msg.group_id].callback = cb
            pool.nodes[msg.group_id].keys.add(cb)
    callbacks = embed.get("callbacks")
    for link in callbacks if isinstance(callbacks, list) else []:
        head, _ = _walk(pool, link, src, "callback")
        node.link("next", head)
    errbacks = embed.get("errbacks")
    for link in errbacks if isinstance(errbacks, list) else []:
        head, _ = _walk(pool, link, src, "errback")
        if head:
            node.keys.add(head)


# --------------------------------------------------------------------------- groups


def group_record(backend: Any, gid: str) -> tuple[list[str], int | None]:
    """What the result backend holds of group ``gid``: member ids and size.

    Members come from a saved group (``GroupResult.save()`` / ``celery-taskset-meta-ID``,
    what ``GroupResult.restore`` reads); the size from the chord counter a key/value
    backend keeps while a chord runs (``celery-taskset-meta-ID.s`` on Redis, deleted when
    the callback is sent).  Read-only; ``([], None)`` when nothing is stored."""
    from .results import saved_group_members

    members: list[str] = []
    size: int | None = None
    try:
        raw_members = saved_group_members(backend, gid)
        if raw_members is not None:
            members = raw_members[:MAX_NODES]
        else:  # a database backend: its saved group is the GroupResult itself
            saved = backend.restore_group(gid)
            stack = list(getattr(saved, "results", None) or [])
            while stack and len(members) < MAX_NODES:
                res = stack.pop(0)
                sub = getattr(res, "results", None)
                if sub is not None:  # a nested GroupResult
                    stack.extend(sub)
                elif isinstance(getattr(res, "id", None), str):
                    members.append(res.id)
    except Exception:
        members = []
    if members:
        size = len(members)
    getter = getattr(backend, "get", None)
    key_for = getattr(backend, "get_key_for_group", None)
    if size is None and callable(getter) and callable(key_for):
        try:
            raw = getter(key_for(gid, ".s"))
            size = int(raw) if raw is not None else None
        except Exception:
            size = None
    return members, size


def _components(nodes: Iterable[Node]) -> dict[str, str]:
    """Union-find over shared keys: node id -> component representative."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for node in nodes:
        keys = sorted(node.keys)
        for key in keys[1:]:
            ra, rb = find(keys[0]), find(key)
            if ra != rb:
                parent[ra] = rb
    return {node.id: find(node.id) for node in nodes}


def _metas(backend: Any, ids: list[str], chunk: int = 500) -> dict[str, dict[str, Any]]:
    """Stored metas of ``ids`` (MGET in chunks on key/value backends such as Redis)."""
    out: dict[str, dict[str, Any]] = {}
    mget = getattr(backend, "mget", None)
    key_for = getattr(backend, "get_key_for_task", None)
    if callable(mget) and callable(key_for):
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            values = mget([key_for(t) for t in part])
            for tid, raw in zip(part, values, strict=False):
                if raw is None:
                    continue
                meta = backend.decode(raw)
                if isinstance(meta, dict):
                    out[tid] = meta
        return out
    for tid in ids:
        meta = raw_meta(backend, tid)
        if meta is not None:
            out[tid] = meta
    return out


def _scan_messages(settings: ClusterSettings) -> Iterator[QueuedMessage]:
    """Queued and reserved messages, read without taking them, where the broker's adapter
    can (Redis lists and ``unacked``); nothing on a broker that cannot scan (AMQP)."""
    from .brokers import adapter_for

    adapter = adapter_for(settings)
    return adapter.iter_messages() if adapter.capabilities.scan_messages else iter(())


#: what the workers are asked for (``inspect``): the tasks they hold
HELD_METHODS = ("active", "reserved", "scheduled")


@dataclass
class ClusterRead:
    """What a plan reads from the cluster besides the result backend, never writing."""

    #: queued and unacked task messages (empty where the broker cannot scan)
    messages: list[QueuedMessage] = field(default_factory=list)
    #: inspect method -> the request dicts the workers replied with
    held: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: sources that could not be read (or not whole), one sentence each
    unread: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Seen:
    """A task known from elsewhere (the console's event state): joins the plan's pool."""

    id: str
    name: str | None = None
    state: str = "PENDING"
    parent_id: str | None = None
    root_id: str | None = None


def _held(res: Any, method: str, timeout: float, read: ClusterRead) -> None:
    if not res.replies and res.expected != 0:
        read.unread.append(f"workers' {method} tasks: no worker replied within {timeout}s")
    elif res.unanswered:
        read.unread.append(
            f"workers' {method} tasks: {res.unanswered} worker(s) did not reply within {timeout}s"
        )
    out = read.held.setdefault(method, [])
    for reply in res.replies.values():
        for item in reply if isinstance(reply, list) else []:
            req = item.get("request", item) if isinstance(item, dict) else None
            if isinstance(req, dict) and isinstance(req.get("id"), str):
                out.append(req)


def read_cluster(
    settings: ClusterSettings,
    rc: RemoteControl | None = None,
    timeout: float = 1.0,
    methods: tuple[str, ...] = HELD_METHODS,
    *,
    budget: float | None = None,
    max_messages: int | None = None,
) -> ClusterRead:
    """Queued / unacked messages (the adapter's non-destructive scan, where it can) and
    the workers' replies to ``inspect <methods>``.

    With ``budget`` (seconds) the workers are asked in threads while the queues are read,
    the scan stops at the budget or after ``max_messages`` messages, and a failing source
    is named in ``unread`` instead of raising (the console); without it everything is read
    in turn and errors propagate (``ctl revoke --tree``)."""
    from .remote import RemoteControl

    read = ClusterRead(unread=unreadable_sources(settings))
    rc = rc or RemoteControl(settings)
    if budget is None:
        read.messages.extend(_scan_messages(settings))
        for method in methods:
            _held(rc.inspect(method, timeout=timeout), method, timeout, read)
        return read
    import threading
    import time

    deadline = time.monotonic() + budget
    results: dict[str, Any] = {}

    def ask(method: str) -> None:
        try:
            results[method] = rc.inspect(method, timeout=timeout)
        except Exception as exc:
            results[method] = exc

    threads = [threading.Thread(target=ask, args=(m,), daemon=True) for m in methods]
    for t in threads:
        t.start()
    cap = MAX_NODES if max_messages is None else max_messages
    scan = _scan_messages(settings)
    try:
        for msg in scan:
            read.messages.append(msg)
            if len(read.messages) >= cap or time.monotonic() > deadline:
                read.unread.append(
                    f"queued messages: only the first {len(read.messages):,} read "
                    f"(limit {cap:,} messages / {budget:g}s)"
                )
                break
    except Exception as exc:
        read.unread.append(settings.scrub(f"queued messages: {type(exc).__name__}: {exc}"))
    finally:
        close = getattr(scan, "close", None)
        if callable(close):
            close()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + timeout)
    for method in methods:
        res = results.get(method)
        if res is None:
            read.unread.append(f"workers' {method} tasks: no answer within {timeout}s")
        elif isinstance(res, Exception):
            read.unread.append(settings.scrub(f"workers' {method} tasks: {res}"))
        else:
            _held(res, method, timeout, read)
    return read


def plan_tree(
    settings: ClusterSettings, ids: list[str], rc: RemoteControl | None = None, timeout: float = 1.0
) -> TreePlan:
    """Work out the canvas of every id in ``ids`` and what of it is not finished."""
    from .brokers.urls import results_go_to_caller_only

    read = read_cluster(settings, rc, timeout)
    # an rpc:// backend would declare a reply queue of its own and read nothing
    rpc = results_go_to_caller_only(settings.effective_backend_url)
    return plan_from(read, ids, None if rpc else settings.app.backend)


def _component_ids(pool: _Pool, ids: Iterable[str]) -> list[str]:
    comp = _components(pool.nodes.values())
    wanted = {comp[t] for t in ids if t in comp}
    return [tid for tid, c in comp.items() if c in wanted]


def plan_from(
    read: ClusterRead,
    ids: list[str],
    backend: Any,
    *,
    seen: Iterable[Seen] = (),
    deadline: float | None = None,
    focus: bool = False,
) -> TreePlan:
    """The plan of ``ids`` from what :func:`read_cluster` read, the result backend
    (``None``: not read) and tasks ``seen`` elsewhere.

    ``deadline`` (``time.monotonic()``) stops the backend reads (the plan is then built
    from what was read, and says so in ``unread``); ``focus`` reads the backend only for
    the canvas of ``ids`` (and ``seen``) instead of every message (the console)."""
    import time

    pool = _Pool()
    unread = list(read.unread)
    for msg in read.messages:
        _add_message(pool, msg)
    for method, reqs in read.held.items():
        for req in reqs:
            # Celery 5.x Request.info() has no root_id/parent_id; use them if a worker
            # sends them
            root, parent = req.get("root_id"), req.get("parent_id")
            name = req.get("name")
            node = pool.add(
                req["id"],
                method,
                name if isinstance(name, str) else None,
                root if isinstance(root, str) else None,
                parent if isinstance(parent, str) else None,
            )
            if isinstance(parent, str):
                node.parent_id = node.parent_id or parent
            if method == "active":
                node.state = "STARTED"
    seeds = []
    for task in seen:
        node = pool.add(task.id, "events", task.name, task.parent_id, task.root_id)
        node.parent_id = node.parent_id or task.parent_id
        if node.state == "PENDING":
            node.state = task.state
        seeds.append(task.id)
    for tid in ids:
        pool.add(tid, "argument")
    # backend: parents, groups, children; expand to a fixpoint
    if backend is None:
        frontier: list[str] = []
    elif focus:
        frontier = [*ids, *seeds]
    else:
        frontier = list(pool.nodes)
    fetched: set[str] = set()
    groups_read: set[str] = set()
    stopped = False
    while backend is not None and len(pool.nodes) < MAX_NODES:
        if deadline is not None and time.monotonic() > deadline:
            stopped = True
            break
        scope = _component_ids(pool, [*ids, *seeds]) if focus else list(pool.nodes)
        if focus:
            frontier = [*frontier, *scope]
        nxt: list[str] = []
        batch = [tid for tid in dict.fromkeys(frontier) if tid not in fetched]
        if not batch:
            break
        fetched.update(batch)
        for tid, meta in _metas(backend, batch).items():
            node = pool.add(
                tid,
                "backend",
                meta.get("name"),
                meta.get("parent_id"),
                meta.get("group_id"),
                meta.get("root_id"),
            )
            node.state = str(meta.get("status") or "PENDING")
            node.has_meta = True
            parent_id = meta.get("parent_id")
            group_id = meta.get("group_id")
            if isinstance(group_id, str):
                pool.join(tid, group_id, "backend")
                if group_id not in fetched:
                    nxt.append(group_id)
            if isinstance(parent_id, str) and parent_id != tid:
                node.parent_id = parent_id
                if parent_id not in pool.nodes:
                    pool.add(parent_id, "backend:parent")
                    nxt.append(parent_id)
                parent = pool.nodes[parent_id]
                parent.link("next", group_id if isinstance(group_id, str) else tid)
            for child in child_ids(meta.get("children")):
                members = child["group"] or [child["id"]]
                if child["group"]:
                    pool.group(child["id"], "backend:child")
                node.link("next", child["id"])
                for cid in members:
                    if cid not in pool.nodes:
                        nxt.append(cid)
                    pool.add(cid, "backend:child", None, tid)
                    if child["group"]:
                        pool.join(cid, child["id"], "backend:child")
        # groups (given ids, and group ids met on the way): saved members, chord size
        in_scope = set(scope) | set(nxt) if focus else None
        for gid in [n.id for n in pool.nodes.values() if n.id not in groups_read]:
            node = pool.nodes[gid]
            if node.kind != "group" and gid not in ids:
                continue
            if in_scope is not None and gid not in in_scope and gid not in ids:
                continue
            if deadline is not None and time.monotonic() > deadline:
                stopped = True
                break
            groups_read.add(gid)
            members, size = group_record(backend, gid)
            if members or size:
                pool.group(gid, "backend:group")
                node.size = size or node.size
            for mid in members:
                if mid not in pool.nodes:
                    nxt.append(mid)
                pool.add(mid, "backend:group")
                pool.join(mid, gid, "backend:group")
        frontier = nxt
    if stopped:
        unread.append("result backend: not read whole (time budget spent)")
    _callbacks_out_of_groups(pool)
    comp = _components(pool.nodes.values())
    sizes = Counter(comp.values())
    # "found nowhere" needs every source read: where queued messages cannot be read (AMQP),
    # an id seen nowhere else may still be waiting in a queue, so it is revoked all the same
    unknown = [
        t
        for t in ids
        if not unread
        and pool.nodes[t].sources == {"argument"}
        and not pool.nodes[t].has_meta
        and pool.nodes[t].kind != "group"
        and sizes[comp[t]] == 1
    ]
    wanted = {comp[t] for t in ids if t not in unknown}
    members = [n for n in pool.nodes.values() if comp[n.id] in wanted]
    members.sort(key=lambda n: (n.id not in ids, n.id))
    for node in members:
        if node.kind == "group":
            node.state = _rollup([pool.nodes[m].state for m in node.members if m in pool.nodes])
    to_revoke = [n for n in members if n.kind == "task" and n.state not in READY_STATES]
    return TreePlan(
        targets=list(ids), members=members, to_revoke=to_revoke, unknown=unknown, unread=unread
    )


def _callbacks_out_of_groups(pool: _Pool) -> None:
    """A chord callback runs with its header's group id (the backend stores it as
    ``group_id``): a "member" whose parent is a member of the same group is the callback."""
    moved: set[str] = set()
    for group in [n for n in pool.nodes.values() if n.kind == "group"]:
        body: list[str] = []
        members = set(group.members)
        for mid in list(group.members):
            member = pool.nodes.get(mid)
            parent = pool.nodes.get(member.parent_id or "") if member else None
            if member is None or parent is None:
                continue
            if parent.id in members or parent.group_id == group.id:
                body.append(mid)
        if body:
            group.members = [m for m in group.members if m not in body]
            moved.update(body)
        if len(body) == 1 and not group.callback:
            group.callback = body[0]
            pool.nodes[body[0]].role = pool.nodes[body[0]].role or "callback"
        elif len(body) > 1 and not group.callback:
            # chain(group, group): Celery runs the second group with the first group's id;
            # its own id was only in the first group's messages
            gnode = pool.group("group:" + body[0], "backend")
            for mid in body:
                gnode.link("members", mid)
            group.callback = gnode.id
            group.keys.add(gnode.id)
    if moved:
        for node in pool.nodes.values():
            if node.next:
                node.next = [x for x in node.next if x not in moved]


# --------------------------------------------------------------------------- nesting


def _rollup(states: list[str]) -> str:
    """A composite's state from its members' (the Canvas screen's rules)."""
    if not states:
        return "PENDING"
    for bad in ("FAILURE", "REVOKED"):
        if bad in states:
            return bad
    if all(s == "SUCCESS" for s in states):
        return "SUCCESS"
    if any(s in ("STARTED", "RETRY", "SUCCESS") for s in states):
        return "STARTED"
    return "RECEIVED" if "RECEIVED" in states else "PENDING"


def _prev_links(members: list[Node]) -> dict[str, str]:
    prev: dict[str, str] = {}
    for n in members:
        for nid in n.next:
            prev.setdefault(nid, n.id)
    return prev


def _tops(plan: TreePlan) -> list[Node]:
    """Members nothing points to (the start of each canvas); the first steps of a
    group's member chains are inside the group."""
    nodes = {n.id: n for n in plan.members}
    prev = _prev_links(plan.members)
    pointed: set[str] = set()
    for node in plan.members:
        pointed.update(node.next)
        pointed.update(node.members)
        if node.callback:
            pointed.add(node.callback)
        if node.group_id:
            pointed.add(node.id)
            cur, hops = node.id, 0
            while cur in prev and hops < 1000:
                p = nodes.get(prev[cur])
                if p is None or p.kind == "group" or p.group_id:
                    break
                pointed.add(p.id)
                cur, hops = p.id, hops + 1
    heads = [n for n in plan.members if n.id not in pointed]
    return heads or plan.members[:1]


def canvas_dict(plan: TreePlan, top: Node) -> dict[str, Any]:
    """The nested structure from ``top``: chains of tasks/groups; a group with a callback
    is a chord ``{"kind": "chord", "children": [group, callback chain]}``."""
    nodes = {n.id: n for n in plan.members}
    seen: set[str] = set()
    # member id -> first step of its chain (a header member is often the last step)
    prev = _prev_links(plan.members)

    def head_of(tid: str) -> str:
        cur, hops = tid, 0
        while cur in prev and hops < 1000:
            p = nodes.get(prev[cur])
            if p is None or p.kind == "group" or p.group_id:
                break
            cur, hops = p.id, hops + 1
        return cur

    def chain(start: str, stop: str | None = None, depth: int = 0) -> dict[str, Any] | None:
        steps: list[dict[str, Any]] = []
        cur: str | None = start
        while cur is not None and cur not in seen and cur in nodes and len(seen) < MAX_NODES:
            node = nodes[cur]
            seen.add(cur)
            steps.append(one(node, depth))
            if cur == stop:
                break
            following = [x for x in node.next if x in nodes and x not in seen]
            if node.kind == "group" and node.callback:
                following = []  # the chord's callback chain is inside the chord node
            cur = following[0] if following else None
        if not steps:
            return None
        if len(steps) == 1:
            return steps[0]
        return {
            "kind": "chain",
            "id": None,
            "state": _rollup([s["state"] for s in steps]),
            "children": steps,
        }

    def one(node: Node, depth: int) -> dict[str, Any]:
        if node.kind != "group" or depth > MAX_DEPTH:
            return {
                "kind": "task",
                "id": node.id,
                "name": node.name,
                "state": node.state,
                "role": node.role,
                "children": [],
            }
        children = [c for m in node.members if m in nodes if (c := chain(head_of(m), m, depth + 1))]
        missing = max(0, node.size - len(node.members)) if node.size else 0
        group: dict[str, Any] = {
            "kind": "group",
            "id": node.id,
            "state": node.state,
            "missing": missing,
            "size": node.size,
            "children": children,
        }
        if node.callback and node.callback in nodes:
            body = chain(node.callback, None, depth + 1)
            if body is None:
                return group
            if body.get("kind") == "task":
                body["kind"] = "callback"
            return {
                "kind": "chord",
                "id": node.id,
                "callback": node.callback,
                "state": _rollup([group["state"], body["state"]]),
                "children": [group, body],
            }
        return group

    return chain(head_of(top.id)) or {
        "kind": "task",
        "id": top.id,
        "name": top.name,
        "state": top.state,
        "role": top.role,
        "children": [],
    }


def canvas_lines(plan: TreePlan, limit: int = 2_000) -> list[str]:
    """The nested canvas as indented text (``ctl revoke --tree`` without --json)."""
    out: list[str] = []

    def emit(node: dict[str, Any], depth: int) -> None:
        if len(out) >= limit:
            return
        kind = node.get("kind", "task")
        label = kind if kind not in ("task",) else ""
        if node.get("name"):
            label = f"{label} {node['name']}".strip()
        text = f"{'  ' * depth}{label} {node.get('state', '')}"
        if node.get("id"):
            text += f"  {node['id']}"
        if node.get("missing"):
            text += f"  (+{node['missing']} not known yet)"
        out.append(text)
        for child in node.get("children", []):
            emit(child, depth + 1)

    for top in plan.as_dict()["canvas"]:
        emit(top, 0)
    return out
