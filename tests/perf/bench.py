"""The benchmark suite: ``ctl`` / the console vs stock Celery (and Flower), one command.

    python -m tests.perf.bench                       # every row (several minutes)
    python -m tests.perf.bench --rows 1,2            # some rows
    python -m tests.perf.bench --quick               # CI smoke: tiny sizes, seconds
    python -m tests.perf.bench --write-md docs/PERFORMANCE.md --json /tmp/bench.json

It starts everything it needs itself -- an EmbeddedRedis, a LocalCluster
(real sample_proj workers), a simulated Fleet (tests/perf/fleet.py), Flower
-- measures both tools side by side in the same run on the same cluster, and
prints one table: ours, stock, flower, ratio, target, pass/miss.

Rows
  1  ``ctl inspect active --json`` vs ``celery inspect active --json``:
     2 real workers, then 200 simulated + 2 real; wall time, identical content
     (tests/perf/bench_rows.py)
  2  ``ctl status`` vs ``celery status`` with the broker down: time to a clear
     failure, exit codes (tests/perf/bench_rows.py)
  3  event intake: events/s into the console's state vs EventReceiver + State,
     the 100,000-event burst (tests/perf/bench_intake.py) + Flower column
     (tests/perf/bench_flower.py)
  4  memory per tracked task at 100,000 tasks vs celery.events.state.State
     (tests/perf/bench_state.py) + Flower column
  5  console: time to first frame (tmux, real ``ctl console``), keypress to
     screen latency under load: 500 simulated workers, 20,000 events/s, 100,000
     tasks tracked (tests/perf/bench_console.py)

Every row function returns a list of dicts with the keys ``row``, ``name``,
``metric``, ``unit``, ``ours``, ``stock``, ``flower``, ``ratio``, ``target``,
``passed`` (True / False / None = not measured), ``note``.  ``--write-md``
replaces the part of the file between ``<!-- bench:begin -->`` and
``<!-- bench:end -->`` (the rest of the page is prose kept by hand).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


# --------------------------------------------------------------------------
# shared resources
# --------------------------------------------------------------------------


class BenchContext:
    """Lazily started, shared resources; :meth:`close` stops all of them."""

    def __init__(self, quick: bool = False) -> None:
        self.quick = quick
        self._cluster = None
        self._redis = None

    def cluster(self):
        """A LocalCluster: Redis + real workers ``alpha`` and ``bravo``."""
        if self._cluster is None:
            from console.demo.cluster import LocalCluster

            self._cluster = LocalCluster(workers=("alpha", "bravo"), concurrency=2).start()
        return self._cluster

    def redis(self):
        """A bare EmbeddedRedis (for event rows: no worker traffic on it)."""
        if self._redis is None:
            from console.core.redis_server import EmbeddedRedis

            self._redis = EmbeddedRedis().start()
        return self._redis

    def fresh_redis(self):
        """Drop the bare Redis so the next row starts on an empty server."""
        if self._redis is not None:
            self._redis.stop()
            self._redis = None
        return self.redis()

    def close(self) -> None:
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.stop()
            self._cluster = None
        if self._redis is not None:
            with contextlib.suppress(Exception):
                self._redis.stop()
            self._redis = None


# --------------------------------------------------------------------------
# rows 3 and 4: other engineers' modules + the Flower column
# --------------------------------------------------------------------------

_KEYS = (
    "row",
    "name",
    "metric",
    "unit",
    "ours",
    "stock",
    "flower",
    "ratio",
    "target",
    "passed",
    "note",
)


def _import_optional(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if name.rsplit(".", 1)[-1] in str(exc):
            return None
        raise


def normalize(row_id: str, item: dict) -> dict:
    """Map a row dict from another module onto the table's keys."""
    out = {k: item.get(k) for k in _KEYS}
    out["row"] = str(item.get("row") or row_id)
    out["name"] = item.get("name") or item.get("title") or item.get("what") or ""
    if out["passed"] is None and "pass" in item:
        out["passed"] = item["pass"]
    if out["ours"] is None:
        out["ours"] = item.get("value", item.get("ctl"))
    if out["stock"] is None:
        out["stock"] = item.get("celery", item.get("baseline"))
    if (
        out["ratio"] is None
        and isinstance(out["ours"], (int, float))
        and isinstance(out["stock"], (int, float))
        and out["stock"]
    ):
        out["ratio"] = out["ours"] / out["stock"]
    extra = {k: v for k, v in item.items() if k not in out and k not in ("pass", "value")}
    if extra:
        out["extra"] = extra
    return out


