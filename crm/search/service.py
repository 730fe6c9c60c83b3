"""Global full-text search over customers, leads, tasks and interactions (a service).

Each kind of record is searched through its GIN index: the WHERE clause uses
the index's own expression (``document``), so the planner can serve it from
the index. Per kind:

- the planner's estimate of the matches (EXPLAIN, not run) decides whether to
  count: a word expected in more than SKIP_ABOVE rows is not counted ("more
  than 1,000"), only its first RANK_POOL matches are read (for someone who
  reads every row sampled, for a rep in full, from the word or from a prefix's
  commonest whole words: ``_word_pool``);
- otherwise the matching rows the person may read, at most CAP + 1, read part
  by part of the row rule (crm/security/policy.py row_branches): exact up to CAP;
- the pool ranked with ``ts_rank``, the best RESULTS_PER_KIND kept, and their
  snippets (``ts_headline``, computed only for the rows shown).

So a common word costs a bounded amount of work: the ranking is among the
first RANK_POOL matches the index returns, not among every match (all of them
are one "see all" click away, in the list view).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import Integer, any_, cast, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY
from sqlalchemy.exc import DBAPIError

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
from crm.search.planner import _first_ids, _Planner, _through_subquery
from crm.search.query import CONFIG, Query, Term
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
    session: DbSession, user: User, kind: Kind, query: Query, planner: _Planner
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
    pool = _word_pool(session, kind, query, branches, estimated, planner, sample=everyone)
    if pool or estimated > SKIP_ABOVE:
        # A common word: counting even 1,001 matches reads 1,001 scattered rows per
        # kind, and for a rep, joins them with their rows; the first RANK_POOL to
        # rank is all the page needs. More matches than that: "more than 1,000"
        # when every row is readable (the estimate stands for them), else "more
        # than 100" (a rep's share of a common word can be anything).
        pool = pool or _first_ids(session, parts, RANK_POOL + 1, planner)
        counted_to = CAP if everyone else RANK_POOL
        found = counted_to + 1 if len(pool) > RANK_POOL else len(pool)
        pool = pool[:RANK_POOL]
    else:
        candidates = _first_ids(session, parts, CAP + 1, planner)
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


def _word_pool(
    session: DbSession,
    kind: Kind,
    query: Query,
    branches: list[Any],
    estimated: int,
    planner: _Planner,
    *,
    sample: bool,
) -> list[int]:
    """A common one-word search's pool, read through whole words, not the prefix.

    "renewal" as a prefix gathers every lexeme starting with "renew" into one
    bitmap (250,000 interactions, 30 ms; within a big book's rows, 45 ms), "smi"
    every Smith and Smiley (85,774 leads, 50 ms). The word itself when it is
    common, or else the prefix's commonest completions ("smith", "smile"), as
    whole words, are far cheaper to read, and every row they match matches the
    search. Nothing shown changes (the count says "more than", the pool is
    smaller still).

    For someone who reads every row (``sample``), the read stops at a sample of
    about FUZZY_LIMIT matches. A rep's rows are never sampled (a sample of
    everyone's rows misses theirs): their share of the word is read in full
    through the index that carries their rule column (migration 0019), 11 ms for
    a big book's leads; a part of their rule through a subquery ("interactions on
    customers I own") is left to the full read, so it is never read twice.
    Only one word: GIN samples each word on its own, so two sampled words would
    meet in far fewer rows than are there. Empty when not used, or when the words
    give no more than RANK_POOL rows (the search is then read in full, prefix and
    all).
    """
    if len(query.groups) != 1 or len(query.groups[0]) != 1:
        return []
    model = kind.model
    term = query.groups[0][0]
    if not term.prefix:
        if estimated <= SKIP_ABOVE:  # a whole word: ``estimated`` is its own estimate
            return []
        words = matches(kind, query.exact())
    else:
        stats = _index_words(session, kind.index)
        stem = _stem(session, term.text)
        if stem and stats.expected([stem]) > SKIP_ABOVE:
            words = matches(kind, query.exact())
        else:
            completions = common_completions(session, kind, term)
            if stats.expected(completions) <= SKIP_ABOVE:
                return []
            quoted = " | ".join(_tsquery_literal(word) for word in completions)
            words = literal_column(kind.document).op("@@")(cast(quoted, TSQUERY))
    if sample:
        session.execute(text(f"SET LOCAL gin_fuzzy_search_limit = {FUZZY_LIMIT}"))
    parts = [select(model.id).where(words, branch) for branch in branches]
    if not sample:
        parts = [part for part in parts if not _through_subquery(part)]
    pool = _first_ids(session, parts, RANK_POOL + 1, planner)
    if sample:
        session.execute(text("SET LOCAL gin_fuzzy_search_limit = 0"))
    return pool if len(pool) > RANK_POOL else []


def common_completions(session: DbSession, kind: Kind, term: Term) -> list[str]:
    """A prefix term's commonest completions in the kind's index, commonest first.

    From the planner's statistics of the index (migration 0018), so only words
    common enough to be counted there; the prefix is stemmed first, as the
    tsquery stems it ("renewal" looks for words starting with "renew").
    """
    if not term.prefix:
        return []
    stem = _stem(session, term.text)
    if not stem:
        return []  # a stop word
    found = [word for word in _index_words(session, kind.index).frequency if word.startswith(stem)]
    return found[:COMPLETIONS]  # the statistics list them commonest first


def _tsquery_literal(lexeme: str) -> str:
    """A lexeme quoted for a tsquery: it may hold a hyphen, a quote or a backslash."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


# A typed word -> its English stem (fixed for a word; asked once, not once per kind).
_STEMS: dict[str, str | None] = {}


def _stem(session: DbSession, word: str) -> str | None:
    """The word as the tsquery stems it ("renewal" -> "renew"); None for a stop word."""
    if word not in _STEMS:
        if len(_STEMS) > 10_000:
            _STEMS.clear()
        _STEMS[word] = session.scalar(
            text("SELECT (tsvector_to_array(to_tsvector('english', :word)))[1]"),
            {"word": word},
        )
    return _STEMS[word]


@dataclass(frozen=True)
class IndexWords:
    """A full-text index's commonest words, as its last ANALYZE counted them."""

    rows: float  # the table's rows then
    frequency: dict[str, float]  # word -> the share of rows holding it, commonest first

    def expected(self, words: list[str]) -> float:
        """Rows expected to hold any of ``words``, as the planner reckons it.

        A word missing from the statistics is rarer than every word they list: 0.
        Reckoned here rather than asked of the planner (an EXPLAIN per guess).
        """
        missing = 1.0
        for word in words:
            missing *= 1.0 - self.frequency.get(word, 0.0)
        return self.rows * (1.0 - missing)


# (database, index) -> (when read, its commonest words), per worker.
_WORDS: dict[tuple[str, str], tuple[float, IndexWords]] = {}


def forget_index_words() -> None:
    """Read the indexes' commonest words afresh next time (after ANALYZE, in tests)."""
    _WORDS.clear()


def _index_words(session: DbSession, index: str) -> IndexWords:
    """The index's commonest words, read at most every WORDS_FOR seconds.

    They change only when ANALYZE runs, and reading them costs about 8 ms. A
    database that cannot give them (statistics not gathered yet, an older
    schema) gives none: the search then reads the prefix in full, as before.
    """
    now = time.monotonic()
    key = (str(session.connection().engine.url.database), index)
    cached = _WORDS.get(key)
    if cached is not None and now - cached[0] < WORDS_FOR:
        return cached[1]
    try:
        with session.begin_nested():  # a refusal must not end the page's transaction
            rows = session.execute(
                text(
                    "SELECT w.lexeme, w.frequency, t.reltuples "
                    "FROM crm_common_lexemes(CAST(:index AS regclass)) w, pg_index i "
                    "JOIN pg_class t ON t.oid = i.indrelid "
                    "WHERE i.indexrelid = CAST(:index AS regclass) "
                    "ORDER BY w.frequency DESC"
                ),
                {"index": index},
            ).all()
    except DBAPIError:
        rows = []
    table_rows = max(rows[0].reltuples, 0.0) if rows else 0.0
    words = IndexWords(table_rows, {row.lexeme: row.frequency for row in rows})
    _WORDS[key] = (now, words)
    return words


def has_words(session: DbSession, query: Query) -> bool:
    """Whether the query keeps anything after stop words ("the", "and"…) are dropped."""
    return bool(session.scalar(select(func.numnode(query.tsquery()))))


def search(session: DbSession, user: User, query: Query) -> list[Group]:
    """Every kind the user may search, grouped (empty groups included)."""
    # Every match is found through a full-text index. A common word looks cheap to
    # find by reading the table and testing rows until enough match, but each test
    # rebuilds a row's tsvector: 80 ms for 1,001 interactions, 5 through the index.
    session.execute(text("SET LOCAL enable_seqscan = off"))
    planner = _Planner(session)
    groups = [search_kind(session, user, kind, query, planner) for kind in KINDS]
    # The rest of the request plans as usual. (After an error there is nothing to
    # restore: the transaction ends, and SET LOCAL with it.)
    planner.use_index_scans(True)
    session.execute(text("SET LOCAL enable_seqscan = on"))
    return groups
