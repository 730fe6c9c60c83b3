"""Flask-Admin patches that would stop matching silently if Flask-Admin changed.

The template rewrites (crm/admin/template_patches.py) and the forked list methods
(crm/admin/fast_list.py) were written against Flask-Admin 2.2: each must still find
what it replaces in the installed release, or this fails and says which.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import flask_admin
import pytest
from flask_admin.contrib.sqla import ModelView

from crm.admin.fast_list import FastList
from crm.admin.template_patches import REWRITES, TEMPLATE_REWRITES

STOCK = Path(flask_admin.__file__).parent / "templates" / "bootstrap4"


def stock_templates() -> dict[str, str]:
    """Flask-Admin's Bootstrap 4 templates, by the name the app loads them under."""
    return {path.relative_to(STOCK).as_posix(): path.read_text() for path in STOCK.rglob("*.html")}


@pytest.mark.parametrize("pattern", [p for p, _r in REWRITES], ids=lambda p: p.pattern[:40])
def test_every_rewrite_still_finds_its_text_in_a_stock_template(pattern):
    found = [name for name, source in stock_templates().items() if pattern.search(source)]
    assert found, f"{pattern.pattern!r} matches no Flask-Admin template any more"


@pytest.mark.parametrize("name", sorted(TEMPLATE_REWRITES))
def test_every_one_template_rewrite_still_finds_its_text(name):
    source = stock_templates()[name]
    for pattern, _replacement in TEMPLATE_REWRITES[name]:
        assert pattern.search(source), f"{pattern.pattern!r} is no longer in {name}"


def test_the_count_rewrite_is_the_one_in_the_list_template():
    """The list tab's honest count: the stock list template must still print ``count``."""
    list_html = stock_templates()["admin/model/list.html"]
    assert "{% if count %} ({{ count }}){% endif %}" in list_html


# The stock methods the fast list overrides or calls, with the parameters it relies on.
FORKED = {
    "get_list": ["page", "sort_column", "sort_desc", "search", "filters", "execute", "page_size"],
    "_apply_search": ["query", "count_query", "joins", "count_joins", "search"],
    "_apply_filters": ["query", "count_query", "joins", "count_joins", "filters"],
    "_apply_sorting": ["query", "joins", "sort_column", "sort_desc"],
    "_apply_pagination": ["query", "page", "page_size"],
    "_get_default_order": [],
    "_get_filter_groups": [],
    "get_filter_arg": ["index", "flt"],
}


@pytest.mark.parametrize("name", sorted(FORKED))
def test_the_forked_list_methods_still_match_flask_admins(name):
    stock = getattr(ModelView, name, None)
    assert stock is not None, f"Flask-Admin's ModelView has no {name} any more"
    parameters = [p for p in inspect.signature(stock).parameters if p != "self"]
    assert parameters == FORKED[name], f"ModelView.{name} now takes {parameters}"
    if name in vars(FastList):  # our override takes exactly what the stock one does
        ours = [p for p in inspect.signature(getattr(FastList, name)).parameters if p != "self"]
        assert ours == parameters
