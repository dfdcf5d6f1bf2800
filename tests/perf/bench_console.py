"""Benchmark row 5: the console as a person sees it, driven in a real terminal (tmux).

* **First frame**: ``ctl -A sample_proj console`` is started in a detached
  ``tmux`` session (160x48, private tmux server socket) and the pane is
  polled with ``capture-pane`` until the app has painted its screen (at least
  ``MIN_LINES`` non-blank lines); stock counterpart: Celery's own curses
  monitor ``celery -A sample_proj events`` measured the same way.  Measured
  idle and again under load.
* **Keypress to screen**: under load -- ``N`` simulated workers
  (tests/perf/fleet.py, 500 by default) sending ``R`` task events/s (20,000)
  after the console has been fed >= 100,000 tasks -- the filter is opened
  (``FILTER_KEY``) and characters are typed one at a time; for each, the time
  from ``tmux send-keys`` until the typed text is on the pane.  ``capture-pane``
  polling costs ~2-4 ms a round (a tmux client fork), which is included.

Everything runs on the same machine as the load, so the console competes for
the 2 cores with the fleet, Redis and its own intake process: that is the
point of the row, and the note says how loaded the machine was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COLS, ROWS = 160, 48
MIN_LINES = 5
NAV_KEYS = ("2",)  # the Tasks screen (console/ui/app.py APP_BINDINGS)
FILTER_KEY = "/"  # opens the task filter (console/ui/screens/tasks.py)
CLEAR_KEYS = ("C-u",)  # Input: delete everything left of the cursor
# typed into the filter: no key the console binds (q quits!), unlikely on screen otherwise
PROBE = "zvwhyuzvwhyu"
FILTER_READY = "filter: words match"  # the filter input's placeholder: it is open
TASKS_READY = "/ Filter"  # the Tasks screen's footer


def _tool(name: str) -> str:
    p = BIN / name
    return str(p) if p.exists() else name


class Tmux:
    """A private tmux server (own socket) with one detached session."""

    _n = 0

    def __init__(self, cols: int = COLS, rows: int = ROWS) -> None:
        Tmux._n += 1
        self.socket = f"ctlbench-{os.getpid()}-{Tmux._n}"
        self.cols, self.rows = cols, rows
        self.target = "bench"
        self._control: _Control | None = None
        self._control_lock = threading.Lock()

    def _tmux(self, *args: str, check: bool = False, timeout: float = 10) -> str:
        # the tmux server inherits this environment: COLUMNS/LINES (set by some test
        # runners) would make Textual and curses ignore the real 160x48 pane size
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
        proc = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed: {proc.stderr.strip()}")
        return proc.stdout

    def start(self, argv: list[str], env: dict[str, str]) -> float:
        """Start ``argv`` in the session; returns the perf_counter start time."""
        env_args: list[str] = []
        for key in (
            "CELERY_BROKER_URL",
            "CELERY_RESULT_BACKEND",
            "PYTHONPATH",
            "NO_COLOR",
            "CTL_READ_ONLY",
            "TERM",
            "COLORTERM",
            "LANG",
            "LC_ALL",
        ):
            if key in env:
                env_args += ["-e", f"{key}={env[key]}"]
        t0 = time.perf_counter()
        self._tmux(
            "new-session",
            "-d",
            "-s",
            self.target,
            "-x",
            str(self.cols),
            "-y",
            str(self.rows),
            *env_args,
            "--",
            *argv,
            check=True,
        )
        self._tmux("set-option", "-t", self.target, "remain-on-exit", "on")
        return t0

    def _command(self, *args: str) -> str:
        """A tmux command through the control client (no process forked per poll: a
        forked ``tmux capture-pane`` costs ~3-5 ms of CPU, every 2 ms while a key is
        timed, on the cores the console shares); a forked client when there is none."""
        with self._control_lock:
            if self._control is None:
                with contextlib.suppress(Exception):
                    self._control = _Control(self.socket, self.target)
            control = self._control
        if control is not None:
            try:
                return control.command(*args)
            except Exception:
                with self._control_lock:
                    if self._control is control:
                        control.close()
                        self._control = None
        return self._tmux(*args)

    def capture(self) -> str:
        return self._command("capture-pane", "-p", "-t", self.target)

    def dead(self) -> bool:
        return (
            self._command("display-message", "-p", "-t", self.target, "#{pane_dead}").strip() == "1"
        )

    def send(self, *keys: str, literal: bool = False) -> None:
        args = ["send-keys", "-t", self.target]
        if literal:
            args.append("-l")
        self._command(*args, *keys)

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.send("C-c")
            time.sleep(0.3)
        if self._control is not None:
            self._control.close()
            self._control = None
        with contextlib.suppress(Exception):
            self._tmux("kill-server")

    def __enter__(self) -> Tmux:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


class _Control:
    """A tmux control-mode client (``tmux -C attach``) that does not receive the pane's
    output (``refresh-client -f no-output``): commands and their replies over one pipe.
    It does not change the window's size (checked: 160x48 stays 160x48)."""

    def __init__(self, socket: str, target: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
        self.proc = subprocess.Popen(
            ["tmux", "-L", socket, "-f", "/dev/null", "-C", "attach-session", "-t", target],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self._lock = threading.Lock()  # one command and its reply at a time (a watcher thread)
        self._block()  # the attach's own reply
        self.command("refresh-client", "-f", "no-output")

    def _block(self) -> list[str]:
        out: list[str] = []
        inside = False
        assert self.proc.stdout is not None
        while True:
            raw = self.proc.stdout.readline()
            if not raw:
                raise EOFError("tmux control client ended")
            line = raw.decode(errors="replace").rstrip("\n")
            if line.startswith("%begin"):
                inside, out = True, []
            elif line.startswith(("%end", "%error")) and inside:
                if line.startswith("%error"):
                    raise RuntimeError("; ".join(out) or "tmux error")
                return out
            elif inside:
                out.append(line)

    def command(self, *args: str) -> str:
        assert self.proc.stdin is not None
        line = " ".join(_quote(a) for a in args)
        with self._lock:
            self.proc.stdin.write((line + "\n").encode())
            self.proc.stdin.flush()
            return "\n".join(self._block()) + "\n"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        with contextlib.suppress(Exception):
            self.proc.wait(2)
        if self.proc.poll() is None:
            self.proc.kill()


def _quote(arg: str) -> str:
    """One tmux command-language word (tmux quoting: single quotes, ' as '\\'')."""
    if arg and all(c.isalnum() or c in "-_.,:/@+=" for c in arg):
        return arg
    return "'" + arg.replace("'", "'\\''") + "'"


def _nonblank(text: str) -> int:
    return sum(1 for ln in text.splitlines() if ln.strip())


def painted(text: str, rows: int = ROWS, min_lines: int = MIN_LINES) -> bool:
    """A full-screen app's frame: bottom row drawn (footer) or half the rows, not a
    CLI message at the top of an otherwise empty pane."""
    lines = text.splitlines()
    bottom = len(lines) >= rows and bool(lines[rows - 1].strip())
    return _nonblank(text) >= min_lines and (bottom or _nonblank(text) >= rows // 2)


def console_env(broker_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CELERY_BROKER_URL=broker_url,
        CELERY_RESULT_BACKEND=broker_url,
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        TERM="xterm-256color",
        COLORTERM="truecolor",
        LANG="C.UTF-8",
    )
    for key in ("NO_COLOR", "COLUMNS", "LINES"):
        env.pop(key, None)
    return env


def first_frame(
    argv: list[str],
    env: dict[str, str],
    timeout: float = 15.0,
    min_lines: int = MIN_LINES,
    tmux: Tmux | None = None,
) -> dict[str, Any]:
    """Seconds from spawning ``argv`` in tmux until the pane shows a painted screen."""
    own = tmux is None
    tmux = tmux or Tmux()
    try:
        t0 = tmux.start(argv, env)
        deadline = t0 + timeout
        text = ""
        while time.perf_counter() < deadline:
            text = tmux.capture()
            if painted(text, tmux.rows, min_lines) and not tmux.dead():
                seconds = time.perf_counter() - t0
                time.sleep(0.5)  # a TUI stays up; an error message + exit does not
                if tmux.dead():
                    return {
                        "seconds": None,
                        "error": "exited: " + _last(tmux.capture()),
                        "screen": text,
                    }
                return {"seconds": seconds, "screen": text}
            if tmux.dead():
                return {"seconds": None, "error": "exited: " + _last(text), "screen": text}
            time.sleep(0.003)
        return {
            "seconds": None,
            "error": f"no frame within {timeout:.0f}s: {_last(text)}",
            "screen": text,
        }
    finally:
        if own:
            tmux.kill()


def _last(text: str) -> str:
    lines = [ln.strip("\u2500\u2502\u256d\u256e\u256f\u2570 ").strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("Pane is dead")]
    return lines[-1][:140] if lines else "(blank)"


def shown(screen: str, typed: str) -> bool:
    """The filter was applied and painted: the tasks bar says ``filter: <typed>``."""
    return f"filter: {typed}" in screen


def keypress_latencies(tmux: Tmux, n: int = 40, timeout: float = 5.0) -> dict[str, Any]:
    """Tasks screen, open the filter, type PROBE characters one by one; for each, the
    time until the tasks bar shows the filter applied (the table re-filtered)."""
    for key in NAV_KEYS:
        tmux.send(key, literal=True)
    t_nav = time.perf_counter()
    while TASKS_READY not in tmux.capture():  # the Tasks screen's footer is painted
        if time.perf_counter() - t_nav > 15 or tmux.dead():
            return {
                "p50": None,
                "p95": None,
                "n": 0,
                "misses": 0,
                "screen": tmux.capture(),
                "error": "the Tasks screen did not show within 15 s",
            }
        time.sleep(0.05)
    tmux.send(FILTER_KEY, literal=True)
    t_open = time.perf_counter()
    while FILTER_READY not in tmux.capture():
        if time.perf_counter() - t_open > 15 or tmux.dead():
            return {
                "p50": None,
                "p95": None,
                "n": 0,
                "misses": 0,
                "screen": tmux.capture(),
                "error": "the filter input did not open within 15 s",
            }
        time.sleep(0.05)
    lat: list[float] = []
    misses = 0
    typed = ""
    for i in range(n):
        if len(typed) >= len(PROBE) // 2 + 2:
            tmux.send(*CLEAR_KEYS)
            typed = ""
            t_clear = time.perf_counter()
            while shown(tmux.capture(), PROBE[:1]) and time.perf_counter() - t_clear < timeout:
                time.sleep(0.005)
        ch = PROBE[len(typed)]
        want = typed + ch
        t0 = time.perf_counter()
        tmux.send(ch, literal=True)
        while True:
            screen = tmux.capture()
            if shown(screen, want):
                lat.append(time.perf_counter() - t0)
                typed = want
                break
            if time.perf_counter() - t0 > timeout:
                misses += 1
                typed = ""
                tmux.send(*CLEAR_KEYS)
                break
            time.sleep(0.002)  # each capture forks a tmux client: leave the CPU to the app
        _ = i
        time.sleep(0.05)  # a person types ~10-20 keys/s
    if not lat:
        return {"p50": None, "p95": None, "n": 0, "misses": misses, "screen": tmux.capture()}
    lat.sort()
    p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
    return {
        "p50": statistics.median(lat),
        "p95": p95,
        "n": len(lat),
        "misses": misses,
        "max": lat[-1],
    }


_LAUNCHER = (
    "import sys; from console.core.settings import ClusterSettings; "
    "from console.ui.app import create_app; "
    "create_app(settings=ClusterSettings.resolve(app='sample_proj')).run()"
)


def headless_keypresses(
    broker_url: str, n: int = 40, want_tasks: int = 100_000, fill_timeout: float = 120.0
) -> dict[str, Any]:
    """The same filter typing, in-process with Textual's ``app.run_test()`` (headless).

    The app is ``create_app(settings=...)`` with its default LiveFeed on the
    loaded broker.  Latency: from posting the key (``pilot.press`` in a task)
    until the first screen update (``App._display``, called with the
    compositor's update even when headless) made once the task window on
    screen answers the typed text (the feed filtered it: a round trip to the
    intake process) -- no terminal, no tmux in the measure.
    """
    import asyncio

    from console.core.settings import ClusterSettings
    from console.ui.app import create_app

    settings = ClusterSettings.resolve(app="sample_proj", broker=broker_url)
    app = create_app(settings=settings)
    out: dict[str, Any] = {"p50": None, "p95": None, "n": 0, "misses": 0, "tracked": 0}

    async def drive() -> None:
        async with app.run_test(size=(COLS, ROWS)) as pilot:
            deadline = time.monotonic() + fill_timeout
            while app.model.total_tasks < want_tasks and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            out["tracked"] = app.model.total_tasks
            if out["tracked"] < want_tasks:
                notes = [str(getattr(n, "message", n)) for n in getattr(app, "_notifications", [])]
                status = getattr(app.feed, "status", None)
                out["error"] = (
                    f"only {out['tracked']:,} tasks after {fill_timeout:.0f}s; feed "
                    f"{getattr(status, 'mode', '?')}: {getattr(status, 'message', '')}"
                    + (f"; {notes[-1][:200]}" if notes else "")
                )
            for key in NAV_KEYS:
                await pilot.press(key)
            await pilot.press("slash")
            await pilot.pause(0.3)
            state: dict[str, Any] = {"want": None, "t": None}
            original = app._display

            def display(screen: Any, renderable: Any) -> Any:
                if (
                    state["want"] is not None
                    and state["t"] is None
                    and renderable is not None
                    and app.model.window.spec.query == state["want"]
                ):  # painted rows answer it
                    state["t"] = time.perf_counter()
                return original(screen, renderable)

            app._display = display  # type: ignore[method-assign]
            lat: list[float] = []
            typed = ""
            for _ in range(n):
                if len(typed) >= len(PROBE) // 2 + 2:
                    await pilot.press("ctrl+u")
                    await pilot.pause(0.1)
                    typed = ""
                want = typed + PROBE[len(typed)]
                state.update(want=want, t=None)
                t0 = time.perf_counter()
                press = asyncio.create_task(pilot.press(PROBE[len(typed)]))
                while state["t"] is None and time.perf_counter() - t0 < 3.0:
                    await asyncio.sleep(0.0005)
                await press
                if state["t"] is None:
                    out["misses"] += 1
                    await pilot.press("ctrl+u")
                    typed = ""
                else:
                    lat.append(state["t"] - t0)
                    typed = want
                await asyncio.sleep(0.05)
            app._display = original  # type: ignore[method-assign]
            if lat:
                lat.sort()
                out.update(
                    p50=statistics.median(lat),
                    p95=lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))],
                    n=len(lat),
                    max=lat[-1],
                )

    asyncio.run(drive())
    return out


