"""How much work one global search may do: the counts, pools and caches it is held to.

A kind's matches are counted exactly up to CAP; a word the planner expects in
more than SKIP_ABOVE rows is not counted, and only its first RANK_POOL matches
are ranked: for someone who sees every row, a sample of about FUZZY_LIMIT
matches (gin_fuzzy_search_limit), and for a prefix, at most COMPLETIONS of its
commonest whole words. The best RESULTS_PER_KIND are shown, and an index's
commonest words are kept WORDS_FOR seconds per worker. The numbers live apart
so that the service and the modules it calls read the same ones.
"""

from __future__ import annotations

CAP = 1_000
RESULTS_PER_KIND = 20
# Matches ranked per kind: ts_rank needs each candidate's tsvector rebuilt from its
# text, the costly step, so a common word ranks the first RANK_POOL matches.
RANK_POOL = 100
# A word the planner expects to match more than this is not counted (see search_kind).
SKIP_ABOVE = 10 * CAP
FUZZY_LIMIT = 2 * CAP
# A common prefix is sampled through at most this many of its commonest completions.
COMPLETIONS = 20
# Seconds an index's commonest words are kept per worker (they move only on ANALYZE).
WORDS_FOR = 600
