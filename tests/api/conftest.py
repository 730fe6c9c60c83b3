"""An API client per role: a personal token each, sent as a Bearer header."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from crm.api import tokens
from crm.extensions import db
from crm.models import User, UserRole


class Caller:
    """Requests to /api/v1/ with one person's token."""

    def __init__(self, client: FlaskClient, user: User, scope: str = "write") -> None:
        self.client = client
        self.user = user
        _row, self.secret = tokens.create(db.session, user, f"test {user.email}", scope, 7)
        db.session.commit()

    def __call__(self, method: str, path: str, **kwargs: Any) -> TestResponse:
        headers = {"Authorization": f"Bearer {self.secret}", **kwargs.pop("headers", {})}
        return self.client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> TestResponse:
        return self("POST", path, json=body, **kwargs)

    def patch(self, path: str, body: Any, etag: str | None, **kwargs: Any) -> TestResponse:
        headers = {"If-Match": etag} if etag is not None else {}
        return self("PATCH", path, json=body, headers=headers, **kwargs)

    def delete(self, path: str, etag: str | None) -> TestResponse:
        return self("DELETE", path, headers={"If-Match": etag} if etag is not None else {})

    def fresh_etag(self, path: str) -> str:
        response = self.get(path)
        assert response.status_code == 200, response.get_json()
        return str(response.headers["ETag"])


@pytest.fixture
def api(users: dict[UserRole, User], client: FlaskClient) -> dict[UserRole, Caller]:
    """A read-write API caller for each role."""
    return {role: Caller(client, user) for role, user in users.items()}
