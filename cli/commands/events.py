"""``ctl events``: follow the cluster's event stream as JSON lines."""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from console.core.settings import ClusterSettings


def _type_matcher(patterns: list[str] | None):
    if not patterns:
        return None
    import fnmatch
    import re

    exprs = []
    for pattern in patterns:
        for part in pattern.split(","):
            part = part.strip()
            if part:
                exprs.append(fnmatch.translate(part))
    if not exprs:
        return None
    return re.compile("|".join(f"(?:{e})" for e in exprs)).match


def run_events(
    settings: ClusterSettings,
    types: list[str] | None = None,
    record: Path | None = None,
    limit: int | None = None,
    duration: float | None = None,
    source: str = "auto",
    out: IO[bytes] | None = None,
    err: IO[str] | None = None,
) -> int:
    """Print events as JSON lines until ``limit`` / ``duration`` / Ctrl-C; returns the exit code.

    ``--record`` writes the events that are printed (after ``--type``), one raw
    event per line, gzip-compressed when the file name ends in ``.gz``.
    Raises :class:`CtlError` (e.g. ``BrokerUnreachable``, exit code 3) when the
    broker cannot be reached at start; later outages are retried (noted on stderr).
    """
    import sys
    import time

    import orjson

    from console.core.errors import EXIT_OK
    from console.core.intake import make_source, tune_gc

    out = out if out is not None else sys.stdout.buffer
    err = err if err is not None else sys.stderr
    match = _type_matcher(types)
    recorder = None
    src = None
    printed = 0
    try:
        app = settings.app
        if record is not None:
            from console.core.recording import Recorder

            try:
                recorder = Recorder(
                    record,
                    secrets=[
                        settings.broker_url,
                        settings.result_backend,
                        settings.effective_broker_url,
                        settings.effective_backend_url,
                    ],
                )
            except OSError as exc:
                from console.core.errors import UsageError

                raise UsageError(
                    f"cannot write --record file {str(record)!r}: {exc.strerror or exc}"
                ) from None
        src = make_source(
            app,
            url=settings.effective_broker_url,
            kind=source,
            connect_timeout=settings.connect_timeout,
        )
        src.start(require_connection=True)
        tune_gc()
        deadline = time.monotonic() + duration if duration is not None else None
        last_mode = src.status.mode
        last_gaps = 0
        dumps = orjson.dumps
        opt = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
        while True:
            if limit is not None and printed >= limit:
                break
            timeout = 0.2
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                timeout = min(timeout, left)
            batch = src.read_batch(timeout=timeout)
            st = src.status
            if st.mode != last_mode or st.gaps != last_gaps:
                if st.mode != "live" or st.gaps != last_gaps:
                    from console.core.sanitize import safe_text

                    err.write(
                        "ctl: events: "
                        + safe_text(f"{st.mode}: {settings.scrub(st.message)}", oneline=True)
                        + "\n"
                    )
                    err.flush()
                last_mode, last_gaps = st.mode, st.gaps
            if not batch:
                continue
            if match is not None:
                batch = [ev for ev in batch if match(ev.get("type", ""))]
            if limit is not None and printed + len(batch) > limit:
                batch = batch[: limit - printed]
            for ev in batch:
                out.write(dumps(ev, option=opt))
                out.flush()
            printed += len(batch)
            if recorder is not None and batch:
                recorder.write_batch(batch)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # the reader went away (``| head``): stop quietly
        import os

        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
    finally:
        if src is not None:
            src.close()
        if recorder is not None:
            recorder.close()
    return EXIT_OK


def register(app: typer.Typer) -> None:
    """Register the command on ``app``."""

    @app.command()
    def events(
        ctx: typer.Context,
        type_: Annotated[
            list[str] | None,
            typer.Option(
                "--type", "-t", help="Only these event types (repeatable; globs like 'task-*')."
            ),
        ] = None,
        record: Annotated[
            Path | None,
            typer.Option(
                "--record",
                help="Also write the events to FILE (JSON lines; gzip if it ends in .gz).",
            ),
        ] = None,
        limit: Annotated[
            int | None, typer.Option("--limit", "-n", min=1, help="Stop after N events.")
        ] = None,
        duration: Annotated[
            float | None, typer.Option("--duration", min=0.0, help="Stop after S seconds.")
        ] = None,
        source: Annotated[
            str,
            typer.Option(
                "--source", help="Event source: auto, redis (fast pub/sub reader) or kombu."
            ),
        ] = "auto",
    ) -> None:
        """Follow the event stream: one JSON object per line on stdout (Ctrl-C to stop)."""
        from cli.app import settings_of
        from cli.output import guard
        from console.core.errors import UsageError

        settings = settings_of(ctx)
        with guard(settings):
            if source not in ("auto", "redis", "kombu"):
                raise UsageError("--source must be auto, redis or kombu")
            code = run_events(
                settings, types=type_, record=record, limit=limit, duration=duration, source=source
            )
        raise typer.Exit(code)
