"""The chapter's ranking metrics: Hit@k and AUC, and its evaluator.

Ported as printed (with the truncated lines completed from d2l 1.0.3),
defects included: the candidate set is ``range(num_users)``, not
``range(num_items)``, and the cut-off is a hard-coded 50. The corrected
protocol ranks every item and takes ``k``; see docs/ERRATA.md.
"""
import math

import numpy
from mxnet import gluon, np

from .model import check_finite
from .progress import bar
from .protocol import get_protocol
from .ranking import check_finite_scores, split_rows
from .stopping import check as check_stop, requested as stop_requested


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


def evaluate_ranking(net, test_input, seq, candidates, num_users, num_items,
                     devices, *, protocol='book', k=50, progress=False):
    """Rank each user's unseen items and average Hit@k and AUC.

    The book protocol is the chapter's code: items < num_users, k = 50,
    returns ``(hit_rate, auc)``. The corrected protocol ranks all items
    and returns a dict with ``hit_rate``, ``auc`` and ``ndcg`` at `k`.
    ``progress=True`` shows a bar over the users (one DataLoader each).
    """
    protocol = get_protocol(protocol)
    check_finite(net)  # ours: NaN scores would rank the test item first
    if protocol.fixed_k:
        k = 50  # the chapter's hard-coded cut-off
    ranked_list, ranked_items, hit_rate, auc, ndcg = {}, {}, [], [], []
    all_items = set([i for i in range(
        num_items if protocol.rank_all_items else num_users)])
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
        item_scores = list(zip(item_ids, scores))
        ranked_list[u] = sorted(item_scores, key=lambda t: t[1], reverse=True)
        ranked_items[u] = [r[0] for r in ranked_list[u]]
        temp = hit_and_auc(ranked_items[u], test_input[u], k)
        hit_rate.append(temp[0])
        auc.append(temp[1])
        if not protocol.fixed_k:
            ndcg.append(ndcg_at_k(ranked_items[u], test_input[u], k))
    if protocol.fixed_k:
        return np.mean(np.array(hit_rate)), np.mean(np.array(auc))
    return {'hit_rate': sum(hit_rate) / len(hit_rate),
            'auc': sum(auc) / len(auc), 'ndcg': sum(ndcg) / len(ndcg)}
