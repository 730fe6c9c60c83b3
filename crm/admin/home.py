"""/admin/: the signed-in home page."""

from __future__ import annotations

from typing import Any

from flask_admin import AdminIndexView, expose
from flask_login import current_user


class HomeView(AdminIndexView):
    """Greets the person and lists what their role lets them open."""

    def is_accessible(self) -> bool:
        return current_user.is_authenticated

    @expose("/")
    def index(self) -> Any:
        return self.render("admin/home.html")

    def __init__(self) -> None:
        super().__init__(name="Home", url="/admin", endpoint="admin")
