"""Evaluating a network: score (user, item) pairs, rank, average.

Two evaluations (`protocol.EVALS`):

- ``full``: each user's test item is ranked among the items the user has
  not interacted with in training, as the chapter's `evaluate_ranking`
  does. Under the book protocol only items with id < num_users are
  ranked and equal scores keep ascending item id, exactly as the
  chapter's code does; corrected, every item is ranked and a tie counts
  as a random order of the tied items would (`metrics`, "Ties").
- ``sampled``: the NCF paper's protocol, the test item ranked among 99
  unseen items sampled once per run (seeded), ties in expectation: a
  constant model scores what chance scores (HR@10 0.1).

`RankingEvaluator` is the fast one, `evaluate_ranking` the chapter's port;
both return `metrics.Metrics` (the chapter's ``(hit_rate, auc)`` under
the book protocol, as printed). The metrics themselves are in `metrics`.
"""
import numpy
from .runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
from mxnet import gluon, np
from mxnet.gluon import nn

from .engine.sampling import EVAL_NEGATIVES, sample_eval_negatives
from .engine.chunking import EVAL_CHUNK, rows_per_chunk
from .engine.scoring import (check_finite, check_finite_scores, grid_pairs,
                             listed_pairs, score_rows, split_rows)
from .metrics import (Metrics, UndefinedMetricError, count_tied,
                      full_ranking_metrics, hit_and_auc, num_test_items,
                      ranked_list_lengths, sampled_metrics,
                      undefined_metrics)
from .protocol import EVALS, get_protocol
from .runtime.progress import bar
from .runtime.stopping import check as check_stop
from .runtime.stopping import requested as stop_requested


