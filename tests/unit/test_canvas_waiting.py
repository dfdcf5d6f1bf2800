"""canvas_tree with a cluster read (queued / unacked messages): the waiting canvas is built
by revoke_tree's parser; messages of other canvases change nothing (bodies as Celery 5.7
sends them, ids shortened)."""

from __future__ import annotations

from console.core.broker_scan import QueuedMessage
from console.core.canvas import canvas_tree
from console.core.revoke_tree import ClusterRead


def msg(tid: str, group: str | None, embed: dict) -> QueuedMessage:
    return QueuedMessage(tid, "canvases.add", "parked", tid, None, group, None, embed=embed)


def chord_messages() -> list[QueuedMessage]:
    callback = {"task": "canvases.xsum", "options": {"task_id": "cb", "group_id": "G"}}
    return [msg(t, "G", {"chain": None, "chord": callback, "callbacks": None}) for t in "abc"]


def test_a_parked_chord_is_drawn_whole_from_its_messages() -> None:
    read = ClusterRead(messages=chord_messages())
    assert canvas_tree(None, "a") is None  # nothing but messages know it
    for tid in ("a", "c", "cb"):
        tree = canvas_tree(None, tid, cluster=read)
        assert tree is not None
        assert tree.shape() == ("chord", [("group", ["add", "add", "add"]), "xsum"])
        group, callback = tree.children
        assert group.id == "G" and tree.id == "chord:G" and group.missing == 0
        assert callback.id == "cb" and callback.role == "callback"
        assert {n.source for n in tree.tasks()} == {"message"}


def test_unread_sources_reach_the_top_node() -> None:
    note = "queued messages: only the first 3 read (limit 3 messages / 0.3s)"
    tree = canvas_tree(None, "b", cluster=ClusterRead(messages=chord_messages(), unread=[note]))
    assert tree is not None and tree.unread == [note]


def test_messages_of_another_canvas_leave_the_event_tree() -> None:
    from console.core.state import ClusterState

    state = ClusterState()
    state.apply({"type": "task-received", "uuid": "x", "name": "canvases.add", "timestamp": 1.0})
    read = ClusterRead(messages=chord_messages())
    plain = canvas_tree(state, "x")
    tree = canvas_tree(state, "x", cluster=read)
    assert plain is not None and tree is not None
    assert tree.shape() == plain.shape() == "add" and tree.source == "events"
