"""Ranking metrics on NumPy arrays: what is measured, and its names.

One table names every metric a run reports, for the result lines, the
plots, `compare` and `exercise`. Beside it: the chapter's Hit@k and AUC
of one ranked list (`hit_and_auc`, ported as printed); the same metrics
for many users at once, as the fast evaluator computes them from a chunk
of scores, with ties in expectation (`full_ranking_metrics`,
`sampled_metrics`, at the end); how a run says that ties decided its metrics; and the
checks that refuse metrics the data cannot measure. The evaluators that
score a network live in `evaluation`.
"""
import collections

import numpy

Metric = collections.namedtuple('Metric', 'words short at_k')
# name in records -> (words in the result lines, short name in tables and
# figures, whether a cut-off k applies)
METRICS = {
    'loss': Metric('loss', 'loss', False),
    'hit_rate': Metric('hit rate', 'Hit', True),
    'auc': Metric('AUC', 'AUC', False),
    'ndcg': Metric('NDCG', 'NDCG', True),
}
RANKING = ('hit_rate', 'auc', 'ndcg')  # measured on the test items

# A run says that ties decided its metrics when more of its test items
# than this tie with another ranked item (docs/ERRATA.md, "Ties").
TIE_NOTICE_SHARE = 0.01
TIE_SHARE = 'tie_share'  # its name in a run's history and final record


def label(name, k=None):
    """`name` in words, with its cut-off when given: 'hit rate@10'."""
    metric = METRICS.get(name)
    if metric is None:
        return name
    return metric.words + (f'@{k}' if k is not None and metric.at_k else '')


def short_name(name, k):
    """`name` as tables and figures head it: 'Hit@50', 'AUC'."""
    metric = METRICS.get(name)
    if metric is None:
        return name
    return metric.short + (f'@{k}' if metric.at_k else '')


class Metrics(dict):
    """What an evaluator returns: metric name -> mean over the users,
    measured at cut-off `k`. A dict, so it compares, prints and saves as
    one; `k` goes with it to the result lines, and `ties` (tied test
    items, test items), when counted, to the tie notice and the record.
    """

    def __init__(self, values=(), k=None, ties=None):
        super().__init__(values)
        self.k = k
        self.ties = ties

    @property
    def tie_share(self):
        """The share of test items that tied with another ranked item
        (None when not counted, or no test item)."""
        if not self.ties or not self.ties[1]:
            return None
        return self.ties[0] / self.ties[1]

    @classmethod
    def of(cls, result, k):
        """Any evaluator's result as `Metrics`: ours already is; a dict,
        or the chapter's ``(hit_rate, auc)``, is measured at `k`."""
        if isinstance(result, Metrics):
            return result
        ties = getattr(result, 'ties', None)
        if not isinstance(result, dict):
            hit_rate, auc = result  # the chapter's evaluator
            result = {'hit_rate': hit_rate, 'auc': auc}
        return cls({m: float(v) for m, v in result.items()}, k, ties)


def tie_placement(ordered_by_id):
    """How tied test items were placed, in words (the notices' one
    wording: a run's, an exercise's)."""
    return ("the chapter's order (ascending item id) placed them"
            if ordered_by_id else
            'they count as a random order would place them (in '
            'expectation)')


def tie_notice(metrics, ordered_by_id=False, threshold=TIE_NOTICE_SHARE):
    """A line saying that ties decided `metrics`, or None: when more than
    `threshold` of the test items tied with another ranked item."""
    share = getattr(metrics, 'tie_share', None)
    if share is None or share <= threshold:
        return None
    tied, total = metrics.ties
    how = tie_placement(ordered_by_id) + (
        ', so the printed hit rate and AUC describe the split, not the '
        'model' if ordered_by_id else '')
    return (f'notice: ties decided these metrics: {tied} of {total} test '
            f'items tied with another ranked item ({share:.0%}); {how}. '
            f'Many ties usually mean a model that learned nothing (every '
            f'score equal); see docs/ERRATA.md, "Ties"')


