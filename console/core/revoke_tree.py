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

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .results import READY_STATES, child_ids, raw_meta

if TYPE_CHECKING:
    from .remote import RemoteControl
    from .settings import ClusterSettings

MAX_NODES = 50_000


@dataclass
class Node:
    id: str
    name: str | None = None
    state: str = "PENDING"
    sources: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)
    has_meta: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "found_in": sorted(self.sources),
        }


@dataclass
class TreePlan:
    targets: list[str]
    members: list[Node]  # the whole canvas (every target's component)
    to_revoke: list[Node]  # members not READY
    #: sources that could not be read, one sentence each (the plan may be incomplete)
    unread: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "targets": self.targets,
            "members": [n.as_dict() for n in self.members],
            "revoke": [n.id for n in self.to_revoke],
            "unread_sources": self.unread,
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


def plan_tree(
    settings: ClusterSettings, ids: list[str], rc: RemoteControl | None = None, timeout: float = 1.0
) -> TreePlan:
    """Work out the canvas of every id in ``ids`` and what of it is not finished."""
    from .brokers import adapter_for
    from .brokers.urls import results_go_to_caller_only
    from .remote import RemoteControl

    pool = _Pool()
    unread = unreadable_sources(settings)
    adapter = adapter_for(settings)
    messages = adapter.iter_messages() if adapter.capabilities.scan_messages else iter(())
    for msg in messages:
        src = "unacked" if msg.unacked else f"queue:{msg.queue}"
        pool.add(msg.id, src, msg.name, msg.root_id, msg.parent_id, msg.group_id)
        for emb in msg.embedded:
            pool.add(emb.id, f"embedded:{emb.kind}", emb.name, msg.id, emb.group_id)
    rc = rc or RemoteControl(settings)
    for method in ("active", "reserved", "scheduled"):
        res = rc.inspect(method, timeout=timeout)
        if not res.replies and res.expected != 0:
            unread.append(f"workers' {method} tasks: no worker replied within {timeout}s")
        elif res.unanswered:
            unread.append(
                f"workers' {method} tasks: {res.unanswered} worker(s) did not reply within {timeout}s"
            )
        for reply in res.replies.values():
            for item in reply if isinstance(reply, list) else []:
                req = item.get("request", item) if isinstance(item, dict) else None
                if isinstance(req, dict) and isinstance(req.get("id"), str):
                    pool.add(req["id"], method, req.get("name"))
    for tid in ids:
        pool.add(tid, "argument")
    # backend: parents, groups, children; expand to a fixpoint
    backend = settings.app.backend
    # an rpc:// backend would declare a reply queue of its own and read nothing
    frontier = [] if results_go_to_caller_only(settings.effective_backend_url) else list(pool.nodes)
    fetched: set[str] = set()
    while frontier and len(pool.nodes) < MAX_NODES:
        nxt: list[str] = []
        batch = [tid for tid in dict.fromkeys(frontier) if tid not in fetched]
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
            if isinstance(parent_id, str) and parent_id not in pool.nodes:
                pool.add(parent_id, "backend:parent")
                nxt.append(parent_id)
            for child in child_ids(meta.get("children")):
                members = child["group"] or [child["id"]]
                for cid in members:
                    if cid not in pool.nodes:
                        nxt.append(cid)
                    pool.add(
                        cid, "backend:child", None, tid, child["id"] if child["group"] else None
                    )
        frontier = nxt
    comp = _components(pool.nodes.values())
    wanted = {comp[t] for t in ids}
    members = [n for n in pool.nodes.values() if comp[n.id] in wanted]
    members.sort(key=lambda n: (n.id not in ids, n.id))
    to_revoke = [n for n in members if n.state not in READY_STATES]
    return TreePlan(targets=list(ids), members=members, to_revoke=to_revoke, unread=unread)
