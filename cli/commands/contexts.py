"""``ctl contexts``: the named clusters of the config file (URLs masked)."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Register the command on ``app``."""

    @app.command("contexts")
    def contexts(
        ctx: typer.Context,
        as_json: Annotated[
            bool, typer.Option("--json", help="One JSON document: path, default, contexts.")
        ] = False,
    ) -> None:
        """The named clusters of $CTL_CONFIG or $XDG_CONFIG_HOME/ctl/config.toml.

        Select one with --context NAME or CTL_CONTEXT.  Passwords are never shown; a URL
        read from an environment variable shows as $NAME.  Exit 1 when the file has no
        context, 2 when it cannot be read.
        """
        from cli.app import settings_of
        from cli.output import emit_json, guard, out_console, warn_line
        from console.core.contexts import load_contexts
        from console.core.errors import EXIT_NO_MATCH
        from console.core.sanitize import inert

        current = settings_of(ctx).context
        with guard():
            listing = load_contexts(resolve_env=False)
        if as_json:
            emit_json(
                {
                    "path": str(listing.path),
                    "default": listing.default,
                    "contexts": [
                        c.as_dict(current=c.name == current) for c in listing.contexts.values()
                    ],
                }
            )
        else:
            from rich.table import Table

            table = Table(box=None, pad_edge=False)
            for title in ("", "NAME", "BROKER", "RESULT BACKEND", "APP", "READ-ONLY", "TIMEOUT"):
                table.add_column(title, no_wrap=True)
            for c in listing.contexts.values():
                mark = "*" if c.name == current else ("d" if c.name == listing.default else "")
                cells = [mark, c.name, c.shown("broker") or "", c.shown("result_backend") or "",
                         c.app or "", "yes" if c.read_only else "",
                         "" if c.timeout is None else f"{c.timeout:g}s"]  # fmt: skip
                table.add_row(*(inert(x) for x in cells))
            if listing.contexts:
                out_console().print(table)
            warn_line(f"{len(listing.contexts)} context(s) in {listing.path}")
        if not listing.contexts:
            raise typer.Exit(EXIT_NO_MATCH)
