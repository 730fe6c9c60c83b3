"""What a person types into the search box, as a PostgreSQL tsquery.

The language: plain words (all must match), "quoted phrases", ``-word`` to
leave out, ``OR`` between alternatives, and the last word matched as a prefix
(``acm`` finds Acme, as you type). Every piece reaches PostgreSQL as a bound
parameter of ``plainto_tsquery`` / ``phraseto_tsquery`` / ``to_tsquery`` (the
prefix form only ever gets letters and digits), combined with ``tsquery_and``,
``tsquery_or`` and ``tsquery_not``: no typed character can change the query's
shape, and there is no syntax error to make.

Parsing never fails: what cannot be used is dropped with a note the page shows
(too long, a lone ``-``, an unclosed quote, a group with nothing to look for).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import reduce
from typing import Any

from sqlalchemy import func, literal_column
from sqlalchemy.sql.elements import ColumnClause, ColumnElement

MAX_LENGTH = 200
CONFIG: ColumnClause[Any] = literal_column("'english'::regconfig")
_TOKEN = re.compile(r'-?"[^"]*"?|\S+')
_PREFIXABLE = re.compile(r"^[^\W_]{2,}$")  # letters and digits only
_PHONE = re.compile(r"^\+?[\d\s().-]+$")


@dataclass(frozen=True)
class Term:
    """One word or phrase to look for (or, negated, to leave out)."""

    text: str
    phrase: bool = False
    negated: bool = False
    prefix: bool = False

    def tsquery(self) -> ColumnElement[Any]:
        """The term as a tsquery expression (its text a bound parameter)."""
        if self.phrase:
            query = func.phraseto_tsquery(CONFIG, self.text)
        elif self.prefix:
            query = func.to_tsquery(CONFIG, f"{self.text}:*")
        else:
            query = func.plainto_tsquery(CONFIG, self.text)
        return func.tsquery_not(query) if self.negated else query


@dataclass
class Query:
    """A parsed search: alternatives (OR) of terms that must all match (AND)."""

    text: str
    groups: list[list[Term]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Whether nothing usable is left to search for."""
        return not self.groups

    @property
    def phone_digits(self) -> str | None:
        """The digits, when the whole query looks like a phone number (6+ digits).

        A stored number matches when it ends with them, so "555 010 0199" finds
        "+1 (555) 010-0199".
        """
        digits = re.sub(r"\D", "", self.text)
        return digits if _PHONE.match(self.text) and len(digits) >= 6 else None

    def exact(self) -> Query:
        """The same search with no word matched as a prefix ("renewal", not "renewal*")."""
        groups = [[replace(term, prefix=False) for term in group] for group in self.groups]
        return Query(self.text, groups, self.notes)

    def tsquery(self) -> ColumnElement[Any]:
        """The whole query as one tsquery expression (call only when not empty)."""
        alternatives = [reduce(func.tsquery_and, (t.tsquery() for t in g)) for g in self.groups]
        return reduce(func.tsquery_or, alternatives)


def parse(text: str) -> Query:
    """Parse the search box's text; notes say what was left out and why."""
    text = " ".join((text or "").split())
    query = Query(text=text[:MAX_LENGTH])
    if len(text) > MAX_LENGTH:
        query.notes.append(f"Only the first {MAX_LENGTH} characters of your search were used.")
    group: list[Term] = []
    groups = [group]
    for token in _TOKEN.findall(query.text):
        if token == "OR":
            group = []
            groups.append(group)
            continue
        negated = token.startswith("-")
        body = token[1:] if negated else token
        if body.startswith('"'):
            if not body.endswith('"') or len(body) == 1:
                query.notes.append("A quote was not closed; the rest was read as a phrase.")
            words = body.strip('"').strip()
            if words:
                group.append(Term(words, phrase=True, negated=negated))
            continue
        if not re.search(r"[^\W_]", body):
            query.notes.append(f"“{token}” was left out: it has no letters or digits.")
            continue
        group.append(Term(body, negated=negated))
    # The word being typed: the last plain word, matched as a prefix.
    last = groups[-1][-1] if groups[-1] else None
    if last and not (last.phrase or last.negated) and _PREFIXABLE.match(last.text):
        groups[-1][-1] = Term(last.text, prefix=True)
    for terms in groups:
        if terms and all(t.negated for t in terms):
            query.notes.append("A part of your search only left words out; add a word to find.")
        elif terms:
            query.groups.append(terms)
    return query
