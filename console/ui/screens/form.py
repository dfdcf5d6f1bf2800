"""A small parameter form (rate limit, time limit, pool size, queue, signal ...)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ..actions import SIGNALS


class FormScreen(ModalScreen[dict[str, str] | None]):
    """Fields as ``(name, label, default)``; returns the values or None (cancel)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="form.cancel")]
    DEFAULT_CSS = """
    FormScreen { align: center middle; }
    FormScreen > Vertical { width: 70; max-width: 95%; height: auto; max-height: 95%;
                            border: thick $accent; background: $surface; padding: 0 2; }
    FormScreen #form-title { text-style: bold; margin: 1 0; }
    FormScreen Label { margin-top: 0; }
    FormScreen Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    FormScreen Button { margin-left: 2; }
    """

    def __init__(self, title: str, fields: tuple[tuple[str, str, str], ...]) -> None:
        super().__init__()
        self.title_text = title
        self.fields = fields

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text), id="form-title")
            for name, label, default in self.fields:
                yield Label(Text(label))
                if name == "signal":
                    yield Select(
                        [(s, s) for s in SIGNALS],
                        value=default or "SIGTERM",
                        allow_blank=False,
                        id=f"field-{name}",
                    )
                else:
                    yield Input(value=default, id=f"field-{name}")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Next", id="ok", variant="primary")

    def on_mount(self) -> None:
        for box in self.query(Input):
            box.cursor_blink = getattr(self.app, "cursor_blink", True)
        first = self.query("Input, Select").first()
        first.focus()

    def values(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, _, _ in self.fields:
            widget = self.query_one(f"#field-{name}")
            out[name] = str(widget.value)  # type: ignore[attr-defined]
        return out

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(self.values())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self.values() if event.button.id == "ok" else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
