"""Ranking metrics on NumPy arrays: what is measured, and its names.

One table names every metric a run reports, for the result lines, the
plots, `compare` and `exercise`. Beside it: the chapter's Hit@k and AUC
of one ranked list (`hit_and_auc`, ported as printed); the same metrics
for many users at once, as the fast evaluator computes them from a chunk
of scores (`full_ranking_metrics`, `sampled_metrics`, from
`engine.ranking`); how a run says that ties decided its metrics; and the
checks that refuse metrics the data cannot measure. The evaluators that
score a network live in `evaluation`.
"""
import collections
import math

import numpy

# The many-user metrics, ties counted in expectation (docs/ERRATA.md,
# item 11), are computed in engine/ranking.py; re-exported here, so a
# reader of the section finds every metric in this module.
from .engine.ranking import (  # noqa: F401
    TIES, PerUser, SampledPerUser, count_tied, discount_sums,
    expected_first, expected_hit_and_gain, full_ranking_metrics,
    held_out_pairs, num_test_items, sampled_metrics)

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


def ndcg_at_k(rankedlist, test_matrix, k):
    """NDCG@k with binary relevance: DCG of the test items found in the
    top k over the DCG of a list that puts them all first."""
    test = set(test_matrix)
    dcg = sum(1.0 / math.log2(idx + 2)
              for idx, val in enumerate(rankedlist[:k]) if val in test)
    ideal = sum(1.0 / math.log2(idx + 2) for idx in range(min(len(test),
                                                              k)))
    return dcg / ideal if ideal else 0.0


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


