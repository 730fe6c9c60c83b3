"""Entry point: ``flask run`` and ``flask db ...`` find ``app`` here."""

from crm import create_app
from crm.db.server import StartupError

try:
    app = create_app()
except StartupError as exc:
    # One line saying what to fix, instead of a traceback.
    raise SystemExit(f"error: {exc}") from None