def _console_argv() -> list[str]:
    """``ctl -A sample_proj console``; until that command exists, the same app
    through ``create_app(settings=...)`` (the note says which was measured)."""
    probe = subprocess.run(
        [_tool("ctl"), "console", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        env=console_env("redis://127.0.0.1:1/0"),
    )
    if probe.returncode == 0:
        return [_tool("ctl"), "-A", "sample_proj", "console"]
    return [sys.executable, "-c", _LAUNCHER]


def _which(argv: list[str]) -> str:
    return (
        "`ctl console`" if "console" in argv[-1:] else "create_app() (ctl console not registered)"
    )


def _stock_argv() -> list[str]:
    return [_tool("celery"), "-A", "sample_proj", "events"]


def _row(
    row: str, name: str, metric: str, unit: str, ours, stock, target: str, passed, note: str
) -> dict:
    ratio = (
        ours / stock
        if isinstance(ours, (int, float)) and isinstance(stock, (int, float)) and stock
        else None
    )
    return {
        "row": row,
        "name": name,
        "metric": metric,
        "unit": unit,
        "ours": ours,
        "stock": stock,
        "flower": None,
        "ratio": ratio,
        "target": target,
        "passed": passed,
        "note": note,
    }


def run(ctx, quick: bool = False) -> list[dict]:
    """Row 5 (see the module docstring); ``quick``: 10 workers, 500 events/s, 5 keys."""
    from tests.perf.fleet import Fleet

    if shutil.which("tmux") is None:
        return [_row("5", "console", "", "", None, None, "", None, "tmux not installed")]
    n_workers = 10 if quick else 500
    rate = 500 if quick else 20_000
    want_tasks = 500 if quick else 100_000
    n_keys = 5 if quick else 40
    redis = ctx.fresh_redis()
    env = console_env(redis.url)
    rows: list[dict] = []

    argv = _console_argv()
    # 5a: first frame, idle
    ours = first_frame(argv, env)
    stock = first_frame(_stock_argv(), env)
    rows.append(
        _row(
            "5a",
            "console first frame, idle",
            "time to first frame",
            "s",
            ours["seconds"],
            stock["seconds"],
            "< 1 s",
            (ours["seconds"] < 1.0) if ours["seconds"] is not None else None,
            f"ours = {_which(argv)}; stock = `celery events` (curses monitor), "
            "same tmux 160x48"
            + (f" | ctl: {ours['error']}" if ours.get("error") else "")
            + (f" | celery: {stock['error']}" if stock.get("error") else ""),
        )
    )

    # under load
    # tick 0.05 s: same events, fewer (larger task.multi) messages, so the load
    # generator leaves more of the 2 cores to the console it is measuring
    with Fleet(
        redis.url,
        n_workers,
        rate=rate,
        duration=600 if not quick else 120,
        prefix="load",
        tick=0.05,
    ) as fleet:
        with Tmux() as tmux:
            ff = first_frame(argv, env, tmux=tmux)
            c0 = fleet.counters()
            t_fill = time.monotonic()
            # ~3.2 task events per task in the fleet's mix
            target_events = c0["task_events"] + int(want_tasks * 3.2)
            while time.monotonic() - t_fill < (60 if quick else 120):
                c = fleet.counters()
                if c["task_events"] >= target_events:
                    break
                time.sleep(0.5)
            c1 = fleet.counters()
            fill_s = time.monotonic() - t_fill
            achieved = Fleet.rate_between(c0, c1) or (
                (c1["task_events"] - c0["task_events"]) / max(1e-6, fill_s)
            )
            load = os.getloadavg()[0]
            if ff["seconds"] is None:
                keys = {
                    "p50": None,
                    "p95": None,
                    "n": 0,
                    "misses": 0,
                    "screen": ff.get("screen", ""),
                }
            else:
                keys = keypress_latencies(tmux, n=n_keys)
            stock_ff = first_frame(_stock_argv(), env)
        # the tmux console is gone; the same typing, headless, under the same load
        try:
            headless = headless_keypresses(
                redis.url, n=n_keys, want_tasks=want_tasks, fill_timeout=60 if quick else 120
            )
        except Exception as exc:
            headless = {
                "p50": None,
                "p95": None,
                "n": 0,
                "misses": 0,
                "tracked": 0,
                "error": f"{type(exc).__name__}: {exc}",
            }
    load_note = (
        f"{n_workers} simulated workers at {achieved:,.0f} task events/s measured "
        f"(target {rate:,}); ~{(c1['task_events'] - c0['task_events']) / 3.2:,.0f} "
        f"tasks fed before typing; 1-min load avg {load:.1f} on {os.cpu_count()} cores"
    )
    rows.append(
        _row(
            "5b",
            "console first frame, under load",
            "time to first frame",
            "s",
            ff["seconds"],
            stock_ff["seconds"],
            "< 1 s",
            (ff["seconds"] < 1.0) if ff["seconds"] is not None else None,
            load_note + (f" | ctl: {ff['error']}" if ff.get("error") else ""),
        )
    )
    key_note = (
        f"{keys['n']} keys typed into the Tasks filter ({keys['misses']} not shown "
        f"within 5 s); tmux send-keys -> 'filter: <typed>' painted in the tasks bar "
        f"(the table re-filtered), capture-pane polling; {_which(argv)}"
    )
    if keys.get("error"):
        key_note += f" | {keys['error']}"
    if keys["n"] == 0:
        key_note += " | screen: " + _last(keys.get("screen", ""))
    rows.append(
        _row(
            "5c",
            "keypress to screen, under load",
            "median",
            "ms",
            keys["p50"] * 1000 if keys["p50"] is not None else None,
            None,
            "-",
            None,
            key_note,
        )
    )
    rows.append(
        _row(
            "5d",
            "keypress to screen, under load",
            "p95",
            "ms",
            keys["p95"] * 1000 if keys["p95"] is not None else None,
            None,
            "< 100 ms",
            (keys["p95"] < 0.1) if keys["p95"] is not None else None,
            load_note,
        )
    )
    h_note = (
        f"headless app.run_test(): key posted -> first screen update after the filter "
        f"applied; {headless['n']} keys ({headless['misses']} missed), "
        f"{headless['tracked']:,} tasks tracked, same fleet load"
    )
    if headless.get("error"):
        h_note += f" | error: {headless['error']}"
    rows.append(
        _row(
            "5e",
            "keypress to screen, headless, under load",
            "median",
            "ms",
            headless["p50"] * 1000 if headless["p50"] is not None else None,
            None,
            "-",
            None,
            h_note,
        )
    )
    rows.append(
        _row(
            "5f",
            "keypress to screen, headless, under load",
            "p95",
            "ms",
            headless["p95"] * 1000 if headless["p95"] is not None else None,
            None,
            "< 100 ms",
            (headless["p95"] < 0.1) if headless["p95"] is not None else None,
            h_note,
        )
    )
    return rows
