"""Confirmation dialog naming exactly what an action will do.

Only ``y`` (or a click on Yes) confirms; ``n``, Escape and Enter mean No.  Keys
typed before the dialog was shown are dropped (:class:`GuardedModal`), so a
burst such as ``xy`` cannot answer a dialog nobody saw.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from .guard import GuardedModal


class ConfirmScreen(GuardedModal[bool]):
    """Returns True only on an explicit yes (``y`` or the button)."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes, do it", id="confirm.yes"),
        Binding("n,escape,enter", "answer(False)", "No", id="confirm.no"),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 70; max-width: 95%; height: auto; border: thick $error;
                               background: $surface; padding: 1 2; }
    ConfirmScreen.-safe > Vertical { border: thick $warning; }
    ConfirmScreen #confirm-title { text-style: bold; margin-bottom: 1; }
    ConfirmScreen Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    ConfirmScreen Button { margin-left: 2; }
    """

    def __init__(self, title: str, description: str, destructive: bool = True) -> None:
        super().__init__(classes="" if destructive else "-safe")
        self.title_text = title
        self.description = description

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text), id="confirm-title")
            yield Static(Text(self.description), id="confirm-text")
            with Horizontal():
                # not focusable: Enter and Tab never reach "Yes"; a click still does
                no = Button("No (n)", id="no")
                no.can_focus = False
                yield no
                yes = Button("Yes (y)", id="yes", variant="error")
                yes.can_focus = False
                yield yes

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)
