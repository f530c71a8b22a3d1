"""Ranking metrics on NumPy arrays: what is measured, and its names.

One table names every metric a run reports, for the result lines, the
plots, `compare` and `exercise`. Beside it: the chapter's Hit@k and AUC
of one ranked list (`hit_and_auc`, ported as printed), and the same
metrics for many users at once, as the fast evaluator computes them from
a chunk of scores (`full_ranking_metrics`, `sampled_metrics`), with the
checks that refuse metrics the data cannot measure. The evaluators that
score a network live in `evaluation`.
"""
import collections
import math

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
    one; `k` goes with it to the result lines."""

    def __init__(self, values=(), k=None):
        super().__init__(values)
        self.k = k

    @classmethod
    def of(cls, result, k):
        """Any evaluator's result as `Metrics`: ours already is; a dict,
        or the chapter's ``(hit_rate, auc)``, is measured at `k`."""
        if isinstance(result, Metrics):
            return result
        if not isinstance(result, dict):
            hit_rate, auc = result  # the chapter's evaluator
            result = {'hit_rate': hit_rate, 'auc': auc}
        return cls({m: float(v) for m, v in result.items()}, k)


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


def ndcg_at_k(rankedlist, test_matrix, k):
    """NDCG@k with binary relevance: DCG of the test items found in the
    top k over the DCG of a list that puts them all first."""
    test = set(test_matrix)
    dcg = sum(1.0 / math.log2(idx + 2)
              for idx, val in enumerate(rankedlist[:k]) if val in test)
    ideal = sum(1.0 / math.log2(idx + 2) for idx in range(min(len(test),
                                                              k)))
    return dcg / ideal if ideal else 0.0


def held_out_pairs(test_input, user_ids):
    """Flatten {user: [items]} into parallel arrays over `user_ids`."""
    rows, items = [], []
    for r, u in enumerate(user_ids):
        for i in test_input[u]:
            rows.append(r)
            items.append(i)
    return numpy.asarray(rows, dtype=numpy.int64), numpy.asarray(
        items, dtype=numpy.int64)


def full_ranking_metrics(scores, user_ids, candidates, test_input,
                         num_ranked, k):
    """Hit@k, AUC and NDCG@k per user, as the chapter ranks.

    `scores` is (len(user_ids), num_items); items with id >= `num_ranked`
    and the user's training items are not ranked. Returns three arrays;
    a user whose list holds only its test item has AUC NaN (undefined).
    """
    num_rows = len(user_ids)
    ranked = numpy.ones((num_rows, num_ranked), dtype=bool)
    for r, u in enumerate(user_ids):
        seen = numpy.asarray(candidates.get(u, []), dtype=numpy.int64)
        ranked[r, seen[seen < num_ranked]] = False
    sub = scores[:, :num_ranked]
    rows, items = held_out_pairs(test_input, user_ids)
    listed = items < num_ranked
    listed[listed] &= ranked[rows[listed], items[listed]]
    ids = numpy.arange(num_ranked)
    length = ranked.sum(axis=1)  # items in each user's ranked list
    hits = numpy.zeros(num_rows)
    auc = numpy.zeros(num_rows)
    dcg = numpy.zeros(num_rows)
    first = numpy.full(num_rows, numpy.iinfo(numpy.int64).max)
    for j in numpy.flatnonzero(listed):  # one vector op per test item
        r, g = rows[j], items[j]
        s = sub[r]
        # items ranked ahead of g: higher score, or equal with lower id
        ahead = (s > s[g]) | ((s == s[g]) & (ids < g))
        p = numpy.count_nonzero(ahead & ranked[r])
        if p < k:
            hits[r] += 1
            dcg[r] += 1.0 / math.log2(p + 2)
        first[r] = min(first[r], p)
    found = first < numpy.iinfo(numpy.int64).max
    denom = numpy.maximum(length - 1, 1)
    auc[found] = (length[found] - 1 - first[found]) / denom[found]
    # a list holding only the test item ranks it against nothing
    auc[found & (length < 2)] = numpy.nan
    num_test = numpy.bincount(rows, minlength=num_rows)
    ideal = numpy.array([sum(1.0 / math.log2(i + 2)
                             for i in range(min(n, k))) for n in num_test])
    ndcg = numpy.divide(dcg, ideal, out=numpy.zeros(num_rows),
                        where=ideal > 0)
    return hits, auc, ndcg


def sampled_metrics(pos_scores, neg_scores, k):
    """HR@k and NDCG@k with the test item among sampled negatives.

    ``pos_scores`` (users,), ``neg_scores`` (users, num_neg). Ties rank
    the test item last among its equals.
    """
    position = (neg_scores >= pos_scores[:, None]).sum(axis=1)
    hit = position < k
    ndcg = numpy.where(hit, 1.0 / numpy.log2(position + 2), 0.0)
    return hit.astype(float), ndcg


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


