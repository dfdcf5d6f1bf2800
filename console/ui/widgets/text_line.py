"""A one-line Static for bars and header parts that change several times a second."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class TextLine(Static):
    """Repaints only when its text changes, and asks for a layout pass (a reflow of the
    whole screen, the most expensive part of a frame) only when its width can change:
    ``width: auto`` and a text of another cell length.  Fixed-size lines never do."""

    _last: Text | None = None

    def set_text(self, text: Text) -> None:
        last = self._last
        if last is not None and last == text:
            return
        width = self.styles.width
        auto = width is not None and width.is_auto
        layout = last is None or (auto and last.cell_len != text.cell_len)
        self._last = text
        self.update(text, layout=layout)


__all__ = ["TextLine"]
