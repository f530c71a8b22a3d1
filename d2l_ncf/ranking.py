"""Fast ranking evaluation: score pairs in large batches, rank with NumPy.

Two protocols of evaluation:

- ``full``: each user's test item is ranked among the items the user has
  not interacted with in training, as the chapter's `evaluate_ranking`
  does, with its tie-break (equal scores keep ascending item id). Under
  the book protocol only items with id < num_users are ranked, exactly
  as the chapter's code does; corrected, every item is.
- ``sampled``: the NCF paper's protocol, the test item ranked among 99
  unseen items sampled once per run (seeded); ties count against the
  test item, so a constant model scores 0.
"""
import math

import numpy
from mxnet import gluon

from .model import NonFiniteModelError, check_finite
from .protocol import get_protocol
from .stopping import check as check_stop

EVALS = ('full', 'sampled')


def split_rows(array, devices):
    """`array`'s rows over `devices`, leaving none empty: with fewer rows
    than devices, only the first few devices get one each."""
    devices = devices[:max(1, min(len(devices), len(array)))]
    return gluon.utils.split_and_load(array, devices, even_split=False)


# Pairs scored per forward call. A batch's shape can change the last bits
# of its scores (the kernels block by rows), so every scorer here cuts a
# stream of pairs into batches at the same offsets, however it is chunked.
SCORE_BATCH = 1 << 17
# Pairs (users x items) scored and ranked at once by the evaluator: about
# 16 MB of float32 scores, so memory stays bounded on any catalogue.
EVAL_CHUNK = 1 << 22


def score_batch(net, users, items, devices):
    """Scores of one batch of pairs, split over `devices`, as float32."""
    out = [net(a, b).asnumpy().reshape(-1) for a, b in zip(
        split_rows(users, devices), split_rows(items, devices))]
    return numpy.concatenate(out)


def score_pairs(net, users, items, devices, batch_size=SCORE_BATCH):
    """Scores of ``net(users[j], items[j])`` as a float32 NumPy vector.

    Refuses (`NonFiniteModelError`) a network whose parameters or scores
    are not finite: NaN scores would rank the held-out item first.
    """
    check_finite(net)
    out = [score_batch(net, users[start:start + batch_size],
                       items[start:start + batch_size], devices)
           for start in range(0, len(users), batch_size)]
    scores = numpy.concatenate(out) if out else numpy.zeros(0, 'float32')
    check_finite_scores(scores)
    return scores


def check_finite_scores(scores):
    """Raise `NonFiniteModelError` if any score is NaN or infinite."""
    bad = numpy.count_nonzero(~numpy.isfinite(scores))
    if bad:
        raise NonFiniteModelError(
            f'{bad} of {len(scores)} scores are not finite (NaN or inf): '
            f'the network overflows, and a ranking of such scores is '
            f'meaningless, so it is not evaluated')


