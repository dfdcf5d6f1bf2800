"""Smoke run of the benchmark suite with tiny sizes, so it cannot rot.

Asserts the rows come out with numbers in them (and that both tools really
ran), never the performance targets: those are for ``python -m tests.perf.bench``
on a quiet machine (see docs/PERFORMANCE.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.perf import bench, bench_flower, bench_rows

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0


@pytest.fixture
def ctx():
    c = bench.BenchContext(quick=True)
    try:
        yield c
    finally:
        c.close()


def test_row1_inspect_smoke_measures_both_tools(ctx):
    rows = bench_rows.row_inspect(ctx, quick=True)
    walls = [r for r in rows if r["unit"] == "s"]
    assert [r["row"] for r in walls] == ["1a", "1b"]
    for r in walls:
        assert _num(r["stock"]), r
        assert _num(r["ours"]), r["note"]
        assert _num(r["ratio"])
    nodes = [r for r in rows if r["unit"] == "nodes"]
    # 2 real workers, then 20 simulated + 2 real: both tools must see all of them
    assert [r["stock"] for r in nodes] == [2, 22]
    assert [r["ours"] for r in nodes] == [2, 22], [r["note"] for r in nodes]


def test_row2_dead_broker_smoke():
    rows = bench_rows.row_dead_broker(None, quick=True)
    assert rows and rows[0]["row"] == "2a"
    r = rows[0]
    assert _num(r["ours"]) and _num(r["stock"])
    assert r["stock_exit"] not in (0, None)  # celery fails too, eventually
    assert r["ours_exit"] is not None


def test_flower_column_smoke():
    out = bench_flower.measure(
        count=2_000, burst=1_000, burst_rate=5_000.0, tasks=1_000, paced_rate=3000.0, timeout=60.0
    )
    assert "error" not in out, out
    assert out["accounted"] > 0 and _num(out["events_per_s"])
    assert out["burst_accounted"] > 0
    assert out["tasks_tracked"] >= 1_000
    assert _num(out["bytes_per_task"])


def test_bench_command_prints_table_and_writes_markdown(tmp_path):
    md = tmp_path / "PERFORMANCE.md"
    md.write_text(
        "# Performance\n\nprose kept\n\n<!-- bench:begin -->\nold\n<!-- bench:end -->\n"
        "\nmore prose\n"
    )
    js = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.perf.bench",
            "--quick",
            "--rows",
            "2",
            "--write-md",
            str(md),
            "--json",
            str(js),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "status, broker refused" in proc.stdout
    assert "stock (celery)" in proc.stdout
    text = md.read_text()
    assert "prose kept" in text and "more prose" in text and "old" not in text
    assert "| 2a |" in text and "nproc" not in text and "vCPU" in text
    data = json.loads(js.read_text())
    assert data["results"][0]["row"] == "2a"
    assert _num(data["results"][0]["stock"])


def test_render_and_normalize_foreign_rows():
    rows = [
        bench.normalize(
            "3",
            {
                "name": "intake",
                "metric": "events/s",
                "unit": "events/s",
                "ours": 90_000.0,
                "stock": 12_000.0,
                "target": ">= 3x",
                "pass": True,
            },
        )
    ]
    assert rows[0]["ratio"] == pytest.approx(7.5)
    assert rows[0]["passed"] is True
    text = bench.render_text(rows)
    assert "90,000" in text and "7.50x" in text and "PASS" in text


def test_row5_console_smoke_first_frame_and_keys(ctx):
    import shutil

    if shutil.which("tmux") is None:
        pytest.skip("tmux not installed")
    from tests.perf import bench_console

    rows = {r["row"]: r for r in bench_console.run(ctx, quick=True)}
    assert set(rows) == {"5a", "5b", "5c", "5d", "5e", "5f"}
    for key in ("5a", "5b"):
        assert _num(rows[key]["ours"]), rows[key]["note"]
        assert _num(rows[key]["stock"]), rows[key]["note"]
    assert _num(rows["5c"]["ours"]) and _num(rows["5d"]["ours"]), rows["5c"]["note"]
    assert _num(rows["5e"]["ours"]) and _num(rows["5f"]["ours"]), rows["5e"]["note"]
