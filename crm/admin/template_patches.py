"""Small, named changes to Flask-Admin's stock templates, made as they load.

Copying whole templates to change a line would freeze them at one Flask-Admin
release; these rewrites keep the stock templates and patch only what must
change:

- Content-Security-Policy: the Bootstrap 4 templates use ``javascript:void(0)``
  links and inline ``onclick`` handlers, which a nonce-based policy blocks.
  No-op links become ``href="#" data-crm-noop``; the two handlers that do work
  (bulk actions, delete confirmation) become data attributes that
  static/js/admin-csp.js acts on. tests/security/test_csp_templates.py fails if a stock
  template grows a new inline script.
- Speed: ``admin_static.url(...)`` (a ``url_for`` per script tag, about twenty a
  page) becomes a cached lookup (crm/admin/urls.py).
- Counts: the list tab says "about 1,000,000" when the count is an estimate
  (crm/admin/counting.py) and the exact number otherwise.

tests/admin/test_template_patches.py fails when a rewrite no longer finds its text in
the installed Flask-Admin's templates.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from jinja2 import BaseLoader, Environment

REWRITES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r'\s*onclick="return false;"'), ""),
    (re.compile(r'href="javascript:void\(0\)"'), 'href="#" data-crm-noop'),
    (
        re.compile(r"""onclick="return modelActions\.execute\('(\{\{ p\[0\] \}\})'\);\""""),
        r'data-crm-action="\1"',
    ),
    (
        re.compile(r"""onclick="return faHelpers\.safeConfirm\('(.*?)'\);\""""),
        r'data-crm-confirm="\1"',
    ),
    (re.compile(r"\badmin_static\.url\("), "crm_admin_static_url(admin_view, "),
    # list.html: honest counts (estimated or capped) in the "List (n)" tab.
    (
        re.compile(re.escape("{% if count %} ({{ count }}){% endif %}")),
        "{% if count %} ({{ admin_view.count_label(count) }}){% endif %}",
    ),
]


# Rewrites for one template each: a "History" tab beside Details / Edit, linking to
# the record's timeline in the audit browser (empty for those who may not read it).
HISTORY_TAB = (
    "{% set history = admin_view.history_url(request.args.get('id')) %}"
    '{% if history %}<li class="nav-item"><a class="nav-link" href="{{ history }}">'
    "History</a></li>{% endif %}\n  </ul>"
)
TEMPLATE_REWRITES: dict[str, list[tuple[re.Pattern[str], str]]] = {
    name: [(re.compile(r"</ul>"), HISTORY_TAB)]
    for name in ("admin/model/details.html", "admin/model/edit.html")
}


def rewrite(source: str, template: str = "") -> str:
    """The template source with its inline JavaScript turned into data attributes."""
    for pattern, replacement in REWRITES:
        source = pattern.sub(replacement, source)
    for pattern, replacement in TEMPLATE_REWRITES.get(template, ()):
        source = pattern.sub(replacement, source, count=1)
    return source


class PatchedTemplateLoader(BaseLoader):
    """Wraps the app's loader; patches ``admin/`` templates (Flask-Admin's)."""

    def __init__(self, inner: BaseLoader) -> None:
        self.inner = inner

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = self.inner.get_source(environment, template)
        if template.startswith("admin/"):
            source = rewrite(source, template)
        return source, filename, uptodate

    def list_templates(self) -> list[str]:
        return self.inner.list_templates()