def hit_and_auc(rankedlist, test_matrix, k):
    """Hits in the top ``k`` of ``rankedlist``, and the chapter's AUC.

    The AUC is the fraction of the other positions ranked below the first
    test item found: ``(len - 1 - position) / (len - 1)``, 0 if none.
    Ours: NaN (undefined) for a list of the test item alone, where the
    chapter's code divides by zero.
    """
    hits_k = [(idx, val) for idx, val in enumerate(rankedlist[:k])
              if val in set(test_matrix)]
    hits_all = [(idx, val) for idx, val in enumerate(rankedlist)
                if val in set(test_matrix)]
    max = len(rankedlist) - 1
    if hits_all and max == 0:
        return len(hits_k), float('nan')
    auc = 1.0 * (max - hits_all[0][0]) / max if len(hits_all) > 0 else 0
    return len(hits_k), auc




class UndefinedMetricError(ValueError):
    """A metric the data cannot measure: undefined or certain."""


def ranked_list_lengths(user_ids, candidates, test_input, num_ranked):
    """For each of `user_ids`: how many items its full-ranking list holds
    (ids below `num_ranked` it has not trained on), and whether its test
    item is among them. Two arrays."""
    lengths = numpy.empty(len(user_ids), dtype=numpy.int64)
    listed = numpy.empty(len(user_ids), dtype=bool)
    for r, u in enumerate(user_ids):
        seen = numpy.unique(numpy.asarray(candidates.get(u, []),
                                          dtype=numpy.int64))
        lengths[r] = num_ranked - numpy.count_nonzero(seen < num_ranked)
        test = numpy.asarray(test_input[u], dtype=numpy.int64)
        listed[r] = ((test < num_ranked) & ~numpy.isin(test, seen)).any()
    return lengths, listed


def undefined_metrics(lengths, listed, k, fixed_k, user_ids, name=str,
                      k_text=None):
    """Why the full ranking cannot measure these users, or None.

    A listed test item alone in its list has no AUC (0 / 0); a list of at
    most `k` items makes a hit certain (checked unless `fixed_k`: the
    book's k = 50 is the chapter's). `name(u)` says a user in words,
    `k_text` the cut-off (default ``k = K``).
    """
    alone = numpy.flatnonzero(listed & (lengths < 2))
    if len(alone):
        return (f'user {name(user_ids[alone[0]])} (and '
                f'{len(alone) - 1} more) has no unseen item but the '
                f'held-out one, so its AUC is undefined (nothing to rank '
                f'it against) and its hit certain')
    if fixed_k:
        return None
    short = numpy.flatnonzero(lengths <= k)
    if len(short):
        r = short[numpy.argmin(lengths[short])]
        return (f'{k_text or f"k = {k}"} is at or above the '
                f'{lengths[r]} items ranked for user {name(user_ids[r])} '
                f'(its unseen items and the held-out one; {len(short)} '
                f'user(s) rank at most {k}), so a hit would be certain; '
                f'k must be below {int(lengths.min())}')
    return None


# --- Many users at once, from a chunk of scores (a row per user) ---

# Ties. A test item that `above` ranked items outscore and `tied` others
# equal sits at a place drawn uniformly from above ... above + tied when
# the tied items are put in a random order (McSherry and Najork, ECIR
# 2008). Outside the book protocol each metric is that draw's mean, so a
# tie favours no one: a model whose scores all tie scores what chance
# scores. The book protocol keeps the chapter's order instead (equal
# scores stay in ascending item id): its printed line depends on it.
TIES = ('expected', 'id')  # how a tie is ranked: in expectation, or by id


def held_out_pairs(test_input, user_ids):
    """Flatten {user: [items]} into parallel arrays over `user_ids`."""
    rows, items = [], []
    for r, u in enumerate(user_ids):
        for i in test_input[u]:
            rows.append(r)
            items.append(i)
    return numpy.asarray(rows, dtype=numpy.int64), numpy.asarray(
        items, dtype=numpy.int64)


PerUser = collections.namedtuple('PerUser', 'hit_rate auc ndcg tied')
PerUser.__doc__ = """Per-user arrays of a full ranking: Hit@k (hits
counted), AUC, NDCG@k, and how many of the user's test items tied with
another ranked item."""
SampledPerUser = collections.namedtuple('SampledPerUser',
                                        'hit_rate ndcg tied')


def discount_sums(k):
    """``D[p]``: the summed discounts ``1 / log2(q + 2)`` of places
    ``q < p``, for ``p = 0 ... k`` (a float array of length k + 1)."""
    return numpy.concatenate(([0.0], numpy.cumsum(
        1.0 / numpy.log2(numpy.arange(k) + 2.0))))


