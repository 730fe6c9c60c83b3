"""A list page's rows, drawn in Python: one string per row.

Flask-Admin draws each row through Jinja macros, some sixty small writes a row,
each passed up through the template inheritance chain: about a third of a list
page's time. The HTML here is the same (checkbox, view/edit/delete buttons, one
cell per column, values through the view's formatters), escaped with markupsafe.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

DELETE_QUESTION = "Are you sure you want to delete this record?"
# (view class, value type) -> the view's type formatter for it, or None.
_formatters: dict[tuple[type, type], Any] = {}


def _type_formatter(view: Any, kind: type) -> Any:
    """The first of the view's type formatters that takes ``kind`` (Flask-Admin's rule)."""
    key = (type(view), kind)
    if key not in _formatters:
        _formatters[key] = next(
            (fmt for base, fmt in view.column_type_formatters.items() if issubclass(kind, base)),
            None,
        )
    return _formatters[key]


def cell_value(view: Any, row: Any, name: str) -> Any:
    """What a list cell shows: ``view.get_list_value``, with a short path for plain columns."""
    if name in view.column_formatters or name in view._column_choices_map or "." in name:
        return view.get_list_value(None, row, name)
    value = getattr(row, name)
    formatter = _type_formatter(view, type(value))
    return value if formatter is None else formatter(view, value, name)


def buttons(urls: dict[str, str], pk: Any, return_url: str) -> str:
    """The row's view / edit / delete buttons (the rights are in ``urls``)."""
    html = []
    if urls["details"]:
        html.append(
            f'<a class="icon" href="{escape(urls["details"])}{pk}" title="View Record">'
            '<span class="fa fa-eye glyphicon glyphicon-eye-open"></span></a>'
        )
    if urls["edit"]:
        html.append(
            f'<a class="icon" href="{escape(urls["edit"])}{pk}" title="Edit Record">'
            '<span class="fa fa-pencil glyphicon glyphicon-pencil"></span></a>'
        )
    if urls["delete"]:
        html.append(
            f'<form class="icon" method="POST" action="{escape(urls["delete"])}">'
            f'<input type="hidden" name="id" value="{pk}">'
            f'<input type="hidden" name="url" value="{escape(return_url)}">'
            f'<input type="hidden" name="csrf_token" value="{escape(urls["csrf"])}">'
            f'<button data-crm-confirm="{DELETE_QUESTION}" title="Delete Record">'
            '<span class="fa fa-trash glyphicon glyphicon-trash"></span></button></form>'
        )
    return "".join(html)


def row_html(
    view: Any,
    row: Any,
    columns: list[tuple[str, str]],
    urls: dict[str, str],
    return_url: str,
    with_checkbox: bool,
) -> Markup:
    """Everything inside the row's ``<tr>``."""
    pk = escape(row.id)
    cells = []
    if with_checkbox:
        cells.append(
            f'<td><input type="checkbox" name="rowid" class="action-checkbox" value="{pk}" '
            'title="Select record"></td>'
        )
    if view.column_display_actions:
        cells.append(f'<td class="list-buttons-column">{buttons(urls, pk, return_url)}</td>')
    for name, _label in columns:
        value = escape(cell_value(view, row, name))
        cells.append(f'<td class="col-{escape(name)}">{value}</td>')
    return Markup("".join(cells))
