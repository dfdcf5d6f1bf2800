"""A small parameter form (rate limit, time limit, pool size, queue, signal ...).

Values are checked as they are typed (:func:`console.ui.actions.check_field`):
the error shows under the field and Next refuses until every field is right
and the rules between fields hold (soft ≤ hard, min ≤ max), so nothing fails
after the user confirmed.  Limits are never pre-filled: the inputs show
placeholders.  Every value shown (title, pre-filled task name) is made inert:
it may come from the cluster.  Keys typed before the form was shown are
dropped (:class:`GuardedModal`).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static

from console.core.sanitize import safe_text

from ..actions import PLACEHOLDERS, SIGNALS, check_field, check_values
from .guard import GuardedModal


class FormScreen(GuardedModal[dict[str, str] | None]):
    """Fields as ``(name, label, value)``; returns the values or None (cancel)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="form.cancel")]
    DEFAULT_CSS = """
    FormScreen { align: center middle; }
    FormScreen > Vertical { width: 70; max-width: 95%; height: auto; max-height: 95%;
                            border: thick $accent; background: $surface; padding: 0 2; }
    FormScreen #form-title { text-style: bold; margin: 1 0; }
    FormScreen Label { margin-top: 0; }
    FormScreen .form-error { color: $error; height: auto; }
    FormScreen Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    FormScreen Button { margin-left: 2; }
    """

    def __init__(
        self, title: str, fields: tuple[tuple[str, str, str], ...], action: str = ""
    ) -> None:
        super().__init__()
        self.title_text = safe_text(title, 300)
        self.fields = fields
        self.action = action

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text), id="form-title")
            for name, label, value in self.fields:
                yield Label(Text(safe_text(label, 80, oneline=True)))
                if name == "signal":
                    yield Select(
                        [(s, s) for s in SIGNALS],
                        value=value if value in SIGNALS else "SIGTERM",
                        allow_blank=False,
                        id=f"field-{name}",
                    )
                else:
                    yield Input(
                        value=safe_text(value, 200, oneline=True),  # from the cluster: inert
                        placeholder=PLACEHOLDERS.get(name, ""),
                        id=f"field-{name}",
                    )
                    yield Static("", id=f"error-{name}", classes="form-error")
            yield Static("", id="form-error", classes="form-error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Next", id="ok", variant="primary")

    def on_mount(self) -> None:
        for box in self.query(Input):
            box.cursor_blink = getattr(self.app, "cursor_blink", True)
        for box in self.query(Input):
            self._check(box)
        # nothing focused until shown (GuardedModal.on_shown): type-ahead reaches no field

    def on_shown(self) -> None:
        first = next((b for b in self.query(Input) if not b.value), None)
        target = first or self.query("Input, Select").first()
        self.set_focus(target)

    def _check(self, box: Input, show: bool = False) -> str | None:
        name = (box.id or "").removeprefix("field-")
        problem = check_field(name, box.value)
        self.query_one(f"#error-{name}", Static).update(
            Text(problem) if problem and (show or box.value) else Text("")
        )
        box.set_class(bool(problem), "-invalid")
        return problem

    def on_input_changed(self, event: Input.Changed) -> None:
        self._check(event.input)
        self.query_one("#form-error", Static).update("")

    def values(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, _, _ in self.fields:
            widget = self.query_one(f"#field-{name}")
            out[name] = str(widget.value)  # type: ignore[attr-defined]
        return out

    def _submit(self) -> None:
        problems = [p for box in self.query(Input) if (p := self._check(box, show=True))]
        values = self.values()
        problem = problems[0] if problems else check_values(self.action, values)
        if problem:
            self.query_one("#form-error", Static).update(Text(problem))
            return
        self.dismiss(values)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