def expected_hit_and_gain(above, tied, k):
    """Mean Hit@k and mean discounted gain of an item whose place is
    uniform on ``above ... above + tied`` (arrays, or numbers): the
    share of those places below k, and the mean of ``1 / log2(p + 2)``
    over them, places at or past k counting 0. An item tied with none
    gets ``1 / log2(above + 2)`` itself, not a difference of sums."""
    above = numpy.asarray(above, dtype=numpy.int64)
    tied = numpy.asarray(tied, dtype=numpy.int64)
    sums = discount_sums(k)
    low = numpy.minimum(above, k)
    high = numpy.minimum(above + tied + 1, k)
    places = tied + 1.0
    alone = tied == 0
    hit = numpy.where(alone, above < k, (high - low) / places)
    gain = numpy.where(alone, numpy.where(
        above < k, 1.0 / numpy.log2(above + 2.0), 0.0),
        (sums[high] - sums[low]) / places)
    return hit.astype(float), gain


def expected_first(above, group, tests_in_group):
    """The mean place of the first of `tests_in_group` test items that
    share one score with `group` ranked items in all, `above` items
    scoring higher: the least of m places drawn from `group` without
    replacement has mean ``(group - m) / (m + 1)`` past `above`."""
    m = numpy.asarray(tests_in_group, dtype=float)
    return above + (group - m) / (m + 1)


def num_test_items(test_input, user_ids):
    """How many held-out items `user_ids` have in all."""
    return sum(len(test_input[u]) for u in user_ids)


def count_tied(item_ids, scores, test_items):
    """How many of `test_items` among the ranked `item_ids` share their
    score with another ranked item (one user's list)."""
    scores = numpy.asarray(scores).reshape(-1)
    place = {i: n for n, i in enumerate(item_ids)}
    return sum(1 for t in set(test_items) if t in place
               and numpy.count_nonzero(scores == scores[place[t]]) > 1)


def full_ranking_metrics(scores, user_ids, candidates, test_input,
                         num_ranked, k, ties='expected'):
    """Hit@k, AUC and NDCG@k per user, each test item ranked among the
    user's unseen items (`PerUser`, with each user's count of tied test
    items).

    `scores` is (len(user_ids), num_items); items with id >= `num_ranked`
    and the user's training items are not ranked. `ties`: ``'expected'``
    counts a tie as a random order would (the mean over its places),
    ``'id'`` keeps the chapter's order (equal scores by ascending id).
    Several test items of one user: each is a hit by the same rule, and
    the AUC is that of the first of them, as the chapter's `hit_and_auc`
    takes it. A user whose list holds only its test item has AUC NaN.
    """
    if ties not in TIES:
        raise ValueError(f'unknown ties {ties!r}: expected one of {TIES}')
    num_rows = len(user_ids)
    ranked = numpy.ones((num_rows, num_ranked), dtype=bool)
    for r, u in enumerate(user_ids):
        seen = numpy.asarray(candidates.get(u, []), dtype=numpy.int64)
        ranked[r, seen[seen < num_ranked]] = False
    sub = scores[:, :num_ranked]
    rows, items = held_out_pairs(test_input, user_ids)
    num_test = numpy.bincount(rows, minlength=num_rows)  # listed or not
    listed = items < num_ranked
    listed[listed] &= ranked[rows[listed], items[listed]]
    rows, items = rows[listed], items[listed]
    length = ranked.sum(axis=1)  # items in each user's ranked list
    tally = _tally(sub, ranked, rows, items, by_id=ties == 'id')
    if ties == 'id':  # a deterministic place: no spread
        place, spread = tally.above + tally.before, 0 * tally.equal
    else:
        place, spread = tally.above, tally.equal
    hit, gain = expected_hit_and_gain(place, spread, k)
    hits = numpy.bincount(rows, weights=hit, minlength=num_rows)
    dcg = numpy.bincount(rows, weights=gain, minlength=num_rows)
    tied = numpy.bincount(rows, weights=tally.equal > 0,
                          minlength=num_rows).astype(numpy.int64)
    first = _first_places(rows, place, tally, num_rows, ties)
    found = numpy.isfinite(first)
    auc = numpy.zeros(num_rows)
    denom = numpy.maximum(length - 1, 1)
    auc[found] = (length[found] - 1 - first[found]) / denom[found]
    # a list holding only the test item ranks it against nothing
    auc[found & (length < 2)] = numpy.nan
    ideal = discount_sums(k)[numpy.minimum(num_test, k)]
    ndcg = numpy.divide(dcg, ideal, out=numpy.zeros(num_rows),
                        where=ideal > 0)
    return PerUser(hits, auc, ndcg, tied)


