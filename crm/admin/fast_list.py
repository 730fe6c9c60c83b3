"""Lists that stay fast at millions of rows, for every role: counts, plans, rows."""

from __future__ import annotations

from math import isqrt
from typing import Any
from urllib.parse import urlencode

from flask import g
from flask_admin.contrib.sqla import ModelView
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import func, select, union
from sqlalchemy.orm import joinedload
from sqlalchemy.sql.operators import desc_op, in_op
from sqlalchemy.sql.selectable import ScalarSelect

from crm.admin import counting, rows
from crm.admin.filters import key_of
from crm.admin.urls import view_url
from crm.audit.revert import AUDITED
from crm.extensions import db
from crm.security import policy
from crm.security.policy import Resource

# From this many skipped rows on, a list page is fetched as a deferred join (its ids first).
DEEP_OFFSET = 100
# The last page a list serves; a page past its rows is simply empty.
MAX_PAGE = 1_000_000


class FastList(ModelView):
    """Flask-Admin's list, with counts, query plans and rows that stay fast on big tables."""

    _fixed_filter_groups: dict[str, Any] | None = None
    _args_by_key: dict[str, str]  # filter key -> URL argument, with Flask-Admin's own cache

    def _refresh_filters_cache(self) -> None:
        super()._refresh_filters_cache()
        self._args_by_key = {}
        for index, flt in enumerate(self._filters or ()):
            key = key_of(flt)
            if key is not None:  # the first filter of a key names it
                self._args_by_key.setdefault(key, str(self.get_filter_arg(index, flt)))

    def filter_arg(self, key: str) -> str:
        """The URL argument (``stage_id_equals``…) of this list's filter named ``key``.

        A filter's key is its own ``key`` or its column's name ("currency", "owner_id"),
        never its label: links built by key (crm/admin/urls.py's list_url) keep working
        when a label changes. An unknown key is a programming error: KeyError.
        """
        try:
            return self._args_by_key[key]
        except KeyError:
            raise KeyError(f"the {self.endpoint} list has no filter {key!r}") from None

    def get_list(
        self,
        page: int | None,
        sort_column: Any,
        sort_desc: bool,
        search: str | None,
        filters: Any,
        execute: bool = True,
        page_size: int | None = None,
    ) -> tuple[int | None, Any]:
        """Flask-Admin's get_list, with a count and a plan that stay fast on big tables.

        The count is an estimate for a whole table and capped otherwise
        (crm/admin/counting.py). Up to its cap the count brings the matching ids,
        and the page is those rows, sorted. Beyond it the page is read in the
        list's order off an index; when the row rule is an OR (a rep's tasks:
        theirs or assigned to them), each part on its own index, then merged.
        """
        page = min(max(page or 0, 0), MAX_PAGE)  # ?page=-1 or a 30-digit page: the nearest
        base, joins = self.matching(search, filters)
        branches = policy.row_branches(current_user, self.model)
        query = base.filter(policy.row_filter(current_user, self.model))
        parts = [base.filter(branch) for branch in branches] if len(branches) > 1 else [query]
        whole_table = not search and not filters and policy.sees_all_rows(current_user)
        found = counting.count(db.session, self.model, parts, whole_table, fenced=bool(search))
        size = page_size or self.page_size
        if found.ids is not None:  # few rows: sort just those
            query = self._page_among(found.ids, page, size, sort_column, sort_desc)
        elif len(branches) > 1:
            query = self._page_of_parts(base, branches, joins, page, size, sort_column, sort_desc)
        else:
            query = self._sorted(query, joins, sort_column, sort_desc)
            query = self._apply_pagination(query, page, size)
        # Related rows shown by name (owner, customer, stage) come in the page's own
        # statement: many-to-one LEFT JOINs on primary keys, which keep the plan an
        # index scan with LIMIT.
        for relation in self._auto_joins:
            query = query.options(joinedload(relation))
        if not execute:
            g.list_count = found
            return found.value, query
        rows = query.all()
        if found.kind is counting.Kind.ESTIMATE and len(rows) < size and (rows or not page):
            # The last page: now the number is known (an estimate can be far off).
            found = counting.Count(page * size + len(rows))
        g.list_count = found
        return found.value, rows

    def matching(self, search: str | None, filters: Any) -> tuple[Any, dict[Any, Any]]:
        """The list's rows as searched and filtered, before any row rule; and their joins."""
        query = super().get_query()
        joins: dict[Any, Any] = {}
        if self._search_supported and search:
            query, _none, joins, _ = self._apply_search(query, None, joins, {}, search)
        if filters and self._filters:
            query, _none, joins, _ = self._apply_filters(query, None, joins, {}, filters)
        return query, joins

    def _sorted(self, query: Any, joins: dict[Any, Any], sort_column: Any, desc: bool) -> Any:
        """The list's order, then the id: one order for every page, ties included.

        The big lists' indexes end with the id (migrations 0009, 0016), so the
        tie-break costs nothing.
        """
        query, _joins = self._apply_sorting(query, dict(joins), sort_column, desc)
        if sort_column is None:  # the default sort's own direction
            desc = next((d for _f, _j, d in self._get_default_order()), False)
        return query.order_by(self.model.id.desc() if desc else self.model.id)

    def _page_of_parts(
        self,
        base: Any,
        branches: list[Any],
        joins: dict[Any, Any],
        page: int | None,
        size: int,
        sort_column: Any,
        sort_desc: bool,
    ) -> Any:
        """A page of rows matching any of ``branches``: each part's first rows, merged.

        One OR over several columns leaves PostgreSQL a single choice: walk the
        list's order index and test every row (3 million for a rep who owns one
        customer). Each part alone is an index range in the list's order; the
        page's rows are among the first offset + size of each part, so those few
        ids and their sort keys, unioned and sorted, give the page's ids without
        reading any other row.
        """
        window = (page or 0) * size + size
        firsts, keys = [], []
        for branch in branches:
            ordered = self._sorted(
                base.filter(probed(db.session, branch, window)), joins, sort_column, sort_desc
            )
            keys = list(ordered._order_by_clauses)
            columns = [getattr(key, "element", key).label(f"k{n}") for n, key in enumerate(keys)]
            firsts.append(ordered.with_entities(self.model.id, *columns).limit(window).subquery())
        merged = union(*(select(first) for first in firsts)).subquery()
        order = [
            merged.c[f"k{n}"].desc()
            if getattr(key, "modifier", None) is desc_op
            else merged.c[f"k{n}"]
            for n, key in enumerate(keys)
        ]
        picked = (
            select(merged.c.id).order_by(*order).offset((page or 0) * size).limit(size).subquery()
        )
        query = (
            super()
            .get_query()
            .filter(
                self.model.id.in_(select(picked.c.id)), policy.row_filter(current_user, self.model)
            )
        )
        return self._sorted(query, {}, sort_column, sort_desc)

    def _page_among(
        self, candidates: Any, page: int | None, size: int, sort_column: Any, sort_desc: bool
    ) -> Any:
        """The page of rows among ``candidates`` (ids): the page's ids first, then its rows.

        Sorting the candidates' ids alone and joining the related rows (owner,
        customer, stage) to the page's 20 only; joined first, a 1,000-candidate
        page paid 3,000 lookups for rows it then dropped.
        """
        plain = super().get_query()
        picked = (
            self._sorted(plain.filter(self.model.id.in_(candidates)), {}, sort_column, sort_desc)
            .with_entities(self.model.id)
            .offset((page or 0) * size)
            .limit(size)
            .subquery()
        )
        # The rule again on the page's own rows: a row reassigned between the two
        # statements is not shown to the rep who no longer owns it.
        query = plain.filter(
            self.model.id.in_(select(picked.c.id)), policy.row_filter(current_user, self.model)
        )
        return self._sorted(query, {}, sort_column, sort_desc)

    def _apply_pagination(self, query: Any, page: int | None, page_size: int | None) -> Any:
        """LIMIT/OFFSET; deep pages as a deferred join: the page's ids first, then its rows.

        Skipping rows through the ids alone is an index-only scan on the order
        column's covering index (migration 0009), instead of reading every skipped
        row and its related rows.
        """
        size = page_size or self.page_size
        offset = (page or 0) * size
        if offset < DEEP_OFFSET:
            return super()._apply_pagination(query, page, size)
        ids = query.with_entities(self.model.id).offset(offset).limit(size).subquery()
        return query.filter(self.model.id.in_(select(ids.c.id))).limit(size)

    def _get_filter_groups(self) -> Any:
        """Filter choices worked out per request (people, stages), not once at start-up.

        The rest of the filter bar (names, operations, fixed choices) never changes:
        Flask-Admin's version of it is built once per view and reused.
        """
        if self._fixed_filter_groups is None:
            self._fixed_filter_groups = super()._get_filter_groups() or {}
        return {
            key: [
                {**item, "options": flt.get_options(self)} if callable(flt.options) else item
                for item in items
                for flt in (self._filters[item["index"]],)
            ]
            for key, items in self._fixed_filter_groups.items()
        } or None

    def count_label(self, value: int) -> str:
        """The list tab's count: exact, or "about" when it is an estimate."""
        found = g.get("list_count")
        return found.label() if found is not None else f"{value:,}"

    def row_html(
        self, row: Any, columns: Any, urls: dict[str, str], back: str, actions: Any
    ) -> Any:
        """One list row's cells (crm/admin/rows.py)."""
        return rows.row_html(self, row, columns, urls, back, bool(actions))

    def history_url(self, record_id: Any) -> str:
        """The record's change history in the audit browser, for those who may read it."""
        table = self.model.__tablename__
        if table not in AUDITED or not policy.allowed(current_user, Resource.AUDIT):
            return ""
        return view_url("audit.history", table=table, id=record_id)

    def _row_urls(self, return_url: str) -> dict[str, str]:
        """The list's row buttons, worked out once per page: base URLs ending in ``id=``."""
        back = urlencode({"url": return_url})
        return {
            "details": f"{self.get_url('.details_view')}?{back}&id="
            if self.can_view_details
            else "",
            "edit": f"{self.get_url('.edit_view')}?{back}&id=" if self.can_edit else "",
            "delete": self.get_url(".delete_view") if self.can_delete else "",
            "csrf": generate_csrf() if self.can_delete else "",
        }


def probed(session: Any, branch: Any, window: int) -> Any:
    """``branch``, written so a large ``col IN (subquery)`` set is probed by hash.

    "Interactions on customers I own" for a rep with 21,740 customers: read in
    date order, the first page is among the first few thousand interactions, but
    PostgreSQL joins each to its customer by primary key (46,000 lookups, 200 ms
    for page 50). Kept out of the join (``IS TRUE``), the subquery becomes one
    hashed set that the index-only walk probes (20 ms). A small set stays a join:
    its rows are read through their own index and sorted. The line between them
    is where walking window × table / set rows costs about what set-many index
    probes do.
    """
    right = getattr(branch, "right", None)
    if getattr(branch, "operator", None) is not in_op or not isinstance(right, ScalarSelect):
        return branch
    inner: Any = right.element  # the subquery's SELECT
    table = inner.get_final_froms()[0]
    total = counting.estimated_rows(session, table.name) or 0
    threshold = isqrt(window * total // 20) + 1
    size = session.scalar(select(func.count()).select_from(inner.limit(threshold).subquery()))
    return branch.is_(True) if (size or 0) >= threshold else branch