def _pending(row_id: str, name: str, why: str) -> list[dict]:
    return [
        {
            "row": row_id,
            "name": name,
            "metric": "",
            "unit": "",
            "ours": None,
            "stock": None,
            "flower": None,
            "ratio": None,
            "target": "",
            "passed": None,
            "note": f"pending: {why}",
        }
    ]


def _flower(ctx: BenchContext, quick: bool) -> dict[str, Any]:
    cache = getattr(ctx, "_flower_result", None)
    if cache is not None:
        return cache
    from tests.perf import bench_flower

    n = 3_000 if quick else 100_000
    try:
        result = bench_flower.measure(
            count=n, burst=0 if quick else n, tasks=n, paced_rate=4000.0 if quick else 6000.0
        )
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    ctx._flower_result = result
    return result


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def intake_rows(raw: list[dict], fl: dict[str, Any]) -> list[dict]:
    """tests/perf/bench_intake.py rows (one per consumer and phase) -> table rows."""
    by = {(r.get("test"), r.get("consumer")): r for r in raw}
    rows: list[dict] = []
    ours, stock = by.get(("throughput", "ours"), {}), by.get(("throughput", "stock"), {})
    o, s_ = _num(ours.get("events_per_s")), _num(stock.get("events_per_s"))
    ratio = o / s_ if (o and s_) else None
    fl_rate = None if "error" in fl else _num(fl.get("events_per_s"))
    notes = [
        f"{ours.get('count', '?'):,} events flat out, Redis pub/sub buffer unlimited; "
        f"state: {ours.get('state', '?')}"
        if isinstance(ours.get("count"), int)
        else "throughput phase missing"
    ]
    for name, r in (("ours", ours), ("stock", stock)):
        if r.get("died") or r.get("error"):
            notes.append(f"{name}: {r.get('error')}")
    if "error" in fl:
        notes.append(f"flower: {fl['error']}")
    elif fl_rate is not None:
        notes.append(f"flower accounted {fl.get('accounted', 0):,} of {fl.get('count', 0):,}")
    rows.append(
        {
            "row": "3a",
            "name": "event intake, end to end into state",
            "metric": "throughput",
            "unit": "events/s",
            "ours": o,
            "stock": s_,
            "flower": fl_rate,
            "ratio": ratio,
            "target": ">= 50,000/s and >= 3x stock",
            "passed": (o >= 50_000 and ratio >= 3) if (o and ratio) else None,
            "note": "; ".join(notes),
        }
    )
    live = by.get(("throughput", "livefeed"))
    if live:
        lv = _num(live.get("events_per_s"))
        lratio = lv / s_ if (lv and s_) else None
        note = (
            "whole console pipeline: LiveFeed intake process -> coalesced deltas polled "
            "by the UI process"
        )
        if live.get("max_poll_ms") is not None:
            note += f"; UI poll() max {live['max_poll_ms']} ms"
        if live.get("died") or live.get("error"):
            note += f"; error: {live.get('error')}"
        rows.append(
            {
                "row": "3b",
                "name": "event intake via LiveFeed (console pipeline)",
                "metric": "throughput",
                "unit": "events/s",
                "ours": lv,
                "stock": s_,
                "flower": fl_rate,
                "ratio": lratio,
                "target": ">= 50,000/s and >= 3x stock",
                "passed": (lv >= 50_000 and lratio >= 3) if (lv and lratio) else None,
                "note": note,
            }
        )
    b_ours, b_stock = by.get(("burst", "ours"), {}), by.get(("burst", "stock"), {})
    if b_ours or b_stock:
        count = b_ours.get("count") or b_stock.get("count") or 0
        got = b_ours.get("received")
        kept = got == count and not b_ours.get("gaps")
        detected = bool(b_ours.get("gaps"))
        fl_burst = None if "error" in fl else fl.get("burst_accounted")
        rate = (b_ours.get("publisher") or {}).get("rate")
        note = (
            f"{count:,} events at ~{rate or '?'}/s, default 32 MB pub/sub limit | "
            f"ours: {b_ours.get('outcome', '?')} | stock: {b_stock.get('outcome', '?')}"
        )
        if fl_burst is not None:
            note += f" | flower accounted {fl_burst:,}"
        rows.append(
            {
                "row": "3c",
                "name": f"{count:,}-event burst",
                "metric": "events received",
                "unit": "events",
                "ours": got,
                "stock": b_stock.get("received"),
                "flower": fl_burst,
                "ratio": None,
                "target": "all, or the loss detected",
                "passed": (kept or detected) if got is not None else None,
                "note": note,
            }
        )
    return rows


