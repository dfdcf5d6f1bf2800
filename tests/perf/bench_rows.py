"""Benchmark rows 1-2: ``ctl`` vs stock ``celery`` CLI, side by side on one cluster.

Row 1: ``ctl -A sample_proj inspect active --json`` vs
``celery -A sample_proj inspect active --json`` with the 2 real workers of a
LocalCluster, then with 200 simulated workers (tests.perf.fleet) added on the
same Redis: median wall time over several alternating runs (each tool with
its default timeout, as a person would type it) and an identical-content
check of the parsed JSON.

Row 2: ``ctl -A sample_proj status`` vs ``celery -A sample_proj status`` with
the broker down: a port with nothing listening (connection refused) and a
"hung" broker (a socket that accepts connections but never answers): time to
a clear failure and the exit codes.

Each function returns a list of row dicts (see tests/perf/bench.py).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """The venv's console script ``name`` (``ctl`` / ``celery``)."""
    path = BIN / name
    return str(path) if path.exists() else name


def run_cmd(argv: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run a CLI once: wall time, exit code, stdout, stderr (killed at timeout)."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            argv,
            env=env,
            cwd=str(ROOT),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return {
            "wall": time.perf_counter() - t0,
            "code": proc.returncode,
            "stdout": proc.stdout,
            "stderr": proc.stderr,
            "timed_out": False,
        }
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return {
            "wall": time.perf_counter() - t0,
            "code": None,
            "stdout": out,
            "stderr": err,
            "timed_out": True,
        }


def cli_env(broker_url: str, backend_url: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["CELERY_BROKER_URL"] = broker_url
    env["CELERY_RESULT_BACKEND"] = backend_url or broker_url
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    env.pop("CELERY_APP", None)
    return env


_BOX = "\u2500\u2502\u256d\u256e\u256f\u2570\u250c\u2510\u2514\u2518 "


def _last_line(text: str) -> str:
    """The last line with words in it (Rich error panels are unboxed)."""
    lines = [ln.strip(_BOX).strip() for ln in (text or "").strip().splitlines()]
    lines = [ln for ln in lines if ln]
    return lines[-1][:160] if lines else ""


def parse_inspect_json(stdout: str) -> dict | None:
    """Both tools print one JSON object ``{hostname: reply}``."""
    text = (stdout or "").strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        # tolerate a banner line before the JSON
        start = text.find("{")
        try:
            data = json.loads(text[start:]) if start >= 0 else None
        except ValueError:
            return None
    if isinstance(data, list):  # [{host: reply}, ...]
        merged: dict = {}
        for item in data:
            if isinstance(item, dict):
                merged.update(item)
        data = merged
    return data if isinstance(data, dict) else None


def diff_summary(a: dict | None, b: dict | None) -> str:
    if a is None or b is None:
        return "unparseable output"
    if a == b:
        return ""
    ka, kb = set(a), set(b)
    parts = []
    if ka - kb:
        parts.append(f"only ctl: {len(ka - kb)} nodes (e.g. {sorted(ka - kb)[0]})")
    if kb - ka:
        parts.append(f"only celery: {len(kb - ka)} nodes (e.g. {sorted(kb - ka)[0]})")
    differing = [k for k in ka & kb if a[k] != b[k]]
    if differing:
        parts.append(f"{len(differing)} nodes differ (e.g. {sorted(differing)[0]})")
    return "; ".join(parts)


def _start_long_tasks(cluster, n: int = 2) -> list[str]:
    """A couple of long ``sleepy`` tasks so the real workers' ``active`` is not empty."""
    from celery import Celery

    app = Celery("bench-client", broker=cluster.broker_url, backend=None)
    ids = []
    try:
        for i in range(n):
            res = app.send_task(
                "sample_proj.tasks.sleepy",
                kwargs={"seconds": 900},
                queue="celery",
                task_id=f"bench-sleepy-{i}-{os.getpid()}",
            )
            ids.append(res.id)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            active = app.control.inspect(timeout=0.5).active() or {}
            running = {t["id"] for tasks in active.values() for t in tasks}
            if set(ids) <= running:
                break
            time.sleep(0.2)
    finally:
        app.close()
    return ids


def _stop_tasks(cluster, ids: list[str]) -> None:
    from celery import Celery

    app = Celery("bench-client", broker=cluster.broker_url, backend=None)
    try:
        app.control.revoke(ids, terminate=True, signal="SIGKILL")
    finally:
        app.close()


def measure_inspect(
    broker_url: str, backend_url: str, runs: int, timeout: float = 60.0
) -> dict[str, Any]:
    """Alternate ctl / celery ``inspect active --json`` ``runs`` times each."""
    env = cli_env(broker_url, backend_url)
    ours_argv = [tool("ctl"), "-A", "sample_proj", "inspect", "active", "--json"]
    stock_argv = [tool("celery"), "-A", "sample_proj", "inspect", "active", "--json"]
    ours, stock = [], []
    for i in range(runs):
        pair = [("ours", ours_argv), ("stock", stock_argv)]
        if i % 2:
            pair.reverse()
        for which, argv in pair:
            res = run_cmd(argv, env, timeout)
            (ours if which == "ours" else stock).append(res)
    return {"ours": ours, "stock": stock}


def _summarize_inspect(
    label: str, row_id: str, data: dict, expected_nodes: int, runs: int
) -> list[dict]:
    ours, stock = data["ours"], data["stock"]
    ok_ours = [r for r in ours if r["code"] == 0]
    ok_stock = [r for r in stock if r["code"] == 0]
    o_med = statistics.median(r["wall"] for r in ok_ours) if ok_ours else None
    s_med = statistics.median(r["wall"] for r in ok_stock) if ok_stock else None
    o_json = parse_inspect_json(ok_ours[-1]["stdout"]) if ok_ours else None
    s_json = parse_inspect_json(ok_stock[-1]["stdout"]) if ok_stock else None
    notes = []
    if not ok_ours:
        r = ours[-1]
        notes.append(f"ctl failed (exit {r['code']}): {_last_line(r['stderr'] or r['stdout'])}")
    if not ok_stock:
        r = stock[-1]
        notes.append(f"celery failed (exit {r['code']}): {_last_line(r['stderr'])}")
    ratio = o_med / s_med if (o_med and s_med) else None
    rows = [
        {
            "row": row_id,
            "name": f"inspect active --json, {label}",
            "metric": "wall time (median)",
            "unit": "s",
            "ours": o_med,
            "stock": s_med,
            "ratio": ratio,
            "target": "<= 0.25x stock",
            "passed": (ratio <= 0.25) if ratio is not None else None,
            "note": "; ".join(notes) or f"median of {runs} alternating runs, default timeouts",
            "samples_ours": [round(r["wall"], 3) for r in ours],
            "samples_stock": [round(r["wall"], 3) for r in stock],
        }
    ]
    nodes_o = len(o_json) if o_json is not None else None
    nodes_s = len(s_json) if s_json is not None else None
    diff = diff_summary(o_json, s_json)
    same = bool(o_json) and bool(s_json) and not diff
    rows.append(
        {
            "row": row_id,
            "name": f"inspect active --json, {label}",
            "metric": "nodes in reply",
            "unit": "nodes",
            "ours": nodes_o,
            "stock": nodes_s,
            "ratio": None,
            "target": f"= {expected_nodes}, identical content",
            "passed": same and nodes_o == expected_nodes,
            "note": "identical JSON content" if same else (diff or "no output to compare"),
        }
    )
    return rows


def row_inspect(ctx, quick: bool = False) -> list[dict]:
    """Row 1: 2 real workers, then + N simulated (200; 20 with --quick)."""
    from tests.perf.fleet import Fleet

    runs = 2 if quick else 5
    n_sim = 20 if quick else 200
    cluster = ctx.cluster()
    ids = _start_long_tasks(cluster)
    rows: list[dict] = []
    try:
        data = measure_inspect(cluster.broker_url, cluster.backend_url, runs)
        rows += _summarize_inspect("2 real workers", "1a", data, 2, runs)
        with Fleet(
            cluster.broker_url, n_sim, long_running=1, rate=0, duration=600, prefix="bench"
        ) as fleet:
            assert len(fleet.hostnames) == n_sim
            data = measure_inspect(cluster.broker_url, cluster.backend_url, runs)
        rows += _summarize_inspect(f"{n_sim} simulated + 2 real", "1b", data, n_sim + 2, runs)
    finally:
        _stop_tasks(cluster, ids)
    return rows


class HungBroker:
    """A TCP listener that accepts connections and never answers (a wedged broker)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)  # the kernel completes handshakes; we never read
        self.port = self.sock.getsockname()[1]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> HungBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _status_rows(row_id: str, label: str, url: str, cap: float) -> list[dict]:
    env = cli_env(url)
    ours = run_cmd([tool("ctl"), "-A", "sample_proj", "status"], env, cap)
    stock = run_cmd([tool("celery"), "-A", "sample_proj", "status"], env, cap)

    def describe(r: dict) -> str:
        if r["timed_out"]:
            return f"still running after {cap:.0f}s (killed)"
        return f"exit {r['code']}: {_last_line(r['stderr'] or r['stdout'])}"

    o = ours["wall"]
    s = stock["wall"]
    # exit 3 = broker unreachable (console/core/errors.py); anything else is not "clear"
    ours_clear = (not ours["timed_out"]) and ours["code"] == 3
    return [
        {
            "row": row_id,
            "name": f"status, broker {label}",
            "metric": "time to failure",
            "unit": "s",
            "ours": o,
            "stock": s if not stock["timed_out"] else None,
            "ratio": (o / s) if (s and not stock["timed_out"]) else None,
            "target": "< 1.5 s, exit 3",
            "passed": ours_clear and o < 1.5,
            "ours_exit": ours["code"],
            "stock_exit": stock["code"],
            "note": f"ctl {describe(ours)} | celery {describe(stock)}",
        }
    ]


def row_dead_broker(ctx=None, quick: bool = False) -> list[dict]:
    """Row 2: nothing listening (refused), and a hung broker (accepts, never answers)."""
    from console.core.redis_server import free_port

    cap = 20.0 if quick else 60.0
    rows = _status_rows(
        "2a", "refused (nothing listening)", f"redis://127.0.0.1:{free_port()}/0", cap
    )
    if not quick:
        with HungBroker() as hung:
            rows += _status_rows("2b", "hung (accepts, never answers)", hung.url, cap)
    return rows
