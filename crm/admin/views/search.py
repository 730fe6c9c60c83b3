"""/admin/search/?q=: global search, from the box in every page's navbar."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_admin import BaseView, expose
from flask_login import current_user

from crm.admin.urls import list_url
from crm.extensions import db
from crm.search.query import MAX_LENGTH, parse
from crm.search.service import KINDS, Group, has_words, search
from crm.security import policy
from crm.security.policy import Action, Resource


class SearchView(BaseView):
    """Grouped, ranked, highlighted results across customers, leads, tasks, interactions."""

    def is_visible(self) -> bool:
        return False  # the navbar's search box leads here, not the menu

    def is_accessible(self) -> bool:
        return policy.allowed(current_user, Resource.SEARCH, Action.READ)

    @expose("/")
    def index(self) -> Any:
        raw = request.args.get("q", "")
        query = parse(raw)
        groups: list[Group] = []
        problem = None
        if not query.text:
            problem = "Type something to search for."
        elif query.empty:
            problem = "There is nothing to search for in that; try a word or a name."
        elif not has_words(db.session, query):
            problem = (
                "That search has nothing the index can look for: only very common words "
                "(like “the” or “and”) or markup. Add a more specific word."
            )
        else:
            groups = search(db.session, current_user, query)
        return self.render(
            "admin/search.html",
            q=raw[: MAX_LENGTH * 2],
            query=query,
            groups=groups,
            problem=problem,
            kinds=KINDS,
            # Each list's full-text filter (crm/admin/filters.py's FullTextFilter).
            see_all=lambda group: list_url(group.kind.key, {"text": query.text}),
        )

    def __init__(self) -> None:
        super().__init__(name="Search", endpoint="search", url="search")