def row_intake(ctx: BenchContext, quick: bool = False) -> list[dict]:
    mod = _import_optional("tests.perf.bench_intake")
    fl = _flower(ctx, quick)
    if mod is None:
        rows = _pending("3", "event intake", "tests/perf/bench_intake.py not there yet")
        return rows
    if quick:
        raw = (
            mod.run(redis_url=None, count=3_000, burst=3_000, burst_rate=20_000.0)
            if _accepts(mod.run, "burst_rate")
            else mod.run(redis_url=None)
        )
    else:
        raw = mod.run(redis_url=None)
    if raw and all("test" in r for r in raw):
        return intake_rows(raw, fl)
    return [normalize("3", r) for r in raw]


def _attach_flower(
    rows: list[dict],
    value: float | None,
    match: Callable[[dict], bool],
    note: str,
    metric: str = "",
    unit: str = "",
) -> None:
    """Put Flower's figure on the first matching row, or add a row of its own."""
    for r in rows:
        if match(r):
            r["flower"] = value
            r["note"] = (r.get("note") or "") + (" | " if r.get("note") else "") + note
            return
    rows.append(
        {
            "row": rows[0]["row"] if rows else "?",
            "name": "Flower 2.2 (same stream)",
            "metric": metric,
            "unit": unit,
            "ours": None,
            "stock": None,
            "flower": value,
            "ratio": None,
            "target": "",
            "passed": None,
            "note": note,
        }
    )


def _accepts(fn: Callable, name: str) -> bool:
    code = getattr(fn, "__code__", None)
    return bool(code and name in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])


def row_memory(ctx: BenchContext, quick: bool = False) -> list[dict]:
    mod = _import_optional("tests.perf.bench_state")
    if mod is None:
        rows = _pending("4", "memory per tracked task", "tests/perf/bench_state.py not there yet")
    else:
        kwargs: dict[str, Any] = {}
        if quick and _accepts(mod.run, "quick"):
            kwargs["quick"] = True
        rows = [normalize("4", r) for r in mod.run(**kwargs)]
    fl = _flower(ctx, quick)
    if "error" in fl:
        note = f"flower: {fl['error']}"
        value = None
    else:
        value = fl["bytes_per_task"]
        note = (
            f"flower: RSS {fl['rss_before'] / 2**20:.0f} -> {fl['rss_after'] / 2**20:.0f} MiB "
            f"holding {fl['tasks_tracked']:,} tasks (RSS delta / tasks)"
        )
    _attach_flower(
        rows,
        value,
        lambda r: (r.get("unit") or "").lower() in ("b", "bytes", "b/task", "bytes/task"),
        note,
        metric="memory per task",
        unit="B/task",
    )
    return rows


def row_console(ctx: BenchContext, quick: bool = False) -> list[dict]:
    from tests.perf import bench_console

    return bench_console.run(ctx, quick=quick)


def row_cli_inspect(ctx: BenchContext, quick: bool = False) -> list[dict]:
    from tests.perf import bench_rows

    return bench_rows.row_inspect(ctx, quick=quick)


def row_cli_status(ctx: BenchContext, quick: bool = False) -> list[dict]:
    from tests.perf import bench_rows

    return bench_rows.row_dead_broker(ctx, quick=quick)


ROWS: dict[int, tuple[str, Callable[[BenchContext, bool], list[dict]]]] = {
    1: ("ctl inspect vs celery inspect", row_cli_inspect),
    2: ("ctl status vs celery status, broker down", row_cli_status),
    3: ("event intake", row_intake),
    4: ("memory per tracked task", row_memory),
    5: ("console: first frame, keypress latency under load", row_console),
}


