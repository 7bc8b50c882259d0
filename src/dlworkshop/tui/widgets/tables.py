"""Small helpers for DataTables."""

from __future__ import annotations

from textual.widgets import DataTable


def cursor_key(table: DataTable) -> str | None:
    """The row key under the table's cursor (the first row if none), or None if empty."""
    if not table.row_count:
        return None
    from textual.coordinate import Coordinate

    row = table.cursor_row if table.cursor_row is not None else 0
    key = table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value
    return str(key) if key else None
