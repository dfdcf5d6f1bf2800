"""``ctl demo``: the embedded demo cluster."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        ctx: typer.Context,
        no_console: Annotated[
            bool,
            typer.Option(
                "--no-console", help="Run the cluster in the foreground without the console."
            ),
        ] = False,
        workers: Annotated[
            int, typer.Option(help="Number of sample_proj workers.", min=1, max=8)
        ] = 2,
        traffic: Annotated[bool, typer.Option(help="Run the traffic generator.")] = True,
        utc: Annotated[
            bool, typer.Option("--utc", help="Show times in UTC (default: local time, TZ).")
        ] = False,
    ) -> None:
        """Start a real local cluster (embedded Redis, workers, beat, traffic) and open the console on it."""
        from console.demo.runner import run_demo

        raise typer.Exit(
            run_demo(no_console=no_console, n_workers=workers, traffic=traffic, utc=utc)
        )