def run_rows(
    numbers: list[int],
    quick: bool = False,
    ctx: BenchContext | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    own = ctx is None
    ctx = ctx or BenchContext(quick=quick)
    results: list[dict] = []
    try:
        for n in numbers:
            title, fn = ROWS[n]
            if progress:
                progress(f"row {n}: {title} ...")
            t0 = time.monotonic()
            try:
                rows = fn(ctx, quick)
            except Exception as exc:
                traceback.print_exc(file=sys.stderr)
                rows = [
                    {
                        "row": str(n),
                        "name": title,
                        "metric": "",
                        "unit": "",
                        "ours": None,
                        "stock": None,
                        "flower": None,
                        "ratio": None,
                        "target": "",
                        "passed": None,
                        "note": f"error: {type(exc).__name__}: {exc}",
                    }
                ]
            for r in rows:
                for k in _KEYS:
                    r.setdefault(k, None)
            results.extend(rows)
            if progress:
                progress(f"row {n}: done in {time.monotonic() - t0:.1f}s")
    finally:
        if own:
            ctx.close()
    return results


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------


def fmt(value: Any, unit: str | None = None) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        u = (unit or "").lower()
        if u in ("s", "ms"):
            return f"{value:.3f}" if u == "s" else f"{value:.1f}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3f}"
    return str(value)


def fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def verdict(p: bool | None) -> str:
    return "PASS" if p is True else ("MISS" if p is False else "n/a")


def table_rows(results: list[dict]) -> list[list[str]]:
    out = []
    for r in results:
        unit = r.get("unit") or ""
        metric = r.get("metric") or ""
        out.append(
            [
                str(r.get("row") or ""),
                str(r.get("name") or ""),
                f"{metric} [{unit}]" if unit else metric,
                fmt(r.get("ours"), unit),
                fmt(r.get("stock"), unit),
                fmt(r.get("flower"), unit),
                fmt_ratio(r.get("ratio")),
                str(r.get("target") or ""),
                verdict(r.get("passed")),
            ]
        )
    return out


HEADER = [
    "row",
    "measure",
    "metric",
    "ours (ctl)",
    "stock (celery)",
    "flower",
    "ratio",
    "target",
    "result",
]


def render_text(results: list[dict]) -> str:
    rows = table_rows(results)
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(HEADER)
    ]
    widths = [min(w, 48) for w in widths]

    def line(cells: list[str]) -> str:
        return "  ".join(c[:w].ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    lines = [line(HEADER), line(["-" * w for w in widths])]
    lines += [line(r) for r in rows]
    notes = [
        f"  [{r.get('row')}] {r.get('name')}: {r.get('note')}" for r in results if r.get("note")
    ]
    if notes:
        lines += ["", "notes:"] + notes
    return "\n".join(lines)


def render_markdown(results: list[dict]) -> str:
    rows = table_rows(results)

    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = ["| " + " | ".join(HEADER + ["notes"]) + " |", "|" + "---|" * (len(HEADER) + 1)]
    for r, res in zip(rows, results, strict=True):
        lines.append("| " + " | ".join(esc(c) for c in r + [str(res.get("note") or "")]) + " |")
    return "\n".join(lines)


def _cmd_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
        return out.strip().splitlines()[0] if out.strip() else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine_info() -> dict[str, str]:
    import celery
    import kombu
    import psutil
    import redis as redis_py

    from console.core.redis_server import find_redis_server

    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {
        "python": platform.python_version(),
        "celery": celery.__version__,
        "kombu": kombu.__version__,
        "redis-py": redis_py.__version__,
    }
    for mod in ("flower", "textual"):
        with contextlib.suppress(Exception):
            versions[mod] = importlib.import_module(mod).__version__
    server = _cmd_version([find_redis_server(), "--version"])
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "ram": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "loadavg_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "redis_server": server.replace("Redis server ", ""),
        "tmux": _cmd_version(["tmux", "-V"]) if shutil.which("tmux") else "not installed",
    }


