"""URL building that costs a dictionary lookup, not a route match.

A list page asks for about forty URLs (sort headers, pagination, row buttons,
static files); through ``url_for`` they cost a few milliseconds a page. Flask-Admin's
view routes take no path arguments, so a view URL is its route's path plus a
query string: the path is worked out once per endpoint and cached, the query
string is encoded the way Werkzeug would. Static URLs are cached whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

from flask import current_app, request, url_for
from werkzeug.datastructures import iter_multi_items
from werkzeug.routing import BuildError

# app.extensions key: list endpoint -> its view (crm/admin/__init__.py fills it).
LISTS = "crm.lists"

# Werkzeug's URL building leaves these characters unquoted in query strings.
_SAFE = "!$'()*,/:;?@"
_paths: dict[tuple[str | None, str, str], str | None] = {}
_static: dict[tuple[str, str, tuple[tuple[str, Any], ...]], str] = {}


def _route_path(endpoint: str) -> str | None:
    """The endpoint's path when it needs no arguments, else None (use url_for)."""
    blueprint = request.blueprint if endpoint.startswith(".") else None
    key = (blueprint, endpoint, request.script_root)
    if key not in _paths:
        try:
            _paths[key] = url_for(endpoint)
        except BuildError:
            _paths[key] = None
    return _paths[key]


def view_url(endpoint: str, **kwargs: Any) -> str:
    """``url_for(endpoint, **kwargs)`` for argument-less routes, without matching routes."""
    path = _route_path(endpoint)
    if path is None or any(name.startswith("_") for name in kwargs):
        return url_for(endpoint, **kwargs)
    items = [(k, str(v)) for k, v in iter_multi_items(kwargs) if v is not None]
    return f"{path}?{urlencode(items, safe=_SAFE)}" if items else path


class FilteredList(Protocol):
    """A list view that names its filters' URL arguments by key (crm/admin/fast_list.py)."""

    def filter_arg(self, key: str) -> str: ...


def list_url(endpoint: str, filters: Mapping[str, object] | None = None, **kwargs: Any) -> str:
    """A list page's address with ``filters`` given by key, e.g. ``{"stage_id": 3}``.

    Keys are column names (or a filter's own key, like ``text``), not the labels a
    person reads: relabelling a filter changes its URL argument, never this call.
    """
    view: FilteredList = current_app.extensions[LISTS][endpoint]
    args = {
        f"flt{n}_{view.filter_arg(key)}": value
        for n, (key, value) in enumerate((filters or {}).items())
    }
    return view_url(f"{endpoint}.index_view", **args, **kwargs)


def static_url(endpoint: str, **kwargs: Any) -> str:
    """A static file's URL (with its ``v=`` version), built once per file."""
    key = (request.script_root, endpoint, tuple(sorted(kwargs.items())))
    if key not in _static:
        _static[key] = url_for(endpoint, **kwargs)
    return _static[key]


def admin_static_url(view: Any, **kwargs: Any) -> str:
    """Flask-Admin's ``admin_static.url(...)`` macro, cached (see template_patches)."""
    return static_url(f"{view.admin.endpoint}.static", **kwargs)


class FastUrls:
    """Mixin for Flask-Admin views: ``get_url`` through :func:`view_url`."""

    def get_url(self, endpoint: str, **kwargs: Any) -> str:
        return view_url(endpoint, **kwargs)