def rows_per_chunk(width, chunk_size=EVAL_CHUNK):
    """Rows of `width` pairs in a chunk of at most `chunk_size` pairs (at
    least one row)."""
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, not {chunk_size}')
    return max(1, chunk_size // max(width, 1))


def score_rows(net, pairs, num_rows, width, devices, chunk_rows,
               batch_size=SCORE_BATCH):
    """Scores of a (num_rows, width) grid of pairs, `chunk_rows` rows at a
    time: yields ``(r0, r1, scores)`` with scores of shape (r1 - r0,
    width).

    ``pairs(start, stop)`` gives the users and items of the grid's pairs
    start..stop-1 in row-major order. They are scored in batches of
    `batch_size` at the offsets one call over the whole grid would use,
    so every chunk size gives the same scores, bit for bit; memory holds
    one chunk and one batch. Refuses a network (or a chunk's scores) that
    is not finite, as `score_pairs` does.
    """
    check_finite(net)
    total = num_rows * width
    done, carry = 0, numpy.zeros(0, 'float32')  # scored, not yet yielded
    for r0 in range(0, num_rows, chunk_rows):
        check_stop()  # SIGINT/SIGTERM: a safe point between chunks
        r1 = min(num_rows, r0 + chunk_rows)
        end = r1 * width
        parts = [carry]
        while done < end:
            stop = min(done + batch_size, total)
            parts.append(score_batch(net, *pairs(done, stop), devices))
            done = stop
        scores = numpy.concatenate(parts)
        take = (r1 - r0) * width
        chunk, carry = scores[:take], scores[take:]
        check_finite_scores(chunk)
        yield r0, r1, chunk.reshape(r1 - r0, width)


def grid_pairs(user_ids, num_items):
    """`score_rows`' pairs for every item of each of `user_ids`."""
    user_ids = numpy.asarray(user_ids, dtype=numpy.int64)

    def pairs(start, stop):
        flat = numpy.arange(start, stop, dtype=numpy.int64)
        return user_ids[flat // num_items], flat % num_items
    return pairs


def listed_pairs(users, items):
    """`score_rows`' pairs from a (rows, width) array of `items`, row r
    paired with `users[r]`."""
    users = numpy.asarray(users, dtype=numpy.int64)
    items = numpy.asarray(items, dtype=numpy.int64)
    width = items.shape[1]
    flat_items = items.reshape(-1)

    def pairs(start, stop):
        flat = numpy.arange(start, stop, dtype=numpy.int64)
        return users[flat // width], flat_items[start:stop]
    return pairs


def score_matrix(net, num_users, num_items, devices, user_ids=None):
    """Scores of every item for each of `user_ids`: (users, num_items)."""
    user_ids = (numpy.arange(num_users) if user_ids is None
                else numpy.asarray(user_ids))
    chunks = [s for _, _, s in score_rows(
        net, grid_pairs(user_ids, num_items), len(user_ids), num_items,
        devices, max(1, len(user_ids)))]
    return (chunks[0] if chunks
            else numpy.zeros((0, num_items), 'float32'))


def _test_pairs(test_input, user_ids):
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
    rows, items = _test_pairs(test_input, user_ids)
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


def sample_eval_negatives(candidates, test_input, num_items, user_ids, rng,
                          num_neg=99):
    """For each user, `num_neg` distinct items it has neither trained on
    nor holds out for test: (len(user_ids), num_neg)."""
    out = numpy.empty((len(user_ids), num_neg), dtype=numpy.int64)
    for r, u in enumerate(user_ids):
        excluded = set(candidates.get(u, [])) | set(test_input[u])
        pool = numpy.setdiff1d(numpy.arange(num_items),
                               numpy.fromiter(excluded, numpy.int64))
        if len(pool) < num_neg:
            raise ValueError(f'user {u} has only {len(pool)} unseen items, '
                             f'fewer than the {num_neg} to sample')
        out[r] = rng.choice(pool, num_neg, replace=False)
    return out


def sampled_metrics(pos_scores, neg_scores, k):
    """HR@k and NDCG@k with the test item among sampled negatives.

    ``pos_scores`` (users,), ``neg_scores`` (users, num_neg). Ties rank
    the test item last among its equals.
    """
    position = (neg_scores >= pos_scores[:, None]).sum(axis=1)
    hit = position < k
    ndcg = numpy.where(hit, 1.0 / numpy.log2(position + 2), 0.0)
    return hit.astype(float), ndcg


class RankingEvaluator:
    """A fast stand-in for the chapter's `evaluate_ranking`.

    Called with the chapter's arguments, it returns a dict of metrics:
    ``hit_rate`` and ``auc`` (and ``ndcg``) for ``eval='full'``,
    ``hit_rate`` and ``ndcg`` at k (default 10) for ``eval='sampled'``.
    Users are scored and ranked in chunks of at most `chunk_size` pairs
    (users x items), so memory stays bounded on a large catalogue; the
    metrics are the same, bit for bit, whatever the chunk size.
    """

    def __init__(self, protocol='book', k=None, eval='full', num_neg=99,
                 seed=0, chunk_size=EVAL_CHUNK):
        self.protocol = get_protocol(protocol)
        if eval not in EVALS:
            raise ValueError(f'unknown eval {eval!r}: expected one of '
                             f'{EVALS}')
        if eval == 'sampled' and not self.protocol.rank_all_items:
            raise ValueError("eval='sampled' belongs to the corrected "
                             "protocol")
        default_k = 10 if eval == 'sampled' else 50
        if self.protocol.fixed_k and k not in (None, 50):
            raise ValueError('the book protocol fixes k = 50, as the '
                             'chapter does; use the corrected protocol')
        self.k = default_k if k is None else k
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
        user_ids = [u for u in range(num_users) if u in test_input]
        if self.eval == 'sampled':
            return self._sampled(net, test_input, candidates, num_items,
                                 devices, user_ids)
        num_ranked = num_items if self.protocol.rank_all_items else num_users
        self._check_defined(user_ids, candidates, test_input, num_ranked)
        per_user = [full_ranking_metrics(
            scores, user_ids[r0:r1], candidates, test_input, num_ranked,
            self.k) for r0, r1, scores in score_rows(
                net, grid_pairs(user_ids, num_ranked), len(user_ids),
                num_ranked, devices,
                rows_per_chunk(num_ranked, self.chunk_size))] or [
            full_ranking_metrics(numpy.zeros((0, num_ranked), 'float32'),
                                 [], candidates, test_input, num_ranked,
                                 self.k)]
        hits, auc, ndcg = (numpy.concatenate(m) for m in zip(*per_user))
        result = {'hit_rate': float(hits.mean()), 'auc': float(auc.mean())}
        if not self.protocol.fixed_k:
            result['ndcg'] = float(ndcg.mean())
        return result

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
        hit, ndcg = (numpy.concatenate(m) for m in zip(*per_user or [
            (numpy.zeros(0), numpy.zeros(0))]))
        return {'hit_rate': float(hit.mean()), 'ndcg': float(ndcg.mean())}
