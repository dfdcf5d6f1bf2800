"""``ctl console``: the full-screen operations console.

An unreachable broker does not stop the console: it opens and shows the feed
DISCONNECTED (last known state marked STALE) and retries in the background,
because at 3 a.m. the console is how you find out *why* the broker is gone.
A malformed broker URL is a usage error (exit 2).  ``--replay FILE`` needs
no broker at all.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.app import settings_of

#: how much of a recording is checked before the console opens
CHECK_BYTES = 256 * 1024


def check_replay(path: str) -> None:
    """Refuse, with one line (exit 2), what cannot be a recording.

    A directory, an unreadable file, a ``.gz`` that does not decompress, or
    data of which the first 256 kB hold no event.  An empty file is an empty
    recording; damage further in is counted and skipped by the reader, as a
    truncated tail of a recording still being written.
    """
    import os
    import zlib

    import orjson

    from console.core.errors import UsageError
    from console.core.recording import is_event
    from console.core.sanitize import safe_text

    name = safe_text(path, 300, oneline=True)
    if not os.path.exists(path):
        raise UsageError(f"no such recording: {name}")
    if os.path.isdir(path):
        raise UsageError(f"--replay {name}: is a directory (give a recording file)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(CHECK_BYTES)
    except OSError as exc:
        raise UsageError(f"--replay {name}: cannot read: {exc.strerror or exc}") from None
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, CHECK_BYTES)
        except zlib.error as exc:
            raise UsageError(f"--replay {name}: corrupt gzip data ({exc})") from None
    elif path.endswith(".gz") and head:
        raise UsageError(f"--replay {name}: not gzip data although the name ends in .gz")
    if not head.strip():
        return
    lines = head.splitlines()
    if len(head) >= CHECK_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut by the limit
    for line in lines:
        try:
            if is_event(orjson.loads(line)):
                return
        except ValueError:
            continue
    raise UsageError(
        f"--replay {name}: no event in the first {CHECK_BYTES // 1024} kB: not a recording"
    )


def _on_a_terminal() -> bool:
    import sys

    def tty(stream: object) -> bool:
        return bool(getattr(stream, "isatty", lambda: False)())

    return tty(sys.stdin) and tty(sys.stdout)


def register(app: typer.Typer) -> None:
    @app.command("console")
    def console(
        ctx: typer.Context,
        read_only: Annotated[
            bool,
            typer.Option(
                "--read-only",
                help="Hide and refuse every action (also CTL_READ_ONLY=1).",
            ),
        ] = False,
        replay: Annotated[
            str | None,
            typer.Option(
                "--replay",
                help="Replay a recording (ctl events --record) instead of the live cluster; no broker needed.",
                metavar="FILE",
            ),
        ] = None,
        speed: Annotated[
            float,
            typer.Option(
                "--speed", help="Replay speed factor (0 = load everything at once).", min=0.0
            ),
        ] = 1.0,
        max_tasks: Annotated[
            int,
            typer.Option(
                "--max-tasks", help="Tasks kept in memory (oldest finished evicted first).", min=100
            ),
        ] = 100_000,
        refresh: Annotated[
            float,
            typer.Option(
                "--refresh",
                help="Seconds between screen refreshes (feed polls).",
                min=0.05,
                max=5.0,
            ),
        ] = 0.2,
        poll: Annotated[
            float,
            typer.Option(
                "--poll",
                help="Seconds between remote-control polls (Active/Reserved/... screens).",
                min=0.5,
            ),
        ] = 5.0,
        beat_schedule: Annotated[
            str | None,
            typer.Option(
                "--beat-schedule",
                help="celery beat's schedule file (beat -s FILE): the Beat screen shows "
                "last run / run count from it (also CTL_BEAT_SCHEDULE; default: the app's beat_schedule_filename).",
                envvar="CTL_BEAT_SCHEDULE",
                metavar="FILE",
            ),
        ] = None,
        utc: Annotated[
            bool, typer.Option("--utc", help="Show times in UTC (default: local time, TZ).")
        ] = False,
        history: Annotated[
            int,
            typer.Option(
                "--history",
                help="On start and after a reconnect, load the newest N results from the result "
                "backend (Redis, db+...; expired results are gone) next to what workers hold now; "
                "0 = none (also CTL_HISTORY).",
                envvar="CTL_HISTORY",
                min=0,
                metavar="N",
            ),
        ] = 10_000,
    ) -> None:
        """Open the full-screen console (Workers, Tasks, Active, Reserved, Scheduled, Revoked, Canvas, Beat, Queues)."""
        import os

        from console.core.errors import CtlError, UsageError
        from console.core.settings import read_only_from_env

        try:
            read_only = read_only or read_only_from_env()
            if replay:
                from console.core.feed import ReplayFeed

                check_replay(replay)
                from console.ui.app import create_app

                feed = ReplayFeed(replay, speed=speed, max_tasks=max_tasks)
                app = create_app(
                    None,
                    feed,
                    read_only=read_only,
                    refresh=refresh,
                    poll_interval=poll,
                    max_tasks=max_tasks,
                    cluster_label=f"replay {os.path.basename(replay)}",
                    beat_schedule_file=beat_schedule or None,
                    utc=utc,
                )
            else:
                settings = settings_of(ctx)
                settings.read_only = settings.read_only or read_only
                settings.history = history
                if settings.broker_url:  # a malformed explicit URL is a usage error (exit 2)
                    from console.core.connection import parse_url

                    parse_url(settings.broker_url)
                from console.ui.app import create_app

                app = create_app(
                    settings,
                    read_only=read_only,
                    refresh=refresh,
                    poll_interval=poll,
                    max_tasks=max_tasks,
                    beat_schedule_file=beat_schedule or None,
                    utc=utc,
                )
            if not _on_a_terminal():
                raise UsageError(
                    "the console needs a terminal (stdin and stdout); "
                    "for scripts use ctl status / inspect / events"
                )
        except CtlError as exc:
            typer.echo(f"ctl console: {exc.message}", err=True)
            raise typer.Exit(exc.exit_code) from None
        result = app.run()  # a crash: one stderr line + crash report path, CRASH_EXIT
        code = result if isinstance(result, int) else (app.return_code or 0)
        raise typer.Exit(code)
