"""The words a common one-word search is read through, and the index-word estimates.

A common word, or a prefix with common completions, is read through whole
words rather than the prefix's bitmap (``word_pool``): the prefix stemmed as the
tsquery stems it (``_stem``, cached per worker), its commonest completions taken
from the index's statistics (``common_completions``), and how many rows they
cover reckoned from those statistics (``IndexWords``, read at most every
WORDS_FOR seconds per worker; ``forget_index_words`` drops them after ANALYZE).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import cast, literal_column, select, text
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.exc import DBAPIError

from crm.extensions import DbSession
from crm.search.kinds import Kind, matches
from crm.search.limits import COMPLETIONS, FUZZY_LIMIT, RANK_POOL, SKIP_ABOVE, WORDS_FOR
from crm.search.planner import Planner, first_ids, through_subquery
from crm.search.query import Query, Term


def word_pool(
    session: DbSession,
    kind: Kind,
    query: Query,
    branches: list[Any],
    estimated: int,
    planner: Planner,
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
        parts = [part for part in parts if not through_subquery(part)]
    pool = first_ids(session, parts, RANK_POOL + 1, planner)
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
