"""One structured log line per request: method, path, status, duration, user id.

JSON on one line (logger ``crm.request``), so a log shipper can index it without
a parser. The path only, never the query string: searches and filters can hold
names and emails, which do not belong in logs.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from flask import Flask, Response, g, request
from sqlalchemy import inspect

logger = logging.getLogger("crm.request")


def _start() -> None:
    g.request_started = time.perf_counter()


def _log(response: Response) -> Response:
    started = g.pop("request_started", None)
    line = {
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
        "user_id": signed_in_id(),
        "ip": request.remote_addr,
    }
    logger.info(json.dumps(line, separators=(",", ":")))
    return response


def signed_in_id() -> int | None:
    """The id of the user this request loaded, read without touching the database.

    After a rollback (a failed save, a database outage) the user's attributes are
    expired; reading ``user.id`` would query for them again.
    """
    user = g.get("_login_user")  # only if this request loaded one: never load it here
    state = inspect(user, raiseerr=False) if user is not None else None
    return state.identity[0] if state is not None and state.identity else None


def init_app(app: Flask) -> None:
    """Log every request once it has its response (REQUEST_LOG turns it off)."""
    if not app.config["REQUEST_LOG"]:
        return
    if not logger.handlers:  # gunicorn and `flask run` both show stderr
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    app.before_request_funcs.setdefault(None, []).insert(0, _start)  # first: time it all
    app.after_request(_log)
