"""Formatting helpers: every value coming from a task or worker becomes an inert Rich Text."""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

from rich.text import Text

from console.core.sanitize import inert, safe_text

STATE_STYLES = {
    "SUCCESS": "green",
    "FAILURE": "bold red",
    "REJECTED": "red",
    "RETRY": "yellow",
    "REVOKED": "magenta",
    "STARTED": "bold cyan",
    "RECEIVED": "blue",
    "PENDING": "dim",
    "online": "green",
    "late": "bold yellow",
    "offline": "bold red",
}
STATE_MARKS = {  # readable without colour (NO_COLOR)
    "FAILURE": "✗ ",
    "REJECTED": "✗ ",
    "RETRY": "↻ ",
    "REVOKED": "⊘ ",
    "STARTED": "▶ ",
    "SUCCESS": "✓ ",
    "late": "! ",
    "offline": "✗ ",
}


def cell(value: Any, limit: int = 120, style: str = "") -> Text:
    """One table cell: a single line, control characters escaped, truncated."""
    return inert(value, limit, oneline=True, style=style)


def state_text(state: Any) -> Text:
    s = safe_text(state, 20, oneline=True)
    return Text(STATE_MARKS.get(s, "") + s, style=STATE_STYLES.get(s, ""), no_wrap=True)


#: the zone every clock time is shown in: None = the terminal's local time (``TZ``)
_ZONE: _dt.tzinfo | None = None


def set_zone(utc: bool) -> None:
    """Show times in UTC (``--utc``) or in local time (the default)."""
    global _ZONE
    _ZONE = _dt.UTC if utc else None


def zone_name(ts: float | None = None) -> str:
    """The zone times are shown in, for the header (``UTC``, ``CET``, ``+0530`` ...)."""
    if _ZONE is _dt.UTC:
        return "UTC"
    when = _dt.datetime.fromtimestamp(ts if ts and math.isfinite(ts) else 0).astimezone()
    return when.tzname() or when.strftime("%z")


def clock_time(ts: Any, *, date: bool = False) -> str:
    """``HH:MM:SS`` of an epoch timestamp in the shown zone (local unless ``--utc``);
    ``-`` when unknown.  ``date=True``: ``YYYY-MM-DD HH:MM:SS.mmm`` and the zone."""
    if not isinstance(ts, int | float) or not math.isfinite(ts) or ts <= 0:
        return "-"
    try:
        d = _dt.datetime.fromtimestamp(ts, tz=_ZONE or _dt.UTC)
        if _ZONE is None:
            d = d.astimezone()
    except (OverflowError, OSError, ValueError):
        return "-"
    if not date:
        return d.strftime("%H:%M:%S")
    zone = "Z" if _ZONE is _dt.UTC else " " + (d.tzname() or d.strftime("%z"))
    return d.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + zone


def duration(seconds: Any) -> str:
    """Human duration: ``85ms``, ``3.2s``, ``4m05s``, ``2h03m``, ``3d04h``."""
    if not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return "-"
    s = float(seconds)
    if s < 0:
        return "-" + duration(-s)
    if s < 1:
        return f"{s * 1000:.0f}ms"
    if s < 60:
        return f"{s:.1f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    if s < 86400:
        return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"
    return f"{int(s // 86400)}d{int(s % 86400 // 3600):02d}h"


def number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if not value.is_integer() else f"{int(value)}"
    return safe_text(value, 20, oneline=True)


def loadavg(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " ".join(f"{v:.2f}" if isinstance(v, int | float) else "?" for v in value[:3])
    return number(value)


DETAIL_CAP = 64 * 1024


def capped(value: Any, cap: int = DETAIL_CAP) -> Text:
    """A long value as inert Text, cut at ``cap`` characters with a notice saying how much more."""
    raw = value if isinstance(value, str) else repr(value) if value is not None else ""
    text = inert(raw[:cap])
    if len(raw) > cap:
        text.append(
            f"\n… {len(raw) - cap:,} more characters not shown (first {cap // 1024} KB)",
            style="bold reverse",
        )
    return text
