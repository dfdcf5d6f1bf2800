"""The console header: screen tabs, cluster, workers online, tasks/s, feed status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Sparkline

from console.core.sanitize import safe_text

from ..fmt import clock_time, duration, zone_name
from .text_line import TextLine

if TYPE_CHECKING:
    from console.core.feed import FeedStatus

#: the feed's rate window (seconds): with nothing new the shown rate falls to 0 over it
RATE_WINDOW = 10.0

# (mode, key, short title)
TABS: tuple[tuple[str, str, str], ...] = (
    ("workers", "1", "Workers"),
    ("tasks", "2", "Tasks"),
    ("active", "3", "Active"),
    ("reserved", "4", "Reserved"),
    ("scheduled", "5", "Sched"),
    ("revoked", "6", "Revoked"),
    ("canvas", "7", "Canvas"),
    ("beat", "8", "Beat"),
    ("queues", "9", "Queues"),
)

FEED_LABELS = {
    "live": ("● LIVE", "bold green"),
    "reconnecting": ("◐ RECONNECTING", "bold yellow"),
    "disconnected": ("✗ DISCONNECTED", "bold red reverse"),
    "replay": ("▶ REPLAY", "bold cyan"),
    "replay-done": ("■ REPLAY END", "cyan"),
}


def tabs_text(current: str, width: int = 200) -> Text:
    """`` 1 Workers  2 Tasks ...`` (the current one reversed); tighter when narrow."""
    for sep, gap in ((" ", " "), (" ", ""), ("", "")):
        text = Text(no_wrap=True, overflow="ellipsis")
        for mode, key, title in TABS:
            style = "reverse bold" if mode == current else ""
            text.append(f"{gap}{key}", style="bold" if mode != current else style)
            text.append(f"{sep}{title}{gap}", style=style)
            text.append(" ")
        if text.cell_len <= width:
            break
    return text


class TabsBar(Widget):
    """The screen tabs; picks a tighter layout when the terminal is narrow."""

    DEFAULT_CSS = "TabsBar { height: 1; width: 1fr; }"

    def __init__(self, mode: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = mode

    def render(self) -> Text:
        return tabs_text(self.mode, self.size.width)


def status_text(status: FeedStatus | None, zone: str = "") -> Text:
    """Feed status + time of the last event (and the zone); STALE when the feed is not live;
    gaps if any."""
    if status is None:  # nothing from the feed yet
        from console.core.feed import FeedStatus

        status = FeedStatus()
    mode = status.mode or "disconnected"
    label, style = FEED_LABELS.get(mode, (mode.upper(), "bold"))
    text = Text(no_wrap=True)
    text.append(label, style=style)
    last = status.last_event
    if mode in ("disconnected", "reconnecting"):
        text.append(" STALE", style="bold reverse")
        text.append(f" since {clock_time(last)}" if last else " (no event yet)")
    else:
        text.append(f" {clock_time(last)}" if last else " no events yet")
    if zone:
        text.append(f" {zone}", style="dim")
    gaps = status.gaps
    if gaps:  # events may have been lost (reconnects, broker drops): never a clean LIVE
        text.append(f" {gaps} gap{'s' if gaps != 1 else ''}", style="bold yellow")
    loading = status.loading
    if loading:  # the past loading from the result backend (console/core/backfill.py)
        text.append(" │ ")
        text.append(safe_text(loading, 80, oneline=True), style="italic")
    return text


def rate_text(
    rate: float, status: FeedStatus | None, now: float | None, online: int, total: int
) -> str:
    """The tasks/s figure, never a stale one shown as live.

    Disconnected: no rate ("no live rate").  Nothing arrived for a while: the
    rate falls linearly to 0 over the feed's window; once every worker is gone
    (or nothing came for a whole window): ``no events for N s``.
    """
    mode = status.mode if status is not None else ""
    if mode in ("disconnected", "reconnecting"):
        return "no live rate"
    last = status.last_event if status is not None else None
    age = (now - last) if isinstance(last, int | float) and now is not None and last else None
    if mode == "live" and age is not None and age > 1.0:
        if age >= RATE_WINDOW or (total and not online):
            return f"no events for {int(age)} s" if age < 120 else f"no events for {duration(age)}"
        rate = rate * max(0.0, (RATE_WINDOW - age) / RATE_WINDOW)
    return f"{rate:.1f} tasks/s"


class ClusterHeader(Widget):
    """Two lines: screen tabs (+ read-only tag); cluster, workers, rate, feed status."""

    DEFAULT_CSS = """
    ClusterHeader { height: 2; dock: top; background: $panel; }
    ClusterHeader #hdr-tabs { height: 1; width: 1fr; }
    ClusterHeader #hdr-row { height: 1; }
    ClusterHeader #hdr-cluster { width: 1fr; height: 1; }
    ClusterHeader #hdr-rate { width: auto; height: 1; }
    ClusterHeader Sparkline { width: 10; height: 1; margin: 0 1; }
    ClusterHeader #hdr-status { width: auto; height: 1; }
    """

    def __init__(self, mode: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = mode

    def compose(self) -> ComposeResult:
        yield TabsBar(self.mode, id="hdr-tabs")
        with Horizontal(id="hdr-row"):
            yield TextLine(id="hdr-cluster")
            yield TextLine(id="hdr-rate")
            yield Sparkline([], id="hdr-spark")
            yield TextLine(id="hdr-status")

    def on_mount(self) -> None:
        self.update_from_app()

    def update_from_app(self) -> None:
        try:
            self._update()
        except NoMatches:
            pass  # not composed yet: on_mount paints it

    def _update(self) -> None:
        app: Any = self.app
        model = getattr(app, "model", None)
        if model is None:
            return
        cluster = Text(no_wrap=True, overflow="ellipsis")
        context = getattr(getattr(app, "settings", None), "context", None)
        if context:  # a named cluster (console/core/contexts.py): say which one, first
            cluster.append(f"⎈ {safe_text(context, 40, oneline=True)} ", style="bold reverse")
            cluster.append(" ")
        cluster.append(safe_text(app.cluster_label, 200, oneline=True), style="bold")
        if app.read_only:
            cluster.append(" [RO]", style="bold reverse")
        online, total = model.online_workers()
        self.query_one("#hdr-cluster", TextLine).set_text(cluster)
        rate = Text(no_wrap=True)
        rate.append(" │ ")
        rate.append(f"{online}/{total} workers", style="" if online == total else "bold reverse")
        now = app.clock() if callable(getattr(app, "clock", None)) else None
        rate.append(f" │ {rate_text(model.rate, model.status, now, online, total)}")
        self.query_one("#hdr-rate", TextLine).set_text(rate)
        spark = self.query_one("#hdr-spark", Sparkline)
        history = list(model.rate_history[-24:])
        if history != list(spark.data or []):
            spark.data = history
        zone = zone_name(now)
        self.query_one("#hdr-status", TextLine).set_text(status_text(model.status, zone))
