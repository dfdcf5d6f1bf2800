"""revoke_tree's reading of embedded canvases, on the message bodies Celery 5.7 sends
(captured from tests/apps/canvases, ids shortened)."""

from __future__ import annotations

from console.core.broker_scan import QueuedMessage
from console.core.revoke_tree import TreePlan, _add_message, _Pool, _tops, canvas_dict


def msg(tid: str, group: str | None, embed: dict) -> QueuedMessage:
    return QueuedMessage(tid, "canvases.add", "parked", tid, None, group, None, embed=embed)


def add(tid: str, group: str | None = None, **extra: object) -> dict:
    options: dict = {"task_id": tid, **extra}
    if group:
        options["group_id"] = group
    return {"task": "canvases.add", "args": [], "kwargs": {}, "options": options}


def plan_of(pool: _Pool) -> TreePlan:
    members = list(pool.nodes.values())
    return TreePlan(targets=[], members=members, to_revoke=[])


def shape(node: dict) -> object:
    if node["kind"] in ("task", "callback"):
        return node["id"] if node["kind"] == "task" else ("callback", node["id"])
    return (node["kind"], [shape(c) for c in node["children"]])


def test_chain_of_two_groups_keeps_both_group_ids() -> None:
    # the body group's members carry the FIRST group's id in their options; the group
    # signature's own task_id is the second group's id (what .delay().id returns)
    body = {
        "task": "celery.group",
        "kwargs": {"tasks": [add("c", "G1", group_index=0), add("d", "G1", group_index=1)]},
        "options": {"task_id": "G2", "group_id": "G1"},
        "subtask_type": "group",
    }
    pool = _Pool()
    for tid in ("a", "b"):
        _add_message(pool, msg(tid, "G1", {"chain": None, "chord": body, "callbacks": None}))
    g1, g2 = pool.nodes["G1"], pool.nodes["G2"]
    assert g1.kind == g2.kind == "group"
    assert sorted(g1.members) == ["a", "b"] and sorted(g2.members) == ["c", "d"]
    assert g1.callback == "G2" and g2.size == 2
    plan = plan_of(pool)
    [top] = [canvas_dict(plan, n) for n in _tops(plan)]
    assert shape(top) == ("chord", [("group", ["a", "b"]), ("group", ["c", "d"])])


def test_chord_of_chains_last_steps_carry_the_group() -> None:
    callback = {"task": "canvases.notify", "options": {"task_id": "cb", "group_id": "G"}}
    pool = _Pool()
    for n in "123":
        upload = add(f"up{n}", "G", chord=callback, group_index=int(n) - 1)
        resize = add(f"rs{n}")
        # the rest of the chain, last step first
        _add_message(pool, msg(f"dl{n}", None, {"chain": [upload, resize], "chord": None}))
    group = pool.nodes["G"]
    assert sorted(group.members) == ["up1", "up2", "up3"] and group.callback == "cb"
    assert "cb" not in group.members and pool.nodes["cb"].role == "callback"
    plan = plan_of(pool)
    [top] = [canvas_dict(plan, n) for n in _tops(plan)]
    link = lambda n: ("chain", [f"dl{n}", f"rs{n}", f"up{n}"])  # noqa: E731
    assert shape(top) == ("chord", [("group", [link(1), link(2), link(3)]), ("callback", "cb")])
