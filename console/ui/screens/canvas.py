"""Canvas: the tree of the selected task's chain / group / chord, each node with state and runtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widgets import Static, Tree

from console.core.sanitize import safe_text

from ..fmt import duration, state_text
from ..messages import CanvasLoaded
from ..model import T_NAME, T_PARENT, T_ROOT, T_RUNTIME, T_STATE, T_TS
from .base import ConsoleScreen

MAX_NODES = 5000


@dataclass
class _Node:
    """Same shape as console.core.canvas.CanvasNode (fallback built from the UI model)."""

    id: str
    name: str | None
    state: str | None
    runtime: float | None
    kind: str = "task"
    children: list[Any] = field(default_factory=list)
    source: str = "events"
    missing: int = 0
    role: str | None = None


def tree_from_rows(tasks: dict[str, Any], uuid: str) -> _Node | None:
    """Parent/root links of the tasks the console knows (when the core canvas graph is missing)."""
    row = tasks.get(uuid)
    if row is None:
        return None
    root = row[T_ROOT] or uuid
    if root not in tasks:
        root = uuid
    members = [r for r in tasks.values() if r[T_ROOT] == root or r[0] == root]
    kids: dict[str, list[Any]] = {}
    for r in members:
        if r[0] != root:
            kids.setdefault(r[T_PARENT] or root, []).append(r)

    def build(r: Any, depth: int = 0) -> _Node:
        node = _Node(r[0], r[T_NAME], r[T_STATE], r[T_RUNTIME])
        if depth < 50:
            for child in sorted(kids.get(r[0], []), key=lambda x: (x[T_TS] or 0, x[0])):
                node.children.append(build(child, depth + 1))
        return node

    return build(tasks[root])


def _walk(node: Any, limit: int = MAX_NODES) -> list[Any]:
    out: list[Any] = []
    stack = [node]
    while stack and len(out) < limit:
        cur = stack.pop()
        out.append(cur)
        stack.extend(getattr(cur, "children", None) or [])
    return out


def node_label(node: Any, selected: str | None) -> Text:
    kind = getattr(node, "kind", "task") or "task"
    text = Text(no_wrap=True, overflow="ellipsis")
    if kind != "task":
        text.append(f"{kind} ", style="bold")
    if getattr(node, "role", None) == "callback":
        text.append("callback ", style="bold")
    name = getattr(node, "name", None)
    if name or kind == "task":
        text.append(
            safe_text(name or "?", 80, oneline=True), style="bold" if node.id == selected else ""
        )
        text.append(" ")
    if kind == "task" or getattr(node, "state", None):
        text.append_text(state_text(getattr(node, "state", None) or "PENDING"))
    runtime = getattr(node, "runtime", None)
    if runtime is not None:
        text.append(f" {duration(runtime)}")
    missing = getattr(node, "missing", 0) or 0
    if missing:
        # members Celery says exist that no source could name yet (docs/CANVAS.md)
        text.append(f" +{missing} not known yet", style="italic")
    if getattr(node, "id", None):
        text.append(f"  {safe_text(node.id, 40, oneline=True)}", style="dim")
    if node.id == selected:
        text.append(" ◀", style="bold")
    return text


class CanvasScreen(ConsoleScreen):
    MODE = "canvas"
    BINDINGS = [
        Binding("enter", "detail", "Task detail", id="canvas.detail"),
        Binding("r", "reload", "Reload", id="canvas.reload"),
        Binding("C", "do_revoke_canvas", "Revoke canvas", id="canvas.revoke_canvas"),
        Binding("x", "do_revoke", "Revoke node", show=False, id="canvas.revoke"),
    ]
    DEFAULT_CSS = """
    CanvasScreen Tree { height: 1fr; }
    CanvasScreen #canvas-bar { height: 1; background: $boost; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.uuid: str | None = None
        self.source = ""

    def compose_body(self) -> ComposeResult:
        yield Static(id="canvas-bar")
        tree: Tree[str] = Tree(Text("no task selected"), id="canvas-tree")
        tree.show_root = True
        yield tree

    def on_mount(self) -> None:
        self.query_one(Tree).focus()
        self.load()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self.capp.selected_task != self.uuid:
            self.load()

    def load(self) -> None:
        try:
            bar = self.query_one("#canvas-bar", Static)
        except NoMatches:  # opened for the first time: not composed yet, on_mount loads
            return
        self.uuid = self.capp.selected_task
        if not self.uuid:
            bar.update(Text("select a task (Tasks screen, 2) then press c or 7"))
            return
        bar.update(Text(f"loading canvas of {safe_text(self.uuid, 40, oneline=True)} …"))
        self._load(self.capp.feed, self.uuid)

    @work(thread=True, exclusive=True, exit_on_error=False, group="canvas")
    def _load(self, feed: Any, uuid: str) -> None:
        try:
            tree = feed.canvas(uuid) if feed is not None else None
            self.post_message(CanvasLoaded(uuid, tree))
        except Exception as exc:
            self.post_message(CanvasLoaded(uuid, None, self.capp.error_text(exc)))

    def on_canvas_loaded(self, message: CanvasLoaded) -> None:
        if message.uuid != self.uuid:
            return
        root = message.tree
        source = "canvas graph"
        sources = {getattr(n, "source", "") for n in _walk(root)} if root is not None else set()
        if "message" in sources:  # a canvas still waiting: drawn as `ctl revoke --tree` sees it
            source = "canvas graph: queued messages + events + result backend"
        elif "backend" in sources:
            source = "canvas graph: events + result backend"
        if root is None:
            root = tree_from_rows(self.capp.model.tasks, message.uuid)
            source = "parent/root links seen by the console"
        tree = self.query_one(Tree)
        tree.clear()
        bar = Text(no_wrap=True, overflow="ellipsis")
        if root is None:
            tree.root.set_label(Text("task not known"))
            bar.append("no canvas: " + (message.error or "task not known to this console"))
            self.query_one("#canvas-bar", Static).update(bar)
            return
        count = 0
        names: dict[str, str] = {}
        self._names = names

        def add(parent: Any, node: Any) -> None:
            nonlocal count
            for child in getattr(node, "children", None) or []:
                names[getattr(child, "id", "")] = str(getattr(child, "name", "") or "")
                count += 1
                if count > MAX_NODES:
                    return
                kids = getattr(child, "children", None)
                label = node_label(child, self.uuid)
                # only task nodes lead to a task detail (chain/group/chord ids are synthetic)
                data = (
                    getattr(child, "id", None)
                    if (getattr(child, "kind", "task") or "task") == "task"
                    else None
                )
                if kids:
                    branch = parent.add(label, data=data, expand=True)
                    add(branch, child)
                else:
                    parent.add_leaf(label, data=data)

        names[getattr(root, "id", "")] = str(getattr(root, "name", "") or "")
        tree.root.set_label(node_label(root, self.uuid))
        tree.root.data = (
            getattr(root, "id", None)
            if (getattr(root, "kind", "task") or "task") == "task"
            else None
        )
        add(tree.root, root)
        tree.root.expand()
        missing = sum(getattr(n, "missing", 0) or 0 for n in _walk(root))
        bar.append(f"{count + 1} node(s)", style="bold")
        if missing:
            bar.append(f" │ {missing} member(s) not known yet", style="bold")
        bar.append(f" │ from {source}")
        if count > MAX_NODES:
            bar.append(f" │ first {MAX_NODES} shown", style="bold")
        hidden = getattr(root, "hidden", 0) or 0
        if hidden:
            bar.append(f" │ {hidden:,} more task(s) of this canvas not shown", style="bold")
        for note in getattr(root, "unread", None) or []:  # e.g. AMQP: queues cannot be read
            bar.append(f" │ not read: {safe_text(note, 120, oneline=True)}")
        self.query_one("#canvas-bar", Static).update(bar)

    def current_task(self) -> tuple[str, str] | None:
        tree = self.query_one(Tree)
        node = tree.cursor_node
        tid = node.data if node is not None and node.data else self.uuid
        if not tid:
            return None
        name = getattr(self, "_names", {}).get(tid)  # as the canvas graph knows it
        if not name:
            row = self.capp.model.tasks.get(tid)
            name = str(row[1] or "") if row is not None else ""
        return tid, name

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        event.stop()
        if event.node.data:
            self.capp.open_task(str(event.node.data))

    def action_detail(self) -> None:
        current = self.current_task()
        if current:
            self.capp.open_task(current[0])

    def action_reload(self) -> None:
        self.load()

    def action_do_revoke_canvas(self) -> None:
        if self.uuid:
            self.request("revoke_canvas", self.uuid)
        else:
            self.request("revoke_canvas", None)

    def action_do_revoke(self) -> None:
        current = self.current_task()
        self.request("revoke", current[0] if current else None, current[1] if current else "")
