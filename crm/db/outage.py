"""PostgreSQL going away: a plain 503 on every page, one log line, and back by itself.

While the database cannot be reached, every page answers 503 with ``Retry-After``
(a page that does not touch the database to render), ``/healthz`` answers 503
with the reason, and the log gets one line when the worker first notices and one
when the database answers again; no traceback per request. Nothing needs a
restart: the pool's pre-ping drops dead connections, and the first request after
the database is back opens a fresh one.

While it is down, each worker lets one request at most every PROBE_SECONDS try
the database and answers the others at once, so a server that does not answer
(a network partition: every attempt waits DATABASE_CONNECT_TIMEOUT) cannot tie up
every worker. A refused connection costs nothing, so the interval is short and
the way back is well under two seconds.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from flask import Flask, Response, current_app, jsonify, request
from flask.typing import TeardownCallable
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from crm.api.errors import is_api_request
from crm.extensions import db

logger = logging.getLogger("crm.database")
RETRY_AFTER_SECONDS = 5
PROBE_SECONDS = 0.5
# Endpoints that never touch the database: served as usual during an outage.
NO_DATABASE = frozenset({"static", "plotly_js", "admin.static"})

# SQLSTATEs of a server that is there but will not serve (class 57P, 53300).
_STATES = {
    "57P01": "the server is shutting down",
    "57P02": "the server is shutting down",
    "57P03": "the server is starting up",
    "53300": "too many connections",
}
# libpq's wording for a server it cannot reach, and what to call it.
_MESSAGES = (
    ("connection refused", "connection refused"),
    ("timeout expired", "connection timed out"),
    ("could not translate host name", "unknown host"),
    ("no such file or directory", "no server at the socket"),
    ("server closed the connection", "connection lost"),
    ("terminating connection", "the server is shutting down"),
    ("the database system is", "the server is starting up or shutting down"),
    ("connection is closed", "connection lost"),
    ("consuming input failed", "connection lost"),
    ("password authentication failed", "authentication failed"),
)


class _State:
    """The worker's view of the database: up, or down since when."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down_since: float | None = None
        self.reason = ""
        self.last_try = 0.0
        self.answered_503 = 0


def _state() -> _State:
    state: _State = current_app.extensions["crm.outage"]
    return state


def reason(exc: BaseException) -> str | None:
    """Why the database cannot be used, in a few words; None if ``exc`` is not an outage.

    An outage is a failure to connect, a connection lost, or a server that is
    shutting down or starting up; a statement the server cancelled is not.
    """
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "sqlstate", None)
    if code in _STATES:
        return _STATES[code]
    message = str(orig).lower()
    for needle, said in _MESSAGES:
        if needle in message:
            return said
    if isinstance(exc, DBAPIError) and (exc.connection_invalidated or exc.statement is None):
        return "unreachable"  # lost, or failed while connecting (no statement yet)
    return None


def mark_down(state: _State, why: str) -> None:
    """Note the outage; the first time, say so in the log (one line, no traceback)."""
    with state.lock:
        state.last_try = time.monotonic()
        state.answered_503 += 1
        if state.down_since is not None:
            return
        state.down_since, state.reason = state.last_try, why
    logger.error("database unavailable (%s): pages answer 503 until it is back", why)


def mark_up(state: _State) -> None:
    """A connection answered: if the database had gone away, say it is back."""
    with state.lock:
        if state.down_since is None:
            return
        took = time.monotonic() - state.down_since
        refused, state.down_since, state.answered_503 = state.answered_503, None, 0
    logger.warning(
        "database available again after %.1f s (%d requests answered 503 meanwhile)",
        took,
        refused,
    )


def unavailable_response(why: str) -> Response:
    """The 503 a person (HTML) or a script (JSON) gets; never touches the database."""
    wants_json = request.accept_mimetypes.best == "application/json" or is_api_request()
    if wants_json or request.path == "/healthz":
        response = jsonify(status="unavailable", database="unreachable", reason=why)
    else:
        # Rendered without Flask's context processors: Flask-Login's would load the
        # signed-in user, from the database that is not there.
        page = current_app.jinja_env.get_template("errors/503.html")
        response = Response(page.render(reason=why, request=request), mimetype="text/html")
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def _fail_fast() -> Response | None:
    """While down, answer at once unless it is this worker's turn to try the database."""
    state = _state()
    if state.down_since is None or request.endpoint in NO_DATABASE:
        return None
    with state.lock:
        if time.monotonic() - state.last_try >= PROBE_SECONDS:
            state.last_try = time.monotonic()  # this request is the probe
            return None
        state.answered_503 += 1
        why = state.reason
    return unavailable_response(why)


def _database_error(exc: DBAPIError) -> Response:
    """PostgreSQL unreachable, or unable to answer (a statement cancelled): a 503."""
    why = reason(exc)
    if why is None:  # the server is there but gave up on the statement (timeout, lock)
        with contextlib.suppress(SQLAlchemyError):
            db.session.rollback()
        logger.warning("database could not answer (%s): 503", type(exc.orig).__name__)
        return unavailable_response("the database could not answer in time")
    db.session().invalidate()  # a rollback would need the connection that is gone
    mark_down(_state(), why)
    return unavailable_response(why)


def _safe_teardown(teardown: TeardownCallable) -> Callable[[BaseException | None], None]:
    """Flask-SQLAlchemy's end-of-request session cleanup, made safe for a lost connection.

    The cleanup rolls back on the request's connection. If the server dropped it
    after the page was built (a restart), that rollback raises, and the page the
    user was about to get became a 500 with a traceback in the log.
    """

    def teardown_session(exc: BaseException | None) -> None:
        try:
            teardown(exc)
        except DBAPIError as error:
            db.session().invalidate()
            db.session.remove()
            why = reason(error)
            if why is not None:
                mark_down(_state(), why)
            else:
                raise

    return teardown_session


def init_app(app: Flask) -> None:
    """Answer outages with 503s, fail fast while down, notice the way back."""
    state = app.extensions["crm.outage"] = _State()
    app.before_request(_fail_fast)  # before sign-in checks, which read the database
    app.register_error_handler(OperationalError, _database_error)
    app.register_error_handler(InterfaceError, _database_error)
    with app.app_context():
        # A connection handed out after its pre-ping: the database answers again
        # (a new connection, or a pooled one that outlived the outage).
        event.listen(db.engine, "checkout", lambda *_args: mark_up(state))
    app.teardown_appcontext_funcs[:] = [
        _safe_teardown(f) if getattr(f, "__name__", "") == "_teardown_session" else f
        for f in app.teardown_appcontext_funcs
    ]
