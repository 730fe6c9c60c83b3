"""Global full-text search over customers, leads, tasks and interactions (a service).

Each kind of record is searched through its GIN index: the WHERE clause uses
the index's own expression (``document``), so the planner can serve it from
the index. Per kind:

- the planner's estimate of the matches (EXPLAIN, not run) decides whether to
  count: a word expected in more than SKIP_ABOVE rows is not counted ("more
  than 1,000"), only its first RANK_POOL matches are read (for someone who
  reads every row sampled, for a rep in full, from the word or from a prefix's
  commonest whole words: ``word_pool``);
- otherwise the matching rows the person may read, at most CAP + 1, read part
  by part of the row rule (crm/security/policy.py row_branches): exact up to CAP;
- the pool ranked with ``ts_rank``, the best RESULTS_PER_KIND kept, and their
  snippets (``ts_headline``, computed only for the rows shown).

So a common word costs a bounded amount of work: the ranking is among the
first RANK_POOL matches the index returns, not among every match (all of them
are one "see all" click away, in the list view).

The parts live beside this module in crm/search/: kinds.py (the kinds and
``matches``), limits.py (the numbers above), words.py (``word_pool`` and the
index-word estimates), planner.py (the plain-index-scan setting and the
part-by-part reads). Every public name stays importable from here (``__all__``).
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape
from sqlalchemy import Integer, any_, cast, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from crm.db.planner import estimate
from crm.extensions import DbSession
from crm.models import User
from crm.search.kinds import (
    CUSTOMER_DOCUMENT,
    INTERACTION_DOCUMENT,
    KINDS,
    PHONE_DIGITS_REVERSED,
    Kind,
    matches,
)
from crm.search.limits import (
    CAP,
    COMPLETIONS,
    FUZZY_LIMIT,
    RANK_POOL,
    RESULTS_PER_KIND,
    SKIP_ABOVE,
    WORDS_FOR,
)
from crm.search.planner import Planner, first_ids
from crm.search.query import CONFIG, Query
from crm.search.words import IndexWords, common_completions, forget_index_words, word_pool
from crm.security import policy

__all__ = [
    "CAP",
    "COMPLETIONS",
    "CUSTOMER_DOCUMENT",
    "FUZZY_LIMIT",
    "HEADLINE_OPTIONS",
    "INTERACTION_DOCUMENT",
    "KINDS",
    "PHONE_DIGITS_REVERSED",
    "RANK_POOL",
    "RESULTS_PER_KIND",
    "SKIP_ABOVE",
    "WORDS_FOR",
    "Group",
    "Hit",
    "IndexWords",
    "Kind",
    "common_completions",
    "forget_index_words",
    "has_words",
    "highlight",
    "matches",
    "search",
    "search_kind",
]

# ts_headline marks matches with these; the text is escaped, then they become <mark>.
_START, _STOP = "\x02", "\x03"
HEADLINE_OPTIONS = f"StartSel={_START}, StopSel={_STOP}, MaxWords=25, MinWords=8, MaxFragments=2"


@dataclass(frozen=True)
class Hit:
    """One result: the record, its title and a highlighted snippet."""

    id: int
    title: str
    snippet: Markup
    rank: float


@dataclass(frozen=True)
class Group:
    """A kind's results: the best hits and how many matched."""

    kind: Kind
    hits: list[Hit]
    found: int
    counted_to: int = CAP  # past this, the number is only "more than"

    @property
    def count_label(self) -> str:
        """The number shown beside the kind: exact up to ``counted_to``."""
        if self.found > self.counted_to:
            return f"more than {self.counted_to:,}"
        return f"{self.found:,}"


def highlight(snippet: str | None) -> Markup:
    """ts_headline's text, escaped, with its match markers turned into <mark>."""
    text = str(escape(snippet or ""))
    return Markup(text.replace(_START, "<mark>").replace(_STOP, "</mark>"))


def search_kind(
    session: DbSession, user: User, kind: Kind, query: Query, planner: Planner
) -> Group:
    """The best hits of one kind that ``user`` may read, and how many matched."""
    model = kind.model
    condition = matches(kind, query)
    # One statement per part of the row rule (a rep's interactions: logged by them, or
    # on their customers), each served by its own indexes, as the lists do.
    branches = policy.row_branches(user, model)
    parts = [select(model.id).where(condition, branch) for branch in branches]
    everyone = policy.sees_all_rows(user)
    estimated = estimate(session, select(model.id).where(condition))
    pool = word_pool(session, kind, query, branches, estimated, planner, sample=everyone)
    if pool or estimated > SKIP_ABOVE:
        # A common word: counting even 1,001 matches reads 1,001 scattered rows per
        # kind, and for a rep, joins them with their rows; the first RANK_POOL to
        # rank is all the page needs. More matches than that: "more than 1,000"
        # when every row is readable (the estimate stands for them), else "more
        # than 100" (a rep's share of a common word can be anything).
        pool = pool or first_ids(session, parts, RANK_POOL + 1, planner)
        counted_to = CAP if everyone else RANK_POOL
        found = counted_to + 1 if len(pool) > RANK_POOL else len(pool)
        pool = pool[:RANK_POOL]
    else:
        candidates = first_ids(session, parts, CAP + 1, planner)
        counted_to, found, pool = CAP, len(candidates), candidates[:RANK_POOL]
    if not pool:
        return Group(kind, [], 0)
    planner.use_index_scans(True)
    tsquery = query.tsquery()
    rank = func.ts_rank(literal_column(kind.document), tsquery).label("rank")
    best = (
        select(model.id, rank)
        # One array parameter, not 100: the statement's text stays the same (psycopg
        # parses and caches it once) whatever the ids.
        .where(model.id == any_(cast(pool, ARRAY(Integer))))
        .where(policy.row_filter(user, model))  # again: a moment passed
        .order_by(rank.desc(), model.id.desc())
        .limit(RESULTS_PER_KIND)
        .subquery("best")
    )
    snippet = func.ts_headline(
        CONFIG, literal_column(kind.snippet_source), tsquery, HEADLINE_OPTIONS
    )
    rows = session.execute(
        select(model, best.c.rank, snippet)
        .join(best, best.c.id == model.id)
        .order_by(best.c.rank.desc(), model.id.desc())
    ).all()
    hits = [Hit(row.id, kind.title(row), highlight(text), rank) for row, rank, text in rows]
    return Group(kind, hits, found, counted_to)


def has_words(session: DbSession, query: Query) -> bool:
    """Whether the query keeps anything after stop words ("the", "and"…) are dropped."""
    return bool(session.scalar(select(func.numnode(query.tsquery()))))


def search(session: DbSession, user: User, query: Query) -> list[Group]:
    """Every kind the user may search, grouped (empty groups included)."""
    # Every match is found through a full-text index. A common word looks cheap to
    # find by reading the table and testing rows until enough match, but each test
    # rebuilds a row's tsvector: 80 ms for 1,001 interactions, 5 through the index.
    session.execute(text("SET LOCAL enable_seqscan = off"))
    planner = Planner(session)
    groups = [search_kind(session, user, kind, query, planner) for kind in KINDS]
    # The rest of the request plans as usual. (After an error there is nothing to
    # restore: the transaction ends, and SET LOCAL with it.)
    planner.use_index_scans(True)
    session.execute(text("SET LOCAL enable_seqscan = on"))
    return groups
