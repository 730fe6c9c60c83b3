"""What PostgreSQL's planner expects of a statement, without running it.

Counts that would read too much (a common word, a big filter) are replaced by
the planner's row estimate; EXPLAIN gives it for the very statement the page
would run.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event

from crm.extensions import DbSession


def _explain_instead(
    _conn: Any, _cursor: Any, statement: str, parameters: Any, context: Any, _many: bool
) -> tuple[str, Any]:
    """Prefix EXPLAIN to a statement run with the ``crm_explain`` option.

    The statement goes through SQLAlchemy's own compilation, caching and bind
    processing (enums, inet…), so its plan is that of the very query the list
    runs, and no value is ever pasted into SQL text.
    """
    if context is not None and context.execution_options.get("crm_explain"):
        statement = "EXPLAIN (FORMAT JSON) " + statement
    return statement, parameters


event.listen(Engine, "before_cursor_execute", _explain_instead, retval=True)


def estimate(session: DbSession, statement: Any) -> int:
    """The planner's row estimate for ``statement`` (EXPLAIN: planned, not run)."""
    plan = (
        session.connection()
        .execute(statement, execution_options={"crm_explain": True})
        .scalar_one()
    )
    return int(plan[0]["Plan"]["Plan Rows"])
