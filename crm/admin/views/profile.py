"""Every signed-in person's own profile: name, password, two-factor, sessions, API tokens."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import EqualTo, InputRequired, Length, ValidationError

from crm.admin.audit_readable import browser
from crm.api import tokens
from crm.extensions import db
from crm.models import User
from crm.security import account, passwords, policy, sessions, totp, two_factor
from crm.security.auth import count_failure, start_session, this_session_id, utcnow
from crm.security.lockout import is_locked
from crm.security.policy import Action, Resource
from crm.web.forms import Form

WRONG_CODE = (
    "That code did not work: enter the 6-digit code your authenticator app shows now, "
    "or an unused recovery code."
)

LOCKED = (
    "Too many wrong codes: the account is locked for a while. Try again later, or ask an "
    "admin to reset your two-factor."
)


class ProofForm(Form):
    """A current code (or a recovery code), to prove it is you before a two-factor change."""

    code = StringField(
        "Current code from your app, or a recovery code",
        validators=[InputRequired(message="Enter the code."), Length(max=40)],
        render_kw={"autocomplete": "one-time-code", "spellcheck": "false"},
    )


class NameForm(Form):
    name = StringField("Name", validators=[InputRequired(), Length(max=255)])


class PasswordForm(Form):
    current = PasswordField("Current password", validators=[InputRequired()])
    new = PasswordField(
        "New password",
        validators=[InputRequired()],
        description="At least 8 characters; at most 72 bytes; not a common password.",
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


class TokenForm(Form):
    """A new personal API token (issue 20): what it is for, what it may do, how long."""

    name = StringField(
        "Name",
        validators=[InputRequired(message="Give the token a name."), Length(max=tokens.NAME_MAX)],
        description="What will use it, such as “billing sync”.",
    )
    scope = SelectField(
        "Access",
        choices=[("read", "Read only"), ("write", "Read and write")],
        default="read",
        validators=[InputRequired()],
    )
    days = SelectField(
        "Expires after",
        choices=[(str(days), f"{days} days") for days in tokens.DAY_CHOICES],
        default="30",
        validators=[InputRequired()],
    )
    # A token outlives the session: whoever has the browser proves it is you first.
    password = PasswordField(
        "Your password",
        validators=[InputRequired(message="Enter your password: the token will act as you.")],
    )
    code = StringField(
        "Code from your app, or a recovery code",
        validators=[Length(max=40)],
        render_kw={"autocomplete": "one-time-code", "spellcheck": "false"},
    )


class ProfileView(BaseView):
    """/admin/profile/: your name, password, two-factor sign-in and sessions."""

    def is_visible(self) -> bool:
        return False  # reached from the user menu, not the main menu

    def is_accessible(self) -> bool:
        return policy.allowed(current_user, Resource.PROFILE, Action.UPDATE)

    def _page(self, **forms: Any) -> Any:
        """The profile page; ``forms`` replace the blank ones (to show errors)."""
        user: User = current_user._get_current_object()
        shown = {
            "name_form": NameForm(prefix="profile", obj=user),
            "password_form": PasswordForm(prefix="password"),
            "off_form": ProofForm(prefix="off"),
            "codes_form": ProofForm(prefix="codes"),
            "token_form": TokenForm(prefix="token"),
            **forms,
        }
        listed = sessions.active(user.id)
        db.session.commit()  # the expired rows just deleted
        return self.render(
            "admin/profile.html",
            live=listed,
            this_session=this_session_id(),
            device=browser,
            codes_left=totp.unused_codes(user) if user.two_factor else 0,
            must_use=two_factor.required(user),
            api_tokens=tokens.owned(db.session, user),
            now=utcnow(),
            **shown,
        )

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
            return self._page(name_form=name_form)
        if request.method == "POST":
            if not password_form.validate_on_submit():
                return self._page(password_form=password_form)
            if not passwords.check_password(password_form.current.data or "", user.password_hash):
                password_form.current.errors = ["That is not your current password."]
                return self._page(password_form=password_form)
            others = len(sessions.active(user.id)) - 1
            user.password_hash = passwords.hash_password(password_form.new.data or "")
            if others:
                account.record_sessions_ended(user.id, others, "password changed")
            db.session.commit()
            # The database gave the user a new session token, which ended every
            # session of theirs (migrations 0006, 0031); this one starts afresh.
            db.session.refresh(user)
            start_session(user)
            db.session.commit()
            flash("Your password is changed; other sessions are signed out.", "success")
            return redirect(url_for(".index"))
        return self._page()

    @expose("/two-factor/off", methods=("POST",))
    def two_factor_off(self) -> Any:
        user: User = current_user._get_current_object()
        form = ProofForm(prefix="off")
        if two_factor.required(user):
            flash("Your role signs in with two-factor, so it stays on.", "error")
            return redirect(url_for(".index"))
        if not user.two_factor:
            return redirect(url_for(".index"))
        if not form.validate_on_submit() or not self._proved(user, form):
            return self._page(off_form=form)
        account.turn_off_two_factor(user)
        db.session.commit()
        flash("Two-factor sign-in is off: signing in asks for your password only.", "success")
        return redirect(url_for(".index"))

    @expose("/recovery-codes", methods=("POST",))
    def recovery_codes(self) -> Any:
        user: User = current_user._get_current_object()
        form = ProofForm(prefix="codes")
        if not user.two_factor:
            return redirect(url_for(".index"))
        if not form.validate_on_submit() or not self._proved(user, form):
            return self._page(codes_form=form)
        codes = account.new_recovery_codes(user)
        db.session.commit()
        return self.render("admin/recovery_codes.html", codes=codes, fresh=False)

    def _proved(self, user: User, form: ProofForm | TokenForm) -> bool:
        """Check the form's code (a wrong one counts toward the account's lockout)."""
        db.session.refresh(user, with_for_update=True)  # one use of a code, even if raced
        if is_locked(user, utcnow()):  # guessed too often: no more tries here either
            form.code.errors = [LOCKED]
            return False
        if account.prove(user, form.code.data or "").passed:
            return True
        count_failure(user, "2FA_FAILED")
        db.session.commit()
        form.code.errors = [WRONG_CODE]
        return False

    @expose("/reminders", methods=("POST",))
    def reminders(self) -> Any:
        """Turn the daily email digest of due tasks on or off (audited, as a users change)."""
        user: User = current_user._get_current_object()
        user.email_reminders = request.form.get("email_reminders") == "on"
        db.session.commit()
        flash(
            "You get a daily email of your due and overdue tasks."
            if user.email_reminders
            else "No more reminder emails; the bell still shows your reminders.",
            "success",
        )
        return redirect(url_for(".index") + "#reminders")

    @expose("/tokens", methods=("POST",))
    def create_token(self) -> Any:
        """A new API token, shown once on the page that answers."""
        user: User = current_user._get_current_object()
        form = TokenForm(prefix="token")
        if not form.validate_on_submit():
            return self._page(token_form=form)
        if not passwords.check_password(form.password.data or "", user.password_hash):
            form.password.errors = ["That is not your password."]
            return self._page(token_form=form)
        if user.two_factor and not self._proved(user, form):
            return self._page(token_form=form)
        try:
            row, secret = tokens.create(
                db.session, user, form.name.data or "", form.scope.data, int(form.days.data)
            )
        except tokens.TokenError as exc:
            form.name.errors = [str(exc)]
            return self._page(token_form=form)
        db.session.commit()
        return self.render("admin/api_token_made.html", token=row, secret=secret)

    @expose("/tokens/<int(max=2147483647):token_id>/revoke", methods=("POST",))
    def revoke_token(self, token_id: int) -> Any:
        user: User = current_user._get_current_object()
        if tokens.revoke(db.session, token_id, by=user, owner=user):
            db.session.commit()
            flash("That token is revoked: requests with it are refused from now on.", "success")
        else:
            flash("That token was already revoked, or is not yours.", "info")
        return redirect(url_for(".index") + "#api-tokens")

    @expose("/sessions/<int(max=9223372036854775807):session_id>/end", methods=("POST",))
    def end_session(self, session_id: int) -> Any:
        user: User = current_user._get_current_object()
        if session_id == this_session_id():
            abort(400, "To end this session, sign out.")
        if account.end_session(user, session_id):
            db.session.commit()
            flash("That session is signed out.", "success")
        else:
            flash("That session had already ended.", "info")
        return redirect(url_for(".index") + "#sessions")

    @expose("/sessions/end-others", methods=("POST",))
    def end_other_sessions(self) -> Any:
        user: User = current_user._get_current_object()
        ended = account.end_sessions(user.id, keep=this_session_id())
        db.session.commit()
        flash(f"{ended} other sessions signed out.", "success")
        return redirect(url_for(".index") + "#sessions")

    def __init__(self) -> None:
        super().__init__(name="Profile", endpoint="profile", url="profile")
