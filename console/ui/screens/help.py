"""``?``: every key of every screen, generated from the Binding declarations."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def _key_label(binding: Binding) -> str:
    keys = []
    for key in binding.key.split(","):
        key = key.strip()
        keys.append(
            {
                "question_mark": "?",
                "slash": "/",
                "plus": "+",
                "minus": "-",
                "escape": "esc",
                "asterisk": "*",
            }.get(key, key)
        )
    return " ".join(keys)


def bindings_table(sections: list[tuple[str, list[Any]]], read_only: bool = False) -> Table:
    table = Table.grid(padding=(0, 2), expand=False)
    table.add_column(style="bold", no_wrap=True, min_width=8, max_width=16)
    table.add_column(ratio=1)
    for title, bindings in sections:
        table.add_row(Text(""), Text(""))
        table.add_row(Text(title, style="bold underline"), Text(""))
        for b in bindings:
            if not isinstance(b, Binding) or not b.description:
                continue
            desc = b.description
            if b.action.startswith("do_") and read_only:
                desc += " (disabled: read-only)"
            table.add_row(
                Text(_key_label(b)), Text(desc + (f" — {b.tooltip}" if b.tooltip else ""))
            )
    return table


def filter_help() -> Text:
    """The Tasks filter's grammar (the language of ``ctl tasks --filter``)."""
    from console.core.filterlang import GRAMMAR_HELP

    text = Text()
    text.append("\nTasks filter (/), the language of ctl tasks --filter\n", style="bold underline")
    text.append(GRAMMAR_HELP)
    text.append(
        "\ne.g.  state:failure|retry -name:*.ping since:10m   worker:alpha runtime>5s"
        "\nresult: exc: queue: are not in the live list (ctl tasks --filter searches the backend);"
        " a bad term is shown in red in the bar"
    )
    return text


COLUMNS_HELP = (
    ("Workers", None),
    ("ACT", "tasks running now (heartbeat); '-' when the worker is offline"),
    (
        "DONE",
        "tasks the worker says it processed since it started (its heartbeat's 'processed')",
    ),
    (
        "OK/FAIL",
        "successes / failures this console saw in events (since it started, plus history): "
        "counts a different thing from DONE, so they need not add up",
    ),
    ("RATE/s", "tasks/s seen in events lately; '-' when the worker is offline"),
    ("Tasks", None),
    ("revoke sent", "this console sent a revoke; the worker has not confirmed it yet"),
    ("lost?", "unfinished on a worker that went offline: it may never report again"),
    ("RUNTIME 12.0s+", "a running task: time since it started (still counting)"),
)


def columns_help() -> Text:
    """What the columns count (so DONE and OK/FAIL never look contradictory)."""
    text = Text()
    text.append("\nColumns\n", style="bold underline")
    for name, meaning in COLUMNS_HELP:
        if meaning is None:
            text.append(f"{name}\n", style="bold")
        else:
            text.append(f"  {name:<15}", style="bold")
            text.append(f"{meaning}\n")
    return text


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close help", id="help.close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 90; max-width: 100%; height: 90%; border: thick $accent;
                            background: $surface; }
    HelpScreen #help-title { text-style: bold; padding: 0 1; background: $boost; }
    HelpScreen VerticalScroll { padding: 0 1; }
    """

    def __init__(self, sections: list[tuple[str, list[Any]]], read_only: bool = False) -> None:
        super().__init__()
        self.sections = sections
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text("Keys  (esc closes · ctrl+p: command palette with every screen and action)"),
                id="help-title",
            )
            with VerticalScroll():
                yield Static(bindings_table(self.sections, self.read_only))
                yield Static(filter_help(), id="help-filter")
                yield Static(columns_help(), id="help-columns")

    async def action_dismiss(self, result: Any = None) -> None:
        self.dismiss(None)
