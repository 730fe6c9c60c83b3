"""Make Flask-Admin's stock templates work under a strict Content-Security-Policy.

Its Bootstrap 4 templates use ``href="javascript:void(0)"`` links and inline
``onclick`` handlers; a nonce-based policy blocks both. Rather than copying
those templates, this loader rewrites them as they load: no-op links become
``href="#" data-crm-noop`` and the two handlers that do work (bulk actions,
delete confirmation) become data attributes that static/js/admin-csp.js acts on.
tests/test_csp_templates.py fails if a stock template grows a new inline script.
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
]


def rewrite(source: str) -> str:
    """The template source with its inline JavaScript turned into data attributes."""
    for pattern, replacement in REWRITES:
        source = pattern.sub(replacement, source)
    return source


class CspSafeLoader(BaseLoader):
    """Wraps the app's loader; rewrites ``admin/`` templates (Flask-Admin's)."""

    def __init__(self, inner: BaseLoader) -> None:
        self.inner = inner

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = self.inner.get_source(environment, template)
        if template.startswith("admin/"):
            source = rewrite(source)
        return source, filename, uptodate

    def list_templates(self) -> list[str]:
        return self.inner.list_templates()
