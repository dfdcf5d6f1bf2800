"""Issue 11.2 (any task id) and 11.7 (a retried task is not its own parent) on real workers.

Tasks of the tutorial app ``proj`` are sent with custom ids, as users do
(``apply_async(task_id="nightly-report-2026-12-03")``); ctl's answers are
compared with ``celery -A proj ...`` on the same cluster.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.proj_cluster import PROJ_PATH, proj_app, proj_env

CTL = str(Path(sys.executable).with_name("ctl"))
CELERY = str(Path(sys.executable).with_name("celery"))

ODD_IDS = [
    "nightly-report-2026-12-03",
    "report:2026/12/03#1",
    "ünïcode-ταυτότητα",
    "x",
    "../../etc/passwd",
]


def run(cluster, *argv: str, tool: str = CTL, stdin: str | None = None):
    return subprocess.run(
        [tool, "-A", "proj", *argv],
        cwd=PROJ_PATH,
        env=proj_env(cluster),
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
    )


def test_result_of_custom_ids(proj_cluster) -> None:
    app = proj_app(proj_cluster)
    from proj.tasks import add

    for n, tid in enumerate(ODD_IDS):
        assert add.apply_async((n, 1), task_id=tid).get(timeout=20) == n + 1
        out = run(proj_cluster, "result", tid, "--json")
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        assert (doc["id"], doc["state"], doc["result"]) == (tid, "SUCCESS", n + 1)
        # Celery's own answer for the same id
        assert app.AsyncResult(tid).result == doc["result"]
        human = run(proj_cluster, "result", tid)
        assert human.returncode == 0 and tid in human.stdout


def test_revoke_custom_ids_args_and_stdin_like_celery(proj_cluster) -> None:
    ids = [f"{t}-revoke" for t in ODD_IDS]
    out = run(proj_cluster, "revoke", ids[0], ids[1], "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["revoked"] == ids[:2]
    out = run(proj_cluster, "revoke", "--stdin", "--json", stdin="\n".join(ids[2:]) + "\n\n")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["revoked"] == ids[2:]
    celery = run(proj_cluster, "inspect", "revoked", "--json", tool=CELERY)
    assert celery.returncode == 0, celery.stderr
    revoked = set().union(*json.loads(celery.stdout).values())
    assert set(ids) <= revoked
    ours = run(proj_cluster, "inspect", "revoked", "--json")
    assert set(ids) <= set().union(*json.loads(ours.stdout).values())


def test_query_task_of_a_custom_id_like_celery(proj_cluster) -> None:
    proj_app(proj_cluster)
    from proj.tasks import sleepy

    tid = "long-job#7:ünï"
    res = sleepy.apply_async((4,), task_id=tid)
    deadline = time.monotonic() + 20
    while res.state != "STARTED" and time.monotonic() < deadline:
        time.sleep(0.1)
    ours = run(proj_cluster, "inspect", "query-task", tid, "--json")
    theirs = run(proj_cluster, "inspect", "query_task", tid, "--json", tool=CELERY)
    assert ours.returncode == 0, ours.stderr
    assert theirs.returncode == 0, theirs.stderr
    a, b = json.loads(ours.stdout), json.loads(theirs.stdout)
    assert {h: sorted(r) for h, r in a.items()} == {h: sorted(r) for h, r in b.items()}
    assert all(tid in r for r in a.values()) and a
    res.get(timeout=20)


@pytest.mark.parametrize(
    "bad", ["", "   ", "two words", "tab\tid", "esc\x1b[31m", "c1\x85x", "del\x7f"]
)
def test_bad_ids_exit_2_one_line(proj_cluster, bad: str) -> None:
    for argv in (
        ["result", bad],
        ["revoke", bad],
        ["inspect", "query-task", bad],
    ):
        out = run(proj_cluster, *argv)
        assert out.returncode == 2, (argv, out.stdout, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "task id" in lines[0], out.stderr
        assert "\x1b" not in out.stderr
    if bad.strip():
        out = run(proj_cluster, "revoke", "--stdin", stdin=f"fine-id\n{bad}\n")
        assert out.returncode == 2, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1


def test_retried_task_is_not_shown_as_its_own_parent(proj_cluster) -> None:
    app = proj_app(proj_cluster)
    from proj.tasks import flaky

    tid = "flaky-retry-1"
    assert flaky.apply_async((1,), task_id=tid).get(timeout=20) == 1
    # what Celery itself stored: the retry's parent is the task itself
    meta = app.backend.get_task_meta(tid)
    assert meta.get("parent_id") == tid
    out = run(proj_cluster, "result", tid, "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["parent_id"] is None and doc["retried_itself"] is True
    assert all(c["id"] != tid for c in doc["children"])
    human = run(proj_cluster, "result", tid).stdout
    parent_line = next(line for line in human.splitlines() if line.strip().startswith("parent"))
    assert tid not in parent_line