class RankingEvaluator:
    """A fast stand-in for the chapter's `evaluate_ranking`.

    Called with the chapter's arguments, it returns `metrics.Metrics`:
    ``hit_rate`` and ``auc`` (and ``ndcg``) for ``eval='full'``,
    ``hit_rate`` and ``ndcg`` for ``eval='sampled'``, at its ``k`` (the
    protocol's cut-off, `protocol.Protocol.cutoff`).
    Users are scored and ranked in chunks of at most `chunk_size` pairs
    (users x items), so memory stays bounded on a large catalogue; the
    metrics are the same, bit for bit, whatever the chunk size.
    """

    def __init__(self, protocol='book', k=None, eval='full',
                 num_neg=EVAL_NEGATIVES,
                 seed=0, chunk_size=EVAL_CHUNK):
        self.protocol = get_protocol(protocol)
        if eval not in EVALS:
            raise ValueError(f'unknown eval {eval!r}: expected one of '
                             f'{EVALS}')
        self.protocol.check(eval=eval, k=k)
        self.k = self.protocol.cutoff(k, eval)
        if eval == 'sampled' and self.k > num_neg:
            raise UndefinedMetricError(
                f'k = {self.k} is at or above the {num_neg + 1} items of '
                f'each sampled list ({num_neg} negatives and the held-out '
                f'item): every hit would be certain; k must be at most '
                f'{num_neg}')
        self.eval, self.num_neg, self.seed = eval, num_neg, seed
        rows_per_chunk(1, chunk_size)  # refuses a size below 1
        self.chunk_size = chunk_size
        self._negatives, self._checked = None, None

    def __call__(self, net, test_input, seq, candidates, num_users,
                 num_items, devices):
        check_tables(net, num_users, num_items)
        user_ids = [u for u in range(num_users) if u in test_input]
        if not user_ids:
            raise UndefinedMetricError(
                f'no user among the {num_users} has a test item: there is '
                f'nothing to evaluate (the test set is empty)')
        if self.eval == 'sampled':
            return self._sampled(net, test_input, candidates, num_items,
                                 devices, user_ids)
        num_ranked = num_items if self.protocol.rank_all_items else num_users
        self._check_defined(user_ids, candidates, test_input, num_ranked)
        per_user = [full_ranking_metrics(
            scores, user_ids[r0:r1], candidates, test_input, num_ranked,
            self.k, self.protocol.ties) for r0, r1, scores in score_rows(
                net, grid_pairs(user_ids, num_ranked), len(user_ids),
                num_ranked, devices,
                rows_per_chunk(num_ranked, self.chunk_size))] or [
            full_ranking_metrics(numpy.zeros((0, num_ranked), 'float32'),
                                 [], candidates, test_input, num_ranked,
                                 self.k, self.protocol.ties)]
        hits, auc, ndcg, tied = (numpy.concatenate(m)
                                 for m in zip(*per_user))
        ties = (int(tied.sum()), num_test_items(test_input, user_ids))
        if self.protocol.fixed_k:  # the chapter's (hit_rate, auc)
            return ChapterResult((float(hits.mean()), float(auc.mean())),
                                 ties)
        return Metrics({'hit_rate': float(hits.mean()),
                        'auc': float(auc.mean()),
                        'ndcg': float(ndcg.mean())}, self.k, ties=ties)

    def _check_defined(self, user_ids, candidates, test_input, num_ranked):
        """Refuse data whose full-ranking metrics are undefined or certain
        (once per data: every epoch passes the same)."""
        done = self._checked
        if (done is not None and done[0] is candidates
                and done[1] is test_input
                and done[2:] == (num_ranked, len(user_ids))):
            return
        why = undefined_metrics(*ranked_list_lengths(
            user_ids, candidates, test_input, num_ranked), self.k,
            self.protocol.fixed_k, user_ids, name=lambda u: f'index {u}')
        if why:
            raise UndefinedMetricError(why)
        self._checked = (candidates, test_input, num_ranked, len(user_ids))

    def _sampled(self, net, test_input, candidates, num_items, devices,
                 user_ids):
        if self._negatives is None:  # the same negatives every epoch
            rng = numpy.random.RandomState(self.seed)
            self._negatives = sample_eval_negatives(
                candidates, test_input, num_items, user_ids, rng,
                self.num_neg)
        negs = self._negatives
        tests = numpy.array([test_input[u][0] for u in user_ids])
        users = numpy.asarray(user_ids, dtype=numpy.int64)
        chunk_rows = rows_per_chunk(negs.shape[1], self.chunk_size)
        per_user = [sampled_metrics(pos.reshape(-1), neg, self.k)
                    for (_, _, pos), (_, _, neg) in zip(
                        score_rows(net, listed_pairs(users, tests[:, None]),
                                   len(users), 1, devices, chunk_rows),
                        score_rows(net, listed_pairs(users, negs),
                                   len(users), negs.shape[1], devices,
                                   chunk_rows))]
        hit, ndcg, tied = (numpy.concatenate(m) for m in zip(*per_user or [
            (numpy.zeros(0), numpy.zeros(0), numpy.zeros(0, int))]))
        return Metrics({'hit_rate': float(hit.mean()),
                        'ndcg': float(ndcg.mean())}, self.k,
                       ties=(int(tied.sum()), len(tied)))


# The embedding tables of the package's models, by what they index.
USER_TABLES, ITEM_TABLES = ('P', 'U', 'user_bias'), ('Q', 'V', 'item_bias',
                                                      'counts')


def check_tables(net, num_users, num_items):
    """Refuse to rank users or items beyond `net`'s embedding tables:
    MXNet would clip their indices to the last row and score that row."""
    for names, count, what in ((USER_TABLES, num_users, 'users'),
                               (ITEM_TABLES, num_items, 'items')):
        for name in names:
            table = getattr(net, name, None)
            if not isinstance(table, nn.Embedding):
                continue
            rows = table.weight.shape[0]
            if count > rows:
                raise ValueError(
                    f'the evaluator was asked to rank {count} {what}, but '
                    f'the network\'s table {name} has {rows} rows: indices '
                    f'beyond it would be clipped to its last row; pass the '
                    f'num_{what} the network was built with')


