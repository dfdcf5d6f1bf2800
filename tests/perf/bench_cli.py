"""ctl vs stock celery, side by side on the same cluster.

    python -m tests.perf.bench_cli        # starts a LocalCluster (2 workers), prints a table
    python -m tests.perf.bench_cli --broker rabbitmq   # the same on a real RabbitMQ node

:func:`run` measures

* ``inspect active --json`` with the two-worker cluster: wall time of the whole
  process, median of 5, for ``ctl`` and ``celery -A sample_proj``; the JSON
  documents must be identical (target: ctl <= 0.25x stock);
* ``status`` with a dead broker (a Redis that was started and stopped):
  time to a clear failure and the exit codes (target: ctl < 1.5 s, exit 3).

With ``--broker rabbitmq`` (tests/rabbitmq.py starts a node; Redis still holds
the results) the rows are ``cli-r1`` ``inspect active --json`` with the
management API (target <= 0.35x stock), ``cli-r2`` the same without the API
(no early return possible: informational), ``cli-r3`` ``status`` with a
failover list whose first node is down.

Rows are dicts with the keys ``row``, ``name``, ``metric``, ``unit``, ``ours``,
``stock``, ``ratio``, ``target``, ``passed``, ``note``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CTL = str(BIN / "ctl")
CELERY = str(BIN / "celery")


def _env(broker: str, backend: str | None, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("CELERY_") and k != "CTL_BROKER_API"
    }
    env.update(extra)
    env["CELERY_BROKER_URL"] = broker
    if backend:
        env["CELERY_RESULT_BACKEND"] = backend
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["NO_COLOR"] = "1"
    return env


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    return time.perf_counter() - started, proc


def _last_json(text: str) -> Any:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else None


def bench_inspect(
    broker: str,
    backend: str,
    repeat: int = 5,
    row: str = "cli-1",
    target: float | None = 0.25,
    name: str = "inspect active --json (2 workers)",
    **extra: str,
) -> dict[str, Any]:
    env = _env(broker, backend, **extra)
    ours: list[float] = []
    stock: list[float] = []
    same = True
    notes = []
    for _ in range(repeat):
        t_stock, p_stock = _timed([CELERY, "-A", "sample_proj", "inspect", "active", "--json"], env)
        t_ours, p_ours = _timed([CTL, "inspect", "active", "--json"], env)
        stock.append(t_stock)
        ours.append(t_ours)
        try:
            if _last_json(p_ours.stdout) != _last_json(p_stock.stdout):
                same = False
                notes.append(
                    f"differs: {p_ours.stdout.strip()[:80]} vs {p_stock.stdout.strip()[:80]}"
                )
        except ValueError as exc:
            same = False
            notes.append(f"bad JSON: {exc}")
        if p_ours.returncode != 0:
            same = False
            notes.append(f"ctl exit {p_ours.returncode}: {p_ours.stderr.strip()[:120]}")
    m_ours, m_stock = statistics.median(ours), statistics.median(stock)
    ratio = m_ours / m_stock if m_stock else None
    return {
        "row": row,
        "name": name,
        "metric": f"wall time, median of {repeat}",
        "unit": "s",
        "ours": round(m_ours, 3),
        "stock": round(m_stock, 3),
        "ratio": round(ratio, 3) if ratio is not None else None,
        "target": f"<= {target}x, identical content" if target else "identical content",
        "passed": bool(same and ratio is not None and (target is None or ratio <= target)),
        "note": "identical content" if same else "; ".join(notes[:2]),
    }


def bench_dead_broker() -> dict[str, Any]:
    from console.core.redis_server import EmbeddedRedis

    server = EmbeddedRedis().start()
    url = server.url
    server.stop()
    env = _env(url, None)
    t_ours, p_ours = _timed([CTL, "status"], env)
    t_stock, p_stock = _timed([CELERY, "-b", url, "status"], env)
    return {
        "row": "cli-2",
        "name": "status, broker down",
        "metric": "time to a clear failure",
        "unit": "s",
        "ours": round(t_ours, 3),
        "stock": round(t_stock, 3),
        "ratio": round(t_ours / t_stock, 3) if t_stock else None,
        "target": "< 1.5 s, exit 3",
        "passed": bool(t_ours < 1.5 and p_ours.returncode == 3),
        "note": f"ctl exit {p_ours.returncode}: {p_ours.stderr.strip()[:100]}; celery exit {p_stock.returncode}",
    }


def bench_failover(broker: str, backend: str, api: str) -> dict[str, Any]:
    """``status`` with ``amqp://<dead>;<live>``: both must fail over to the live node."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    dead = f"amqp://guest:guest@127.0.0.1:{dead_port}//"
    env = _env(f"{dead};{broker}", backend, CTL_BROKER_API=api)
    t_ours, p_ours = _timed([CTL, "status", "--json"], env)
    t_stock, p_stock = _timed([CELERY, "-A", "sample_proj", "status", "--json"], env)
    return {
        "row": "cli-r3",
        "name": "status, failover list, first node down",
        "metric": "wall time / exit code",
        "unit": "s",
        "ours": round(t_ours, 3),
        "stock": round(t_stock, 3),
        "ratio": round(t_ours / t_stock, 3) if t_stock else None,
        "target": "exit 0 like celery",
        "passed": p_ours.returncode == 0 and p_stock.returncode == 0,
        "note": f"ctl exit {p_ours.returncode}, celery exit {p_stock.returncode}",
    }


def run_rabbitmq() -> list[dict[str, Any]]:
    """The RabbitMQ rows: a node of our own, two workers on a vhost of it."""
    from console.demo.cluster import LocalCluster
    from tests.rabbitmq import EmbeddedRabbitMQ

    node = EmbeddedRabbitMQ().start()
    try:
        vhost = node.add_vhost("bench")
        with LocalCluster(
            workers=("alpha", "bravo"), concurrency=2, broker_url_override=node.url(vhost)
        ) as cluster:
            url, backend = cluster.broker_url, cluster.backend_url
            return [
                bench_inspect(
                    url,
                    backend,
                    row="cli-r1",
                    target=0.35,
                    name="RabbitMQ: inspect active --json (2 workers, management API)",
                    CTL_BROKER_API=node.api_url(),
                ),
                bench_inspect(
                    url,
                    backend,
                    row="cli-r2",
                    target=None,
                    name="RabbitMQ: inspect active --json (2 workers, no management API)",
                    CTL_BROKER_API="http://127.0.0.1:9/api/",
                ),
                bench_failover(url, backend, node.api_url()),
            ]
    finally:
        node.stop()


def run(cluster_broker_url: str, backend_url: str) -> list[dict[str, Any]]:
    """Both rows against a running cluster (workers must already answer)."""
    return [bench_inspect(cluster_broker_url, backend_url), bench_dead_broker()]


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="ctl vs celery")
    for col in ("row", "name", "metric", "ours", "stock", "ratio", "target", "passed", "note"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            *(
                str(r[c])
                for c in (
                    "row",
                    "name",
                    "metric",
                    "ours",
                    "stock",
                    "ratio",
                    "target",
                    "passed",
                    "note",
                )
            )
        )
    Console().print(table)


if __name__ == "__main__":
    import argparse

    from console.demo.cluster import LocalCluster

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=("redis", "rabbitmq"), default="redis")
    args = parser.parse_args()
    if args.broker == "rabbitmq":
        results = run_rabbitmq()
    else:
        with LocalCluster(workers=("alpha", "bravo"), concurrency=2) as cluster:
            results = run(cluster.broker_url, cluster.backend_url)
    _print_table(results)
    print(json.dumps(results))
