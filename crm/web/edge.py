"""The request's edge: input no view should trust is dealt with before any view runs.

- PostgreSQL's text cannot hold a NUL character (a zero byte): a search, filter
  or lookup carrying one failed deep inside a query (HTTP 500). In an address it
  is left out, and the page answering it says so; in a form it is a message
  beside the field (crm/web/forms.py), and nothing is saved.
- Flask-Admin's return address (``url=``, in the address or a form) is followed
  after a save and shown as a Cancel link. Flask-Admin accepts an absolute URL
  whose host matches the request's ``Host`` header, which the client chooses;
  here only a path on this site is kept (:func:`local_path`), and a Host outside
  ``TRUSTED_HOSTS`` is refused.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, g, request
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import SecurityError

from crm.api.errors import json_error

NUL = "\x00"
RETURN = "url"  # Flask-Admin's return-address parameter
NUL_LEFT_OUT = "A NUL character (a zero byte) in the address was left out: no field can hold one."


def clean_query_string() -> None:
    """Take NUL characters out of the query string's names and values."""
    pairs = list(request.args.items(multi=True))
    if not any(NUL in key or NUL in value for key, value in pairs):
        return
    # Werkzeug caches ``args`` per request; every view after this reads the clean copy.
    request.args = ImmutableMultiDict(
        [(key.replace(NUL, ""), value.replace(NUL, "")) for key, value in pairs]
    )
    # Said on this request's own page only (crm_base.html), never kept for the next
    # one, as a flash would be after an export or a lookup's JSON.
    g.setdefault("request_notes", []).append(NUL_LEFT_OUT)


def local_path(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None.

    Refuses scheme-relative (``//evil.com``), backslash, absolute and
    ``javascript:`` targets, and anything with control characters.
    """
    if not target or any(ord(ch) < 32 or ch == "\\" for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def path_of(address: str | None) -> str | None:
    """The path and query of a full address (a ``Referer``), if that is a local path.

    The host is dropped, whatever it says: the redirect stays on this site.
    """
    if not address:
        return None
    parts = urlsplit(address)
    return local_path(parts.path + (f"?{parts.query}" if parts.query else ""))


def keep_local_return_addresses() -> None:
    """Drop a return address (``url``) that is not a path on this site."""
    for source in ("args", "form"):
        values = getattr(request, source)
        if RETURN in values and any(local_path(v) is None for v in values.getlist(RETURN)):
            kept = [(key, value) for key, value in values.items(multi=True) if key != RETURN]
            setattr(request, source, ImmutableMultiDict(kept))


def refuse_untrusted_host() -> Response | None:
    """A Host outside ``TRUSTED_HOSTS``: a plain 400, before anything builds a URL for it.

    Flask marks such a request and builds no URLs for it; the sign-in redirect and
    the error pages would then fail (a 500) instead of answering.
    """
    if isinstance(request.routing_exception, SecurityError):
        message = "This site is not served under that host name."
        if request.path.startswith("/api/"):
            return json_error(400, message)
        return Response(message, 400, mimetype="text/plain")
    return None


def init_app(app: Flask) -> None:
    """Refuse unknown hosts, then clean every request's query string and return address."""
    app.before_request(refuse_untrusted_host)
    app.before_request(clean_query_string)
    app.before_request(keep_local_return_addresses)