class ChapterResult(tuple):
    """The chapter's ``(hit_rate, auc)``, as printed, with the count of
    tied test items beside it (``ties``: tied, test items)."""

    def __new__(cls, values, ties):
        result = super().__new__(cls, values)
        result.ties = ties
        return result


def evaluate_ranking(net, test_input, seq, candidates, num_users, num_items,
                     devices, *, protocol='book', k=None, progress=False):
    """Rank each user's unseen items and average Hit@k and AUC.

    The book protocol is the chapter's code: items < num_users, its fixed
    k, ties in id order; returns ``(hit_rate, auc)`` as printed (with the
    tie count as ``.ties``). The corrected protocol ranks all items,
    counts ties in expectation (`metrics.full_ranking_metrics`) and
    returns `metrics.Metrics` with ``hit_rate``, ``auc`` and ``ndcg`` at
    `k` (default: the protocol's cut-off).
    ``progress=True`` shows a bar over the users (one DataLoader each).
    """
    protocol = get_protocol(protocol)
    check_finite(net)  # ours: NaN scores would rank the test item first
    k = protocol.cutoff(k)  # the book's: the chapter's hard-coded 50
    ranked_list, ranked_items, hit_rate, auc, ndcg = {}, {}, [], [], []
    tied = 0  # ours: test items tied with another ranked item
    num_ranked = num_items if protocol.rank_all_items else num_users
    all_items = set([i for i in range(num_ranked)])
    users = bar(range(num_users), progress, desc='evaluate', leave=False,
                unit='user')
    for u in users:
        if stop_requested() is not None:  # ours: SIGINT/SIGTERM
            users.close()
            check_stop()
        if u not in test_input:  # ours: no training item, not evaluated
            continue
        neg_items = list(all_items - set(candidates[int(u)]))
        user_ids, item_ids, x, scores = [], [], [], []
        [item_ids.append(i) for i in neg_items]
        [user_ids.append(u) for _ in neg_items]
        x.extend([np.array(user_ids)])
        if seq is not None:
            x.append(seq[user_ids, :])
        x.extend([np.array(item_ids)])
        test_data_iter = gluon.data.DataLoader(
            gluon.data.ArrayDataset(*x), shuffle=False, last_batch="keep",
            batch_size=1024)
        for index, values in enumerate(test_data_iter):
            # ours: split_rows leaves no device an empty slice
            x = [split_rows(v, devices) for v in values]
            scores.extend([list(net(*t).asnumpy()) for t in zip(*x)])
        scores = [item for sublist in scores for item in sublist]
        check_finite_scores(numpy.asarray(scores, dtype=numpy.float32))
        if protocol.ties != 'id':  # ours: ties in expectation
            row = numpy.zeros((1, num_ranked), dtype=numpy.float32)
            row[0, item_ids] = numpy.asarray(scores, numpy.float32).reshape(-1)
            one = full_ranking_metrics(row, [u], candidates, test_input,
                                       num_ranked, k, protocol.ties)
            hit_rate.append(float(one.hit_rate[0]))
            auc.append(float(one.auc[0]))
            ndcg.append(float(one.ndcg[0]))
            tied += int(one.tied[0])
            continue
        item_scores = list(zip(item_ids, scores))
        ranked_list[u] = sorted(item_scores, key=lambda t: t[1], reverse=True)
        ranked_items[u] = [r[0] for r in ranked_list[u]]
        temp = hit_and_auc(ranked_items[u], test_input[u], k)
        hit_rate.append(temp[0])
        auc.append(temp[1])
        tied += count_tied(item_ids, scores, test_input[u])
    ties = (tied, num_test_items(test_input, [
        u for u in range(num_users) if u in test_input]))
    if protocol.fixed_k:
        return ChapterResult((np.mean(np.array(hit_rate)),
                              np.mean(np.array(auc))), ties)
    return Metrics({'hit_rate': sum(hit_rate) / len(hit_rate),
                    'auc': sum(auc) / len(auc),
                    'ndcg': sum(ndcg) / len(ndcg)}, k, ties)
