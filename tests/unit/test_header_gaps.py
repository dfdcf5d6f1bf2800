"""The header never shows a clean LIVE while the feed counted gaps (events may be lost)."""

from __future__ import annotations

from console.core.feed import FeedStatus
from console.ui.widgets.header import status_text


def test_live_with_gaps_says_so() -> None:
    text = status_text(FeedStatus(mode="live", last_event=None, gaps=2)).plain
    assert "LIVE" in text and "2 gaps" in text


def test_live_without_gaps_is_unchanged() -> None:
    assert status_text(FeedStatus(mode="live", gaps=0)).plain == "● LIVE no events yet"
    assert "1 gap" in status_text(FeedStatus(mode="reconnecting", gaps=1)).plain
