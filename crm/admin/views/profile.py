"""Every signed-in person's own profile: name and password."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from wtforms import PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length, ValidationError

from crm.extensions import db
from crm.models import User
from crm.security import passwords, policy
from crm.security.auth import start_session
from crm.security.policy import Action, Resource
from crm.web.forms import Form


class NameForm(Form):
    name = StringField("Name", validators=[InputRequired(), Length(max=255)])


class PasswordForm(Form):
    current = PasswordField("Current password", validators=[InputRequired()])
    new = PasswordField(
        "New password",
        validators=[InputRequired()],
        description="At least 8 characters; at most 72 bytes.",
    )
    confirm = PasswordField(
        "Repeat new password",
        validators=[InputRequired(), EqualTo("new", message="The two new passwords differ.")],
    )

    def validate_new(self, field: PasswordField) -> None:
        try:
            passwords.validate(field.data or "")
        except passwords.PasswordError as exc:
            raise ValidationError(str(exc)) from None


class ProfileView(BaseView):
    """/admin/profile/: change your own name or password."""

    def is_visible(self) -> bool:
        return False  # reached from the user menu, not the main menu

    def is_accessible(self) -> bool:
        return policy.allowed(current_user, Resource.PROFILE, Action.UPDATE)

    @expose("/", methods=("GET", "POST"))
    def index(self) -> Any:
        user: User = current_user._get_current_object()
        name_form = NameForm(prefix="profile", obj=user)
        password_form = PasswordForm(prefix="password")
        if request.method == "POST" and "profile-name" in request.form:
            if name_form.validate_on_submit():
                user.name = (name_form.name.data or "").strip()
                db.session.commit()
                flash("Your name is saved.", "success")
                return redirect(url_for(".index"))
        elif request.method == "POST" and password_form.validate_on_submit():
            if not passwords.check_password(password_form.current.data or "", user.password_hash):
                password_form.current.errors = ["That is not your current password."]
            else:
                user.password_hash = passwords.hash_password(password_form.new.data or "")
                db.session.commit()
                # The database gave the user a new session token, ending every other
                # session; this one continues under the new token.
                db.session.refresh(user)
                start_session(user)
                flash("Your password is changed; other sessions are signed out.", "success")
                return redirect(url_for(".index"))
        return self.render("admin/profile.html", name_form=name_form, password_form=password_form)

    def __init__(self) -> None:
        super().__init__(name="Profile", endpoint="profile", url="profile")
