"""Extension objects, created once and bound to an app with ``init_app``."""

from __future__ import annotations

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base for every model (typed SQLAlchemy 2 mappings)."""


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
