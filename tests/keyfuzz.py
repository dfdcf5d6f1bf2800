"""A seeded keystroke fuzzer for the console: nothing a hurried operator types may crash it.

:func:`fuzz` starts a fresh app (no screen visited before) on one screen and
types a seeded random sequence: every bound key of every screen, letters,
digits, Enter, Escape, Tab, arrows, and paste-sized bursts (keys posted
together, as a terminal delivers a paste, without waiting for a frame in
between).  It returns what went wrong: an unhandled exception (the app
exits), a "display error" the app caught and reported, or the app no longer
running.  Quit keys are left out (they end the run on purpose).

Deterministic for a given seed and recording; fast enough for CI: both runs
(replayed and live) together stay under a minute with :data:`REPLAY_KEYS` /
:data:`LIVE_KEYS` keys per screen at :data:`FUZZ_SIZE` (every screen still gets
a fresh app).  ``CTL_FUZZ_KEYS=500`` types more per screen for a deeper local run.
"""

from __future__ import annotations

import os
import random
import string
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from textual import events


def _keys(default: int) -> int:
    return int(os.environ.get("CTL_FUZZ_KEYS") or default)


#: keys per screen and seed in CI: the replayed run and the live (read-only) run
REPLAY_KEYS = _keys(30)
LIVE_KEYS = _keys(15)
#: a smaller terminal than the snapshots' (cheaper frames, narrow layouts exercised)
FUZZ_SIZE = (100, 30)

#: keys that end the app on purpose
QUIT_KEYS = frozenset({"q", "ctrl+c", "ctrl+q", "ctrl+z", "ctrl+d"})
SPECIAL = (
    "enter",
    "escape",
    "tab",
    "shift+tab",
    "up",
    "down",
    "left",
    "right",
    "pageup",
    "pagedown",
    "home",
    "end",
    "backspace",
    "delete",
    "space",
    "slash",
    "question_mark",
)
_PRINTABLE_NAMES = {
    "slash": "/",
    "question_mark": "?",
    "space": " ",
    "plus": "+",
    "minus": "-",
}


def bound_keys(app: Any) -> list[str]:
    """Every key of every binding the help screen lists (the app's own inventory)."""
    keys: set[str] = set()
    for _, bindings in app.help_sections():
        for b in bindings:
            for k in str(b.key).split(","):
                if k.strip():
                    keys.add(k.strip())
    return sorted(keys - QUIT_KEYS)


def key_event(key: str) -> events.Key:
    if len(key) == 1:
        return events.Key(key, key)
    char = _PRINTABLE_NAMES.get(key)
    return events.Key(key, char)


@dataclass
class FuzzResult:
    mode: str
    seed: int
    keys: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        tail = " ".join(self.keys[-40:])
        return f"{self.mode} seed={self.seed}: {'; '.join(self.problems)} (last keys: {tail})"


def key_plan(rng: random.Random, pool: list[str], n: int) -> list[list[str]]:
    """``n`` keys in chunks: mostly single keys, some bursts of 2-12 (a paste)."""
    alphabet = list(string.ascii_letters + string.digits)
    chunks: list[list[str]] = []
    total = 0
    while total < n:
        r = rng.random()
        size = 1 if r < 0.6 else rng.randint(2, 4) if r < 0.9 else rng.randint(5, 12)
        chunk = []
        for _ in range(size):
            source = rng.random()
            if source < 0.55:
                k = rng.choice(pool)
            elif source < 0.8:
                k = rng.choice(alphabet)
            else:
                k = rng.choice(SPECIAL)
            if k not in QUIT_KEYS:
                chunk.append(k)
        chunks.append(chunk)
        total += len(chunk)
    return chunks


async def fuzz(
    make_app: Callable[[str], Any],
    mode: str,
    *,
    seed: int,
    n_keys: int = 200,
    size: tuple[int, int] = FUZZ_SIZE,
) -> FuzzResult:
    """Type ``n_keys`` seeded keys into a fresh app started on ``mode``."""
    rng = random.Random(f"{seed}:{mode}")
    result = FuzzResult(mode, seed)
    plan: list[list[str]] | None = None
    reported: set[str] = set()
    # a clean quit is not a failure (the palette's "Quit" command can be typed: ctrl+p q
    # Enter); the rest of the plan goes on in a fresh app, so every key is still typed
    while plan is None or plan:
        app = make_app(mode)
        left = len(plan) if plan is not None else None
        try:
            async with app.run_test(size=size) as pilot:
                await pilot.pause()
                if plan is None:
                    plan = key_plan(rng, bound_keys(app), n_keys)
                while plan and app.is_running:
                    chunk = plan.pop(0)
                    result.keys.extend(chunk)
                    for k in chunk:  # posted together: a burst arrives before any frame
                        app.post_message(key_event(k))
                    await pilot.pause()
                    if rng.random() < 0.1:
                        await app.workers.wait_for_complete()
                if app.is_running:
                    await pilot.pause()
                    await app.workers.wait_for_complete()
                    await pilot.pause()
                if not app.is_running and app.return_code:
                    result.problems.append(f"app stopped (return code {app.return_code})")
        except Exception as exc:  # run_test re-raises the app's unhandled exception
            frames = traceback.extract_tb(exc.__traceback__)
            where = " at " + " < ".join(
                f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in frames[-4:][::-1]
            )
            result.problems.append(f"unhandled {type(exc).__name__}: {exc}{where}")
        reported.update(getattr(app, "_reported", ()))
        if not result.problems and plan is not None and len(plan) == left:
            result.problems.append("the app stopped before taking any key")
        if result.problems:
            break
    result.problems.extend(m for m in sorted(reported) if m.startswith("display error"))
    return result