def _shown_command(argv: list[str]) -> str:
    """The bench command as run, without output-file arguments."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--json", "--write-md"):
            skip = True
            continue
        if a.startswith(("--json=", "--write-md=")):
            continue
        out.append(a)
    return " ".join(["python -m tests.perf.bench", *out])


def _table_lines(block: str) -> dict[str, list[str]]:
    """Existing table lines of a generated block, by row id."""
    rows: dict[str, list[str]] = {}
    for line in block.splitlines():
        if line.startswith("| ") and not line.startswith("| row |"):
            rid = line[2:].split(" |", 1)[0].strip()
            rows.setdefault(rid, []).append(line)
    return rows


def markdown_block(
    results: list[dict],
    info: dict[str, str],
    argv: list[str],
    elapsed: float,
    previous: str = "",
    numbers: list[int] | None = None,
) -> str:
    """The generated block.  When only some rows were run (``numbers``), the
    other rows' lines of the ``previous`` block are kept, and said to be older."""
    when = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    table = render_markdown(results).splitlines()
    kept_note = ""
    if numbers and set(numbers) != set(ROWS) and previous:
        old = _table_lines(previous)
        fresh = {ln[2:].split(" |", 1)[0].strip() for ln in table[2:]}
        kept = [
            ln
            for rid, lines in old.items()
            if rid not in fresh and not any(rid.startswith(str(n)) for n in numbers)
            for ln in lines
        ]
        body = sorted(table[2:] + kept, key=lambda ln: ln[2:].split(" |", 1)[0].strip())
        table = table[:2] + body
        old_head = next((ln for ln in previous.splitlines() if ln.startswith("_Generated")), "")
        old_head = old_head.split(" Rows ", 1)[0]
        if kept:
            kept_note = (
                f" Rows {', '.join(str(n) for n in numbers)} re-measured then; the "
                f"others are from the previous run: {old_head.strip('_ ')}"
            )
    lines = [
        BEGIN,
        f"_Generated by `{_shown_command(argv)}` on {when} ({elapsed:.0f} s).{kept_note}_",
        "",
        f"* Machine: {info['nproc']} vCPU ({info['cpu']}), {info['ram']} RAM, {info['os']}; "
        f"load average at start {info['loadavg_at_start']} (shared machine)",
        f"* Versions: {info['versions']}; redis-server {info['redis_server']}; {info['tmux']}",
        "* Reproduce: `.venv/bin/python -m tests.perf.bench --write-md docs/PERFORMANCE.md`",
        "",
        *table,
        END,
    ]
    return "\n".join(lines)


def read_block(path: Path) -> str:
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        return text.split(BEGIN, 1)[1].split(END, 1)[0]
    return ""


def write_markdown(path: Path, block: str) -> None:
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = (text.rstrip() + "\n\n" if text else "# Performance\n\n") + block + "\n"
    path.write_text(text)


def _json_default(o: Any) -> Any:
    return repr(o)


def parse_rows(spec: str | None) -> list[int]:
    if not spec:
        return sorted(ROWS)
    out = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        n = int(part)
        if n not in ROWS:
            raise SystemExit(f"unknown row {n}; rows are {sorted(ROWS)}")
        out.append(n)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(
        prog="python -m tests.perf.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="CI smoke: tiny sizes, few runs")
    p.add_argument("--rows", default=None, help="comma-separated row numbers (default: all)")
    p.add_argument(
        "--write-md",
        default=None,
        metavar="PATH",
        help="write the table + machine info into PATH (between bench markers)",
    )
    p.add_argument("--json", default=None, metavar="PATH", help="write raw results as JSON")
    args = p.parse_args(argv)
    numbers = parse_rows(args.rows)
    info = machine_info()
    print(
        f"machine: {info['nproc']} vCPU {info['cpu']}, {info['ram']}, load "
        f"{info['loadavg_at_start']}; {info['versions']}; redis {info['redis_server']}",
        flush=True,
    )
    t0 = time.monotonic()
    results = run_rows(
        numbers, quick=args.quick, progress=lambda m: print(m, file=sys.stderr, flush=True)
    )
    elapsed = time.monotonic() - t0
    print(render_text(results), flush=True)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"machine": info, "results": results}, indent=1, default=_json_default)
        )
    if args.write_md:
        path = Path(args.write_md)
        write_markdown(
            path,
            markdown_block(
                results, info, argv, elapsed, previous=read_block(path), numbers=numbers
            ),
        )
        print(f"wrote {args.write_md}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
