"""Compute a DataTable's auto column widths now instead of on its next Idle.

Textual's DataTable measures added rows / ``update_cell(update_width=True)``
cells lazily in ``_on_idle``.  A frame painted (or a screenshot taken) between
the change and that Idle shows the new cells squeezed into the old widths
(``alpha@`` for ``alpha@demo``); on a loaded machine that window is real, and
the snapshot tests hit it.  The console changes a table at a bounded rate, so
doing the same work synchronously is cheap -- as long as it stays linear:
``update_cell(update_width=True)`` re-measures the *whole column* whenever a
cell got narrower, which is quadratic for 500 workers whose figures change
every heartbeat.  :func:`update_cell_growing` updates a cell and only ever
widens its column (columns settle at their widest value while shown).
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len


def update_cell_growing(table: Any, row_key: str, column_key: str, value: Any) -> None:
    """``table.update_cell`` whose column only grows to fit ``value`` (no column re-scan)."""
    table.update_cell(row_key, column_key, value)
    columns = getattr(table, "columns", None)
    column = columns.get(column_key) if isinstance(columns, dict) else None
    if column is None:  # another DataTable implementation: let it measure
        table.update_cell(row_key, column_key, value, update_width=True)
        return
    width = value.cell_len if hasattr(value, "cell_len") else cell_len(str(value))
    if width > column.content_width:
        column.content_width = width
        table._require_update_dimensions = True


def settle_widths(table: Any) -> None:
    """Do now what ``DataTable._on_idle`` would do later (a no-op when nothing is pending)."""
    updated = getattr(table, "_updated_cells", None)
    update_widths = getattr(table, "_update_column_widths", None)
    update_dimensions = getattr(table, "_update_dimensions", None)
    if updated is None or update_widths is None or update_dimensions is None:
        return  # another DataTable implementation: its own Idle handles it
    if updated:
        cells = set(updated)
        updated.clear()
        update_widths(cells)
    if getattr(table, "_require_update_dimensions", False):
        table._require_update_dimensions = False
        new_rows = list(table._new_rows)
        table._new_rows.clear()
        update_dimensions(new_rows)
