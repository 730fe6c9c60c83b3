"""/admin/api-tokens/: everyone's personal API tokens, for admins to review and revoke."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, url_for
from flask_admin import BaseView, expose
from flask_login import current_user

from crm.api import tokens
from crm.extensions import db
from crm.models import User
from crm.security import policy
from crm.security.policy import Action, Resource
from crm.security.sessions import utcnow


class ApiTokensView(BaseView):
    """Every token (live ones first) with its owner, last use and a Revoke button."""

    def is_accessible(self) -> bool:
        return policy.allowed(current_user, Resource.API_TOKENS, Action.READ)

    @expose("/")
    def index(self) -> Any:
        return self.render(
            "admin/api_tokens.html",
            rows=tokens.everyone(db.session),
            now=utcnow(),
            may_revoke=policy.allowed(current_user, Resource.API_TOKENS, Action.UPDATE),
        )

    @expose("/<int(max=2147483647):token_id>/revoke", methods=("POST",))
    def revoke(self, token_id: int) -> Any:
        if not policy.allowed(current_user, Resource.API_TOKENS, Action.UPDATE):
            return self.inaccessible_callback("revoke")
        admin: User = current_user._get_current_object()
        if tokens.revoke(db.session, token_id, by=admin):
            db.session.commit()
            flash("The token is revoked: requests with it are refused from now on.", "success")
        else:
            flash("That token was already revoked.", "info")
        return redirect(url_for(".index"))

    def __init__(self) -> None:
        super().__init__(
            name="API tokens", endpoint="api_tokens", url="api-tokens", category="Setup"
        )