Tally = collections.namedtuple('Tally', 'score above equal before')


def _tally(sub, ranked, rows, items, by_id):
    """For each test item (`rows`, `items`): its score, and how many of
    its row's ranked items score above it, equal it (itself left out)
    and, with `by_id`, equal it with a lower id. Vectorised over blocks
    of rows small enough to stay in the CPU's cache."""
    n = len(rows)
    score = numpy.empty(n, dtype=sub.dtype)
    above, equal = (numpy.empty(n, dtype=numpy.int64) for _ in range(2))
    before = numpy.zeros(n, dtype=numpy.int64)
    # blocks of about 64 K scores: their comparisons stay in the cache
    block = max(1, (1 << 16) // max(sub.shape[1], 1))
    ids = numpy.arange(sub.shape[1])
    for b0 in range(0, n, block):
        r, g = rows[b0:b0 + block], items[b0:b0 + block]
        if len(r) and (numpy.diff(r) == 1).all():  # consecutive rows
            s, m = sub[r[0]:r[-1] + 1], ranked[r[0]:r[-1] + 1]  # no copy
        else:
            s, m = sub[r], ranked[r]
        sg = s[numpy.arange(len(r)), g]
        score[b0:b0 + block] = sg
        higher = s > sg[:, None]
        higher &= m
        above[b0:b0 + block] = _count_rows(higher)
        same = s == sg[:, None]
        same &= m
        equal[b0:b0 + block] = _count_rows(same) - 1
        if by_id:
            same &= ids < g[:, None]
            before[b0:b0 + block] = _count_rows(same)
    return Tally(score, above, equal, before)


def _count_rows(flags):
    """True values in each row of a 2-D bool array (row by row: about
    5x faster than ``count_nonzero(axis=1)``, which converts first)."""
    return numpy.fromiter((numpy.count_nonzero(row) for row in flags),
                          dtype=numpy.int64, count=len(flags))


def _first_places(rows, place, tally, num_rows, ties):
    """Each row's (mean) place of its first test item; inf if none."""
    first = numpy.full(num_rows, numpy.inf)
    if ties == 'id':
        numpy.minimum.at(first, rows, place.astype(float))
        return first
    top = numpy.full(num_rows, -numpy.inf)
    numpy.maximum.at(top, rows, tally.score.astype(float))
    at_top = tally.score == top[rows]  # the best-scored test items
    m = numpy.bincount(rows[at_top], minlength=num_rows)
    above = numpy.zeros(num_rows)
    group = numpy.zeros(num_rows)
    above[rows[at_top]] = tally.above[at_top]
    group[rows[at_top]] = tally.equal[at_top] + 1
    has = m > 0
    first[has] = expected_first(above[has], group[has], m[has])
    return first


def sampled_metrics(pos_scores, neg_scores, k, ties='expected'):
    """HR@k and NDCG@k with the test item among sampled negatives.

    ``pos_scores`` (users,), ``neg_scores`` (users, num_neg). A negative
    that ties with the test item counts in expectation (`ties`
    ``'expected'``), or against it (``'last'``, as this package did
    before). Returns `SampledPerUser`: hits, NDCG and 0/1 tied.
    """
    above = (neg_scores > pos_scores[:, None]).sum(axis=1)
    equal = (neg_scores == pos_scores[:, None]).sum(axis=1)
    if ties == 'last':
        hit, gain = expected_hit_and_gain(above + equal, 0 * equal, k)
    elif ties == 'expected':
        hit, gain = expected_hit_and_gain(above, equal, k)
    else:
        raise ValueError(f"unknown ties {ties!r}: expected 'expected' or "
                         f"'last'")
    return SampledPerUser(hit, gain, (equal > 0).astype(numpy.int64))
