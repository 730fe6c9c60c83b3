"""/admin/profile/two-factor/: turn on two-factor sign-in (scan, confirm, keep the codes).

The secret being set up waits in the signed cookie, encrypted, until a code from
it is confirmed; only then is it stored (encrypted) on the user.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, session, url_for
from flask_admin import BaseView, expose
from flask_login import current_user

from crm.extensions import db
from crm.models import User
from crm.security import account, policy, totp, two_factor
from crm.security.policy import Action, Resource
from crm.security.second_step import CodeForm

SETUP = "two_factor_setup"


def _secret_being_set_up() -> str:
    """The secret shown on the set-up page: the one already shown, or a new one."""
    stored = session.get(SETUP)
    secret = totp.decrypt(stored) if isinstance(stored, str) else None
    if secret is None:
        secret = totp.new_secret()
        session[SETUP] = totp.encrypt(secret)
    return secret


class TwoFactorView(BaseView):
    def is_visible(self) -> bool:
        return False  # reached from the profile

    def is_accessible(self) -> bool:
        return policy.allowed(current_user, Resource.PROFILE, Action.UPDATE)

    @expose("/", methods=("GET", "POST"))
    def index(self) -> Any:
        user: User = current_user._get_current_object()
        if user.two_factor:
            flash("Two-factor sign-in is already on.", "info")
            return redirect(url_for("profile.index"))
        secret = _secret_being_set_up()
        form = CodeForm(prefix="setup")
        if request.method == "POST":
            step = None
            if form.validate_on_submit():
                step = totp.matching_step(secret, form.code.data or "", None)
                if step is None:
                    form.code.errors = [
                        "That code did not match. Check that the app shows this account and "
                        "that your phone's clock is right, then enter the code it shows now."
                    ]
            if step is not None:
                db.session.refresh(user, with_for_update=True)
                if user.two_factor:  # a second submit of the same form: keep the first codes
                    db.session.rollback()
                    flash("Two-factor sign-in is already on.", "info")
                    return redirect(url_for("profile.index"))
                codes = account.turn_on_two_factor(user, secret, step)
                db.session.commit()
                session.pop(SETUP, None)
                return self.render("admin/recovery_codes.html", codes=codes, fresh=True)
        uri = totp.setup_uri(secret, user.email)
        return self.render(
            "admin/two_factor.html",
            form=form,
            qr=totp.qr_svg(uri),
            secret=totp.grouped(secret),
            must_use=two_factor.required(user),
        )

    def __init__(self) -> None:
        super().__init__(
            name="Set up two-factor sign-in", endpoint="two_factor", url="profile/two-factor"
        )
