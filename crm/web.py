"""Plain pages outside the admin: the landing page and the health check."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify, render_template
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from crm.extensions import db

bp = Blueprint("web", __name__)


@bp.get("/")
def index() -> str:
    """Landing page: says the dashboard runs and which database it uses."""
    return render_template("index.html")


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Liveness and database check for load balancers: 200 or 503, JSON."""
    try:
        db.session.execute(text("SELECT 1"))
    except OperationalError:
        db.session.rollback()
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok"), 200


def database_unavailable(_exc: OperationalError) -> tuple[str, int]:
    """Any page whose query cannot reach PostgreSQL: a clear 503, not a 500."""
    db.session.rollback()
    return render_template("errors/503.html"), 503


def init_app(app: Flask) -> None:
    """Register the blueprint and the database-down error page."""
    app.register_blueprint(bp)
    app.register_error_handler(OperationalError, database_unavailable)
