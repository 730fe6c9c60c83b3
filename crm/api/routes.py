"""The five endpoints of one kind of record, documented from the schemas they use.

``GET /<name>`` (keyset pages, filters, ``?q=``), ``POST /<name>``,
``GET|PATCH|DELETE /<name>/<id>``; the rules are crm/api/records.py's.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, url_for
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields

from crm.api import paging
from crm.api.auth import blueprint
from crm.api.errors import ErrorSchema
from crm.api.fields import text
from crm.api.records import (
    Refused,
    Served,
    check_version,
    conditions,
    etag,
    need,
    readable,
    refused,
    save,
)
from crm.api.schemas import page_of
from crm.extensions import db
from crm.security import policy
from crm.security.policy import Action

ETAG = {"ETag": {"description": "The record's version: send it as If-Match to change it.",
                 "schema": {"type": "string"}}}  # fmt: skip
IF_MATCH = {
    "in": "header",
    "name": "If-Match",
    "required": True,
    "description": "The ETag of your last read of this record.",
    "schema": {"type": "string"},
}
# The errors any endpoint may answer with (the OpenAPI document lists them).
ERRORS = {
    401: "No token, or an unknown, expired or revoked one.",
    403: "The token's role (or a read-only token) may not do this.",
    429: "Too many requests for this token.",
}
ROW_ERRORS = {404: "No such record that you can read."}
WRITE_ERRORS = {422: "Bad input, by field.", 409: "It conflicts with other records."}
VERSION_ERRORS = {
    412: "Changed since you read it (If-Match is not its ETag).",
    428: "No If-Match sent.",
}


ACTIONS = {"POST": Action.CREATE, "PATCH": Action.UPDATE, "DELETE": Action.DELETE}


def _documented(bp: Blueprint, *groups: dict[int, str]) -> Any:
    """Document these error answers on an endpoint."""

    def decorate(function: Any) -> Any:
        for group in (ERRORS, *groups):
            for code, description in group.items():
                function = bp.alt_response(code, schema=ErrorSchema, description=description)(
                    function
                )
        return function

    return decorate


def list_arguments(kind: Served) -> type[Schema]:
    """``?after``, ``?limit``, ``?q`` (where searchable) and the kind's filters."""
    found: dict[str, fields.Field[Any]] = {**paging.arguments()}
    if kind.search is not None:
        found["q"] = text(200, metadata={"description": "Words to search for (full text)."})
    for name, (argument, _condition) in kind.filters.items():
        found[name] = argument
    name = kind.out.__name__.removesuffix("Out") + "Query"
    return Schema.from_dict(found, name=name)


def _answer(kind: Served, row: Any, code: int = 200) -> Response:
    response = jsonify(kind.out().dump(row))
    response.status_code = code
    response.headers["ETag"] = etag(row)
    return response


def add(bp: Blueprint, kind: Served) -> None:
    """Register the kind's endpoints on ``bp``."""
    many = page_of(kind.out)
    tags = [kind.name]  # the document's section: "customers", not the blueprint's name

    @bp.before_request
    def allowed() -> None:
        """The role matrix first: a role that may not do this learns nothing more (403)."""
        need(kind.resource, ACTIONS.get(request.method, Action.READ))

    @bp.route("", methods=["GET"], endpoint="many", tags=tags)
    @bp.arguments(list_arguments(kind), location="query", unknown=RAISE, as_kwargs=True)
    @bp.response(200, many)
    @_documented(bp)
    def list_rows(after: int | None = None, limit: int = paging.DEFAULT_LIMIT, **args: Any) -> Any:
        """A page of the records you may read, newest first; filters narrow it."""
        rows, following = paging.page(
            db.session,
            kind.model,
            conditions(kind, args),
            policy.row_branches(current_user, kind.model),
            after,
            limit,
            kind.ascending,
        )
        headers = {}
        if following is not None:
            wanted: dict[str, Any] = {**request.args, "after": following}
            link = url_for(request.endpoint or "", **wanted)
            headers["Link"] = f'<{link}>; rel="next"'
        return {"items": rows, "next": following}, 200, headers

    @bp.route("/<int:row_id>", methods=["GET"], endpoint="one", tags=tags)
    @bp.response(200, kind.out, headers=ETAG)
    @_documented(bp, ROW_ERRORS)
    def read_row(row_id: int) -> Any:
        """One record, with its ETag."""
        return _answer(kind, readable(kind, row_id))

    if kind.into is None:
        return

    @bp.route("", methods=["POST"], endpoint="make", tags=tags)
    @bp.arguments(kind.into, as_kwargs=False)
    @bp.response(201, kind.out, headers=ETAG)
    @_documented(bp, WRITE_ERRORS)
    def create_row(data: dict[str, Any]) -> Any:
        """Create a record; the answer is the record as saved, with its ETag."""
        row = kind.model()
        save(kind, row, data, is_new=True)
        db.session.commit()
        response = _answer(kind, row, 201)
        response.headers["Location"] = url_for(f"{bp.name}.one", row_id=row.id)
        return response

    # Its own class, so the document names it (every field optional) apart from the POST's.
    patch = type(kind.into.__name__.removesuffix("In") + "Patch", (kind.into,), {})

    @bp.route("/<int:row_id>", methods=["PATCH"], endpoint="change", tags=tags)
    @bp.arguments(patch(partial=True), as_kwargs=False)
    @bp.response(200, kind.out, headers=ETAG)
    @bp.doc(parameters=[IF_MATCH])
    @_documented(bp, ROW_ERRORS, WRITE_ERRORS, VERSION_ERRORS)
    def update_row(data: dict[str, Any], row_id: int) -> Any:
        """Change the fields sent; If-Match must be the ETag you last read."""
        row = readable(kind, row_id, lock=True)
        check_version(row)
        save(kind, row, data, is_new=False)
        db.session.commit()
        return _answer(kind, row)

    if not kind.deletes:
        return

    @bp.route("/<int:row_id>", methods=["DELETE"], endpoint="remove", tags=tags)
    @bp.response(204)
    @bp.doc(parameters=[IF_MATCH])
    @_documented(bp, ROW_ERRORS, VERSION_ERRORS, {409: "It cannot be deleted."})
    def delete_row(row_id: int) -> Any:
        """Delete a record; If-Match must be the ETag you last read."""
        row = readable(kind, row_id, lock=True)
        check_version(row)
        why = kind.keep(row) if kind.keep is not None else None
        if why is not None:
            db.session.rollback()
            raise Refused({"_schema": [why]}, code=409)
        db.session.delete(row)
        db.session.commit()
        return "", 204


def register(kind: Served) -> Blueprint:
    """A blueprint serving ``kind`` at /api/v1/<name>/ and /api/v1/<name>/<id>."""
    bp = blueprint(kind.name, kind.description, url_prefix=f"/{kind.name}")
    bp.register_error_handler(Refused, refused)
    add(bp, kind)
    return bp
