"""Interactions after reading: index, split, summary, fingerprint."""
import dataclasses
import hashlib
import os

import numpy


@dataclasses.dataclass
class Interactions:
    """Deduplicated interactions over dense indices, with the mapping."""
    users: numpy.ndarray  # dense user index per interaction, file order
    items: numpy.ndarray
    ratings: numpy.ndarray
    timestamps: numpy.ndarray
    user_ids: numpy.ndarray  # original id of each dense user index
    item_ids: numpy.ndarray
    summary: dict


def index_interactions(ratings):
    """Keep each (user, item) pair's latest line (largest timestamp, then
    the later line) and map ids to indices in ascending order of the ids
    (``id - 1`` for ML-100K, as in the chapter)."""
    df = ratings.frame  # a dropped repeat leaves its pair: ids of all rows
    user_ids, users = numpy.unique(df.user_id.to_numpy(numpy.int64),
                                   return_inverse=True)
    item_ids, items = numpy.unique(df.item_id.to_numpy(numpy.int64),
                                   return_inverse=True)
    pairs, keep = users * len(item_ids) + items, slice(None)
    if len(numpy.unique(pairs)) < len(pairs):  # the latest, then last line
        order = numpy.lexsort((numpy.arange(len(pairs)),
                               df.timestamp.to_numpy(), pairs))
        keep = numpy.sort(order[numpy.r_[pairs[order[1:]] != pairs[
            order[:-1]], True]])
    kept = df.iloc[keep]
    summary = {
        'source': os.path.abspath(ratings.path), 'format': ratings.format,
        'lines_read': len(df), 'blank_lines': len(ratings.blank_lines),
        'header': ratings.header, 'duplicates': len(df) - len(kept),
        'users': len(user_ids), 'items': len(item_ids),
        'interactions': len(kept), 'contiguous_ids': bool(
            user_ids[-1] - user_ids[0] + 1 == len(user_ids)
            and item_ids[-1] - item_ids[0] + 1 == len(item_ids))}
    return Interactions(users[keep].astype(numpy.int64),
                        items[keep].astype(numpy.int64),
                        kept.rating.to_numpy(), kept.timestamp.to_numpy(),
                        user_ids, item_ids, summary)


def split_seq_aware(inter):
    """d2l's seq-aware split without its quadratic cost: the training rows
    by user then time (ties in file order), and each user's latest (of
    equal times the earliest line) in order of the user's first line."""
    users, lines = inter.users, numpy.arange(len(inter.users))
    # ~t reverses int64's order without overflow (-t does not for the
    # smallest); the first row of each user is then its test row
    order = numpy.lexsort((lines, numpy.invert(inter.timestamps), users))
    test_rows = order[numpy.r_[True, users[order[1:]] != users[order[:-1]]]]
    _, first_line = numpy.unique(users, return_index=True)
    test_rows = test_rows[numpy.argsort(first_line[users[test_rows]],
                                        kind='stable')]
    is_test = numpy.zeros(len(users), dtype=bool)
    is_test[test_rows] = True
    train_order = numpy.lexsort((lines, inter.timestamps, users))
    return train_order[~is_test[train_order]], test_rows


def summary_line(summary):
    """One line saying what reading the data did."""
    def count(n, noun):
        return f"{n} {noun}{'' if n == 1 else 's'}"
    get = summary.get
    parts = [f"{get('interactions')} interactions of {get('users')} users "
             f"on {get('items')} items from {get('source')}",
             get('header') and 'skipped a header line',
             get('blank_lines') and 'skipped ' + count(get('blank_lines'),
                                                       'blank line'),
             get('duplicates') and 'dropped ' + count(
                 get('duplicates'), 'repeated (user, item) line')
             + ", keeping each pair's latest",
             not get('contiguous_ids', True) and 'ids mapped to dense indices',
             get('excluded_users') and count(get('excluded_users'), 'user')
             + ' with a single interaction left out of evaluation (nothing '
               'to train on)']
    return '; '.join(p for p in parts if p)


def interactions_by_user(data):
    """Every user's items, training and test, as CSR (indptr, indices)."""
    seen = [sorted(set(data.candidates.get(u, []))
                   | set(data.test_iter.get(u, [])))
            for u in range(data.num_users)]
    indptr = numpy.cumsum([0] + [len(s) for s in seen]).astype(numpy.int64)
    indices = numpy.fromiter((i for s in seen for i in s), numpy.int64,
                             count=int(indptr[-1]))
    return indptr, indices


def fingerprint(data):
    """SHA-256 of the ids and the split: equal data, equal fingerprint."""
    h = hashlib.sha256()
    for array in (data.user_ids, data.item_ids, data.users_train,
                  data.items_train):
        h.update(numpy.ascontiguousarray(array, numpy.int64).tobytes())
    h.update(repr(sorted(data.test_iter.items())).encode())
    return h.hexdigest()
