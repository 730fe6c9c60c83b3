"""The request's edge: input that no field can hold is dealt with before any view runs.

PostgreSQL's text cannot hold a NUL character (a zero byte): a search, filter or
lookup carrying one failed deep inside a query (HTTP 500). In an address it is
left out, and the page answering it says so; in a form it is a message beside the field
(crm/forms.py), and nothing is saved.
"""

from __future__ import annotations

from flask import Flask, g, request
from werkzeug.datastructures import ImmutableMultiDict

NUL = "\x00"
NUL_LEFT_OUT = "A NUL character (a zero byte) in the address was left out: no field can hold one."


def clean_query_string() -> None:
    """Take NUL characters out of the query string's names and values."""
    pairs = list(request.args.items(multi=True))
    if not any(NUL in key or NUL in value for key, value in pairs):
        return
    # Werkzeug caches ``args`` per request; every view after this reads the clean copy.
    request.args = ImmutableMultiDict(  # type: ignore[misc]
        [(key.replace(NUL, ""), value.replace(NUL, "")) for key, value in pairs]
    )
    # Said on this request's own page only (crm_base.html), never kept for the next
    # one, as a flash would be after an export or a lookup's JSON.
    g.setdefault("request_notes", []).append(NUL_LEFT_OUT)


def init_app(app: Flask) -> None:
    """Clean every request's query string first."""
    app.before_request(clean_query_string)
