"""The chapter's data under the chapter's names (d2l's splitter and
loader re-exported), and `load_dataset` for every source: locate, read
(`formats`), index and split (`interactions`), the chapter's lists.
"""
import dataclasses
import os

import numpy
from .runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
from d2l import mxnet as d2l

from .datasets.formats import (FIELDS, DataFormatError, parse_separator,
                               read_interactions, table_format)
from .datasets.interactions import index_interactions, split_seq_aware
from .datasets.movielens import DATASETS, DataNotFoundError, movielens_dir

split_data_ml100k = d2l.split_data_ml100k
load_data_ml100k = d2l.load_data_ml100k


def read_data_ml100k(data_dir=None):
    """``(data, num_users, num_items)`` as d2l's reader returns, each
    line of ``u.data`` checked (`formats`)."""
    spec = DATASETS['ml-100k']
    path = os.path.join(movielens_dir(spec, data_dir), spec.ratings)
    data = read_interactions(path, spec.ratings_format).frame.drop(
        columns='line').astype({'user_id': numpy.int64,
                                'item_id': numpy.int64})
    return data, data.user_id.nunique(), data.item_id.nunique()


@dataclasses.dataclass
class ChapterData:
    """What the chapter's data cell builds, and (ours) each index's
    original id, what reading did (`summary_line` says it in words) and a
    MovieLens folder with titles, if any."""
    num_users: int
    num_items: int
    users_train: list
    items_train: list
    candidates: dict  # user index -> training item indices
    test_iter: dict   # user index -> [held-out item index]
    user_ids: numpy.ndarray = None
    item_ids: numpy.ndarray = None
    summary: dict = None
    titles_dir: str = None


def build_chapter_data(inter, titles_dir=None):
    """Split `inter` (seq-aware) into the lists and dicts d2l's
    `split_data_ml100k` and `load_data_ml100k` (implicit) build; users
    with nothing left to train on are left out of `test_iter`."""
    train_rows, test_rows = split_seq_aware(inter)
    users = inter.users[train_rows]
    num_users, num_items = len(inter.user_ids), len(inter.item_ids)
    users_train = _int_list(users, num_users)
    items_train = _int_list(inter.items[train_rows], num_items)
    # training rows are by user: each user's items are one slice
    starts = numpy.flatnonzero(numpy.r_[True, users[1:] != users[:-1]]
                               )[:len(users)].tolist()
    candidates = {users_train[s]: items_train[s:e]
                  for s, e in zip(starts, starts[1:] + [len(users)])}
    test_iter = {u: [i] for u, i in zip(inter.users[test_rows].tolist(),
                                        inter.items[test_rows].tolist())
                 if u in candidates}
    summary = dict(inter.summary, excluded_users=len(test_rows) - len(
        test_iter), train_interactions=len(users_train),
        test_users=len(test_iter))
    if not test_iter:
        raise DataFormatError(
            f"{summary['source']}: no user has two or more interactions, "
            f"so none has both a training and a test item")
    return ChapterData(num_users, num_items, users_train,
                       items_train, candidates, test_iter, inter.user_ids,
                       inter.item_ids, summary, titles_dir)


def _int_list(indices, size, chunk=1 << 20):
    """`indices` as a list of Python ints sharing one object per value
    (8 bytes an entry, not 36: MovieLens-20M's lists need 1 GB less)."""
    pool, out = list(range(size)), []
    for s in range(0, len(indices), chunk):
        out.extend(map(pool.__getitem__, indices[s:s + chunk].tolist()))
    return out


def load_chapter_data(data_dir=None):
    """MovieLens-100K as the chapter loads it (equal to d2l's)."""
    return load_dataset('ml-100k', data_dir=data_dir)


def load_dataset(dataset='ml-100k', data_dir=None, path=None, sep=None,
                 columns=FIELDS):
    """``ml-100k``, ``ml-1m``, ``ml-20m``, ``ml-25m`` (from `data_dir`,
    its variable or a download), or with `path` any CSV/TSV of `columns`
    (`sep` a tab for ``.tsv`` files, else a comma by default)."""
    ratings, fmt, folder = locate_ratings(dataset, data_dir, path, sep,
                                          columns)
    inter = index_interactions(read_interactions(ratings, fmt))
    return build_chapter_data(inter, folder)


def locate_ratings(dataset='ml-100k', data_dir=None, path=None, sep=None,
                   columns=FIELDS):
    """`load_dataset`'s file: ``(path, Format, MovieLens folder or None)``."""
    if dataset != 'table' and path is None:
        if dataset not in DATASETS:
            raise ValueError(f'unknown dataset {dataset!r}: expected one of '
                             f'{sorted(DATASETS)} or a path')
        spec = DATASETS[dataset]
        folder = movielens_dir(spec, data_dir)
        return os.path.join(folder, spec.ratings), spec.ratings_format, folder
    if path is None:
        raise ValueError("dataset 'table' needs a path")
    if os.path.isdir(path):
        raise DataFormatError(
            f'{path} is a folder; expected a CSV or TSV file of interactions '
            f'(a MovieLens folder is given with --data-dir, or data_dir=)')
    if os.path.exists(path) and not os.path.isfile(path):
        raise DataFormatError(  # /dev/stdin, <(...): a pipe
            f'{path} is a pipe or a device, not a file: d2l-ncf reads the '
            f'data more than once (to check it and to fingerprint it for '
            f'checkpoints), which a pipe cannot give; write it to a file '
            f'first and pass that')
    if not os.path.isfile(path):
        raise DataNotFoundError(
            f'{path} not found: expected a CSV or TSV file of interactions')
    if sep is None:
        sep = '\t' if path.endswith(('.tsv', '.tab')) else ','
    return path, table_format(parse_separator(sep), columns), None
