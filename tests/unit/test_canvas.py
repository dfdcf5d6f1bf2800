"""canvas_tree from plain event dicts (and a fake result backend)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from console.core.canvas import CanvasNode, canvas_tree, find_root
from console.core.clock import FixedClock
from console.core.state import ClusterState

T0 = 1_767_225_600.0


def run(
    tid: str,
    name: str,
    start: float,
    *,
    parent: str | None = None,
    root: str | None = None,
    args: str = "()",
    final: str | None = "task-succeeded",
    runtime: float = 0.05,
    host: str = "w@alpha",
) -> list[dict]:
    """The events of one task: sent at ``start``, done at ``start + runtime + 0.01``."""
    common = {"uuid": tid, "parent_id": parent, "root_id": root or tid}
    evs = [
        {
            "type": "task-sent",
            "timestamp": start,
            "hostname": "client",
            "name": name,
            "args": args,
            **common,
        },
        {
            "type": "task-received",
            "timestamp": start + 0.001,
            "hostname": host,
            "name": name,
            "args": args,
            "kwargs": "{}",
            "retries": 0,
            **common,
        },
        {"type": "task-started", "timestamp": start + 0.002, "hostname": host, "uuid": tid},
    ]
    if final is not None:
        evs.append(
            {
                "type": final,
                "timestamp": start + 0.002 + runtime,
                "hostname": host,
                "uuid": tid,
                "runtime": runtime,
                "result": "1",
            }
        )
    return evs


def build(*runs: list[dict], max_tasks: int = 100_000) -> ClusterState:
    state = ClusterState(max_tasks=max_tasks, clock=FixedClock(T0))
    for evs in runs:
        state.apply_batch(evs)
    return state


def ids(node: CanvasNode) -> list[str]:
    return [n.id for n in node.tasks()]


def test_unknown_task_is_none() -> None:
    assert canvas_tree(build(), "nope") is None
    assert canvas_tree(build(), "") is None


def test_single_task() -> None:
    state = build(run("a", "add", T0))
    tree = canvas_tree(state, "a")
    assert tree is not None
    assert (tree.kind, tree.id, tree.state, tree.runtime) == ("task", "a", "SUCCESS", 0.05)
    assert tree.children == []


def test_chain_from_any_member() -> None:
    # chain(a, b, c): each step sent by the previous one just before it finishes
    state = build(
        run("a", "add", T0),
        run("b", "add", T0 + 0.05, parent="a", root="a"),
        run("c", "mul", T0 + 0.10, parent="b", root="a"),
    )
    for tid in ("a", "b", "c"):
        tree = canvas_tree(state, tid)
        assert tree is not None
        assert tree.shape() == ("chain", ["add", "add", "mul"]), tid
        assert tree.kind == "chain" and tree.state == "SUCCESS"
        assert ids(tree) == ["a", "b", "c"]
        assert tree.runtime is not None and tree.runtime > 0.1


def test_chain_in_progress_state() -> None:
    state = build(run("a", "add", T0), run("b", "add", T0 + 0.05, parent="a", root="a", final=None))
    tree = canvas_tree(state, "a")
    assert tree.shape() == ("chain", ["add", "add"])
    assert tree.state == "STARTED" and tree.runtime is None


def test_chain_with_group_becomes_chord() -> None:
    # chain(add, group(add, add), xsum): the callback's parent is the member that finished last
    state = build(
        run("a", "add", T0),
        run("g1", "add", T0 + 0.05, parent="a", root="a"),
        run("g2", "add", T0 + 0.05, parent="a", root="a", runtime=0.2),
        run("cb", "xsum", T0 + 0.25, parent="g2", root="a", args="([2, 3],)"),
    )
    tree = canvas_tree(state, "cb")
    assert tree.shape() == ("chain", ["add", ("chord", [("group", ["add", "add"]), "xsum"])])
    chord = tree.children[1]
    assert chord.kind == "chord" and chord.state == "SUCCESS"
    assert chord.children[0].kind == "group"
    assert [c.id for c in chord.children[0].children] == ["g1", "g2"]
    assert chord.children[1].id == "cb"


def test_group_without_callback() -> None:
    state = build(
        run("a", "add", T0),
        run("g1", "add", T0 + 0.05, parent="a", root="a"),
        run("g2", "add", T0 + 0.05, parent="a", root="a", final="task-failed"),
    )
    tree = canvas_tree(state, "g1")
    assert tree.shape() == ("chain", ["add", ("group", ["add", "add"])])
    assert tree.children[1].state == "FAILURE"
    assert tree.state == "FAILURE"


def test_callback_args_must_match_group_size() -> None:
    # a next step of one member whose args are a 3-list is not the callback of a 2-group
    state = build(
        run("a", "add", T0),
        run("g1", "add", T0 + 0.05, parent="a", root="a"),
        run("g2", "add", T0 + 0.05, parent="a", root="a", runtime=0.2),
        run("x", "xsum", T0 + 0.25, parent="g2", root="a", args="([1, 2, 3],)"),
    )
    tree = canvas_tree(state, "a")
    assert tree.shape() == ("chain", ["add", ("group", ["add", ("chain", ["add", "xsum"])])])


def test_callback_must_wait_for_every_member() -> None:
    # x was sent while g1 was still running: not a chord callback
    state = build(
        run("a", "add", T0),
        run("g1", "add", T0 + 0.05, parent="a", root="a", runtime=1.0),
        run("g2", "add", T0 + 0.05, parent="a", root="a"),
        run("x", "xsum", T0 + 0.1, parent="g2", root="a"),
    )
    tree = canvas_tree(state, "a")
    assert tree.shape() == ("chain", ["add", ("group", ["add", ("chain", ["add", "xsum"])])])


def test_chord_of_chains_nested_in_running_task() -> None:
    # process_images (still running) launched chord(chain(download, resize) x 2, notify)
    state = build(
        run("p", "process_images", T0, final=None),
        run("d1", "download", T0 + 0.01, parent="p", root="p"),
        run("d2", "download", T0 + 0.01, parent="p", root="p", runtime=0.1),
        run("r1", "resize", T0 + 0.06, parent="d1", root="p"),
        run("r2", "resize", T0 + 0.11, parent="d2", root="p"),
        run("n", "notify", T0 + 0.16, parent="r2", root="p", args="(['a', 'b'],)"),
    )
    tree = canvas_tree(state, "n")
    assert tree.shape() == (
        "process_images",
        [
            (
                "chord",
                [
                    (
                        "group",
                        [("chain", ["download", "resize"]), ("chain", ["download", "resize"])],
                    ),
                    "notify",
                ],
            ),
        ],
    )
    assert tree.state == "STARTED"
    json.dumps(tree.to_dict())


def test_chain_of_groups() -> None:
    # chain(a, group(b1, b2), group(c1, c2)) -> a, chord(group(b1, b2), group(c1, c2))
    state = build(
        run("a", "add", T0),
        run("b1", "add", T0 + 0.05, parent="a", root="a"),
        run("b2", "add", T0 + 0.05, parent="a", root="a", runtime=0.1),
        run("c1", "xsum", T0 + 0.15, parent="b2", root="a", args="([1, 2],)"),
        run("c2", "xsum", T0 + 0.15, parent="b2", root="a", args="([1, 2],)"),
    )
    tree = canvas_tree(state, "c2")
    # the second group hangs off b2, the member that finished last: it is the chord body
    assert tree.shape() == (
        "chain",
        ["add", ("chord", [("group", ["add", "add"]), ("group", ["xsum", "xsum"])])],
    )
    assert sorted(ids(tree)) == ["a", "b1", "b2", "c1", "c2"]


def test_top_level_chain_of_groups_with_backend() -> None:
    # chain(group(h1, h2), group(x1, x2)) sent by a client
    state = build(
        run("h1", "add", T0),
        run("h2", "add", T0, runtime=0.2),
        run("x1", "xsum", T0 + 0.2, parent="h2", root="h2", args="([2, 4],)"),
        run("x2", "xsum", T0 + 0.2, parent="h2", root="h2", args="([2, 4],)"),
    )
    backend = FakeBackend(
        {h: {"status": "SUCCESS", "group_id": "G1"} for h in ("h1", "h2")},
        groups={"G1": ["h1", "h2"]},
    )
    tree = canvas_tree(state, "x1", backend=backend)
    assert tree.shape() == ("chord", [("group", ["add", "add"]), ("group", ["xsum", "xsum"])])


def test_nested_children_of_running_task() -> None:
    state = build(
        run("p", "parent", T0, final=None), run("k", "child", T0 + 0.01, parent="p", root="p")
    )
    tree = canvas_tree(state, "k")
    assert tree.shape() == ("parent", ["child"])


def test_orphans_sharing_root_are_attached() -> None:
    # the middle step was evicted / never seen: c still shares the root
    state = build(run("a", "add", T0), run("c", "mul", T0 + 0.2, parent="b", root="a"))
    tree = canvas_tree(state, "c")
    assert tree.id == "a"
    assert "c" in ids(tree)


def test_cycles_do_not_hang() -> None:
    state = build(run("a", "x", T0, parent="b", root="b"), run("b", "y", T0, parent="a", root="a"))
    tree = canvas_tree(state, "a")
    assert tree is not None
    assert sorted(ids(tree)) == ["a", "b"]
    assert find_root(state, "a") in ("a", "b")


def test_huge_group_is_capped_and_marked() -> None:
    evs = run("root", "fan", T0)
    for i in range(5_000):
        evs += run(f"m{i}", "add", T0 + 0.05, parent="root", root="root")
    state = build(evs)
    tree = canvas_tree(state, "m10", max_nodes=2_000)
    assert tree is not None
    assert tree.count() <= 2_010
    assert tree.truncated


def test_deep_chain_is_iterative() -> None:
    evs = run("s0", "step", T0)
    for i in range(1, 3_000):
        evs += run(f"s{i}", "step", T0 + i * 0.1, parent=f"s{i - 1}", root="s0")
    state = build(evs)
    tree = canvas_tree(state, "s2999", max_nodes=5_000)
    assert tree.kind == "chain" and len(tree.children) == 3_000


def test_ten_thousand_deep_chain_says_how_many_tasks_it_did_not_show() -> None:
    """16.10: the tree stops at max_nodes and counts the known tasks it left out."""
    evs = run("d0", "step", T0)
    for i in range(1, 10_000):
        evs += run(f"d{i}", "step", T0 + i * 0.01, parent=f"d{i - 1}", root="d0")
    state = build(evs)
    tree = canvas_tree(state, "d9999")
    assert tree is not None and tree.truncated
    shown = len(tree.tasks())
    assert shown <= 2_001
    assert tree.hidden == 10_000 - shown
    assert tree.to_dict()["hidden"] == tree.hidden
    complete = canvas_tree(build(run("one", "step", T0)), "one")
    assert complete is not None and complete.hidden == 0


# --------------------------------------------------------------------------- backend


class FakeBackend:
    def __init__(self, metas: dict[str, dict], groups: dict[str, list[str]] | None = None) -> None:
        self.metas = metas
        self.groups = groups or {}
        self.calls = 0

    def get_task_meta(self, tid: str) -> dict[str, Any]:
        self.calls += 1
        return self.metas.get(tid, {"status": "PENDING", "result": None})

    def restore_group(self, gid: str) -> Any:
        members = self.groups.get(gid)
        if members is None:
            return None
        return SimpleNamespace(id=gid, results=[SimpleNamespace(id=m) for m in members])


def test_top_level_chord_with_backend() -> None:
    # chord(group(h1, h2, h3), cb) from a client: the header members are separate roots
    state = build(
        run("h1", "add", T0),
        run("h2", "add", T0),
        run("h3", "add", T0, runtime=0.3),
        run("cb", "xsum", T0 + 0.3, parent="h3", root="h3", args="([0, 2, 4],)"),
    )
    events_only = canvas_tree(state, "cb")
    assert events_only.shape() == ("chain", ["add", "xsum"])  # what events alone can tell
    backend = FakeBackend(
        {h: {"status": "SUCCESS", "group_id": "G", "children": []} for h in ("h1", "h2", "h3")},
        groups={"G": ["h1", "h2", "h3"]},
    )
    tree = canvas_tree(state, "cb", backend=backend)
    assert tree.shape() == ("chord", [("group", ["add", "add", "add"]), "xsum"])
    assert tree.id == "chord:G" and tree.source == "backend"
    assert tree.children[0].id == "G" and tree.children[0].missing == 0
    # group not saved: the callback's args still tell how many members there were
    # group not saved (Redis keeps plain chords unsaved): the tasks sent around the known
    # member that carry the same group_id in the backend are the other members
    backend.groups = {}
    tree = canvas_tree(state, "cb", backend=backend)
    assert tree.shape() == ("chord", [("group", ["add", "add", "add"]), "xsum"])
    assert tree.children[0].missing == 0 and tree.children[1].role == "callback"
    # members the backend does not know: the callback's args tell how many there were
    del backend.metas["h1"], backend.metas["h2"]
    tree = canvas_tree(state, "cb", backend=backend)
    assert tree.shape() == ("chord", [("group", ["add"]), "xsum"])
    assert tree.children[0].missing == 2


def test_backend_fills_evicted_tasks_and_children() -> None:
    # only the last step is tracked; the backend knows the rest (result_extended)
    state = build(run("c", "mul", T0 + 0.2, parent="b", root="a"))
    backend = FakeBackend(
        {
            "a": {
                "status": "SUCCESS",
                "name": "add",
                "children": [[["b", None], None]],
                "date_done": "2026-01-01T00:00:00.100000+00:00",
            },
            "b": {
                "status": "SUCCESS",
                "name": "add",
                "parent_id": "a",
                "children": [[["c", None], None]],
                "date_done": "2026-01-01T00:00:00.150000+00:00",
            },
        }
    )
    tree = canvas_tree(state, "c", backend=backend)
    assert tree.shape() == ("chain", ["add", "add", "mul"])
    assert [n.source for n in tree.tasks()] == ["backend", "backend", "events"]


def test_backend_group_ids_from_children_tuples() -> None:
    state = build(
        run("a", "add", T0),
        run("g1", "add", T0 + 0.05, parent="a", root="a"),
        run("g2", "add", T0 + 0.05, parent="a", root="a"),
    )
    backend = FakeBackend(
        {
            "a": {
                "status": "SUCCESS",
                "children": [[["GID", None], [[["g1", None], None], [["g2", None], None]]]],
            }
        }
    )
    tree = canvas_tree(state, "a", backend=backend)
    assert tree.children[1].kind == "group" and tree.children[1].id == "GID"


def test_failing_backend_falls_back_to_events() -> None:
    class Broken:
        def get_task_meta(self, tid: str) -> dict:
            raise ConnectionError("down")

    state = build(run("a", "add", T0), run("b", "add", T0 + 0.05, parent="a", root="a"))
    tree = canvas_tree(state, "b", backend=Broken())
    assert tree.shape() == ("chain", ["add", "add"])
    assert canvas_tree(state, "zzz", backend=SimpleNamespace(backend=Broken())) is None


def test_rpc_backend_is_never_read() -> None:
    # an rpc:// backend keeps results for the caller only; reading it would declare a
    # reply queue on the broker (a write): the tree is built from events alone
    from celery import Celery

    app = Celery("rpc-probe", broker="memory://", backend="rpc://")
    state = build(run("a", "add", T0), run("b", "add", T0 + 0.1, parent="a", root="a"))
    calls: list[object] = []
    app.backend.get_task_meta = lambda *a, **k: calls.append(a)  # type: ignore[method-assign]
    app.backend.restore_group = lambda *a, **k: calls.append(a)  # type: ignore[method-assign]
    tree = canvas_tree(state, "b", backend=app)
    assert tree is not None and tree.shape() == ("chain", ["add", "add"])
    assert calls == []
