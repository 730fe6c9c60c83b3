"""Extension objects, created once and bound to an app with ``init_app``."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import flask_sqlalchemy.session
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session

if TYPE_CHECKING:
    import flask_sqlalchemy.model


class Base(DeclarativeBase):
    """Declarative base for every model (typed SQLAlchemy 2 mappings)."""


db = SQLAlchemy(model_class=Base)
migrate = Migrate()

# The models' base class. ``db.Model`` is made at run time (Base plus Flask-SQLAlchemy's
# mixins) and typed as an attribute, which a type checker cannot take as a base class
# (python/mypy#8603); it sees the same two bases spelled out instead.
if TYPE_CHECKING:

    class Model(Base, flask_sqlalchemy.model.Model):
        """``db.Model`` as the type checker sees it."""

        __abstract__ = True

else:
    Model = db.Model

# What functions that query take: a Session, or ``db.session`` itself (the request's
# session behind a scoped_session proxy).
DbSession: TypeAlias = Session | scoped_session[flask_sqlalchemy.session.Session]
