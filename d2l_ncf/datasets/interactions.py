"""Interactions after reading: index, split, summary, fingerprint.

A (user, item) pair read more than once keeps its latest line (largest
timestamp, then the later line); users and items are mapped to dense
indices in ascending order of their original ids (for ML-100K ``id - 1``,
the chapter's), and the mapping is kept. `split_seq_aware` is d2l's
seq-aware split (tested against it) without its quadratic cost.
"""
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

    @property
    def num_users(self):
        return len(self.user_ids)

    @property
    def num_items(self):
        return len(self.item_ids)


def index_interactions(ratings):
    """Drop repeated (user, item) pairs (keep the latest) and map ids."""
    df = ratings.frame  # a dropped repeat leaves its pair: ids of all rows
    user_ids, users = numpy.unique(df.user_id.to_numpy(numpy.int64),
                                   return_inverse=True)
    item_ids, items = numpy.unique(df.item_id.to_numpy(numpy.int64),
                                   return_inverse=True)
    keep = _latest_of_each_pair(users * len(item_ids) + items,
                                df.timestamp.to_numpy())
    kept = df.iloc[keep] if keep is not None else df
    if keep is not None:
        users, items = users[keep], items[keep]
    duplicates = len(df) - len(kept)
    summary = {
        'source': os.path.abspath(ratings.path), 'format': ratings.format,
        'lines_read': int(len(df)), 'blank_lines': len(ratings.blank_lines),
        'header': ratings.header, 'duplicates': int(duplicates),
        'users': int(len(user_ids)), 'items': int(len(item_ids)),
        'interactions': int(len(kept)),
        'contiguous_ids': bool(
            user_ids[-1] - user_ids[0] + 1 == len(user_ids)
            and item_ids[-1] - item_ids[0] + 1 == len(item_ids))}
    return Interactions(users.astype(numpy.int64), items.astype(numpy.int64),
                        kept.rating.to_numpy(), kept.timestamp.to_numpy(),
                        user_ids, item_ids, summary)


def _latest_of_each_pair(pairs, timestamps):
    """Rows (in file order) that are their pair's latest (largest
    timestamp, then the later line), or None when no pair repeats."""
    order = numpy.argsort(pairs, kind='stable')  # file order within pairs
    same = pairs[order[1:]] == pairs[order[:-1]]
    if not same.any():
        return None
    repeated = numpy.zeros(len(pairs), dtype=bool)
    repeated[order[1:][same]] = True
    repeated[order[:-1][same]] = True
    rows = numpy.flatnonzero(repeated)
    # by pair, then timestamp, then line: the last of each pair wins
    last = rows[numpy.lexsort((rows, timestamps[rows], pairs[rows]))]
    winner = numpy.ones(len(last), dtype=bool)
    winner[:-1] = pairs[last[1:]] != pairs[last[:-1]]
    drop = numpy.zeros(len(pairs), dtype=bool)
    drop[last[~winner]] = True
    return numpy.flatnonzero(~drop)


def split_seq_aware(inter):
    """d2l's seq-aware split: ``(train_order, test_rows)``, the training
    rows by user then time (ties in file order), and each user's latest
    (the earliest line of equal times) in order of the user's first line:
    the orders d2l's `split_data_ml100k` produces."""
    n = len(inter.users)
    # ~t reverses the order of int64 without overflow (-t does not for
    # the smallest timestamp)
    order = numpy.lexsort((numpy.arange(n), numpy.invert(inter.timestamps),
                           inter.users))
    # the first row per user in that order: its latest, earliest line
    first = numpy.ones(n, dtype=bool)
    first[1:] = inter.users[order[1:]] != inter.users[order[:-1]]
    test_rows = order[first]
    # d2l keys its test dict by first appearance of the user
    _, first_line = numpy.unique(inter.users, return_index=True)
    test_rows = test_rows[numpy.argsort(first_line[inter.users[test_rows]],
                                        kind='stable')]
    is_test = numpy.zeros(n, dtype=bool)
    is_test[test_rows] = True
    train_order = numpy.lexsort((numpy.arange(n), inter.timestamps,
                                 inter.users))
    return train_order[~is_test[train_order]], test_rows


def summary_line(summary):
    """One line saying what reading the data did."""
    parts = [f"{summary['interactions']} interactions of "
             f"{summary['users']} users on {summary['items']} items "
             f"from {summary['source']}"]
    if summary.get('header'):
        parts.append('skipped a header line')
    if summary.get('blank_lines'):
        parts.append('skipped ' + _count(summary['blank_lines'],
                                         'blank line'))
    if summary.get('duplicates'):
        parts.append('dropped ' + _count(summary['duplicates'],
                                         'repeated (user, item) line')
                     + ", keeping each pair's latest")
    if not summary.get('contiguous_ids', True):
        parts.append('ids mapped to dense indices')
    if summary.get('excluded_users'):
        parts.append(f"{_count(summary['excluded_users'], 'user')} with a "
                     f"single interaction left out of evaluation (nothing "
                     f"to train on)")
    return '; '.join(parts)


def _count(n, noun):
    return f"{n} {noun}{'' if n == 1 else 's'}"


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
