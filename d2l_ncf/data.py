"""MovieLens as the chapter reads it, other data sets, and its sampler.

`read_data_ml100k` looks for ``u.data`` in ``data_dir``, then in the
folder named by ``D2L_NCF_DATA_DIR``, and only then downloads the zip the
way d2l does (its DATA_HUB URL and SHA-1). MovieLens-1M works the same
way (``$D2L_NCF_ML1M_DIR``; GroupLens' published MD5), and so do
MovieLens-20M and -25M (``$D2L_NCF_ML20M_DIR``, ``$D2L_NCF_ML25M_DIR``;
``ratings.csv`` with GroupLens' header). Reading, ids and
the seq-aware split are in `datasets`; the split equals d2l's own
``split_data_ml100k`` and ``load_data_ml100k``, which we re-export.
"""
import csv
import dataclasses
import hashlib
import os
import random
import zipfile

import numpy
import pandas as pd
from d2l import mxnet as d2l
from mxnet import gluon

from .datasets import (FIELDS, ML1M, ML20M, UDATA, DataFormatError,
                       index_interactions, parse_separator,
                       read_interactions, split_seq_aware, table_format)

ML100K_URL, ML100K_SHA1 = d2l.DATA_HUB['ml-100k']
DATA_DIR_ENV = 'D2L_NCF_DATA_DIR'
CACHE_ENV = 'D2L_NCF_CACHE'
COLUMNS = ['user_id', 'item_id', 'rating', 'timestamp']

# d2l's own splitter and loader, unchanged.
split_data_ml100k = d2l.split_data_ml100k
load_data_ml100k = d2l.load_data_ml100k


@dataclasses.dataclass(frozen=True)
class MovieLens:
    """Where a MovieLens set comes from and which files it holds."""
    name: str
    url: str
    hash_name: str  # 'sha1' (d2l's DATA_HUB) or 'md5' (GroupLens')
    digest: str
    env: str  # names a local copy of the unzipped folder
    ratings: str
    items: str  # titles
    items_sep: str  # ',' means a quoted CSV file with a header
    items_encoding: str = 'latin-1'
    ratings_format: object = ML1M


def _grouplens_csv(size):
    return MovieLens(
        f'MovieLens-{size.upper()}',
        f'https://files.grouplens.org/datasets/movielens/ml-{size}.zip',
        'md5', GROUPLENS_MD5[size], f'D2L_NCF_ML{size.upper()}_DIR',
        'ratings.csv', 'movies.csv', ',', 'utf-8', ML20M)


# The MD5s GroupLens publishes beside the zips (ml-20m.zip.md5,
# ml-25m.zip.md5). This machine has no network: the values were not read
# from GroupLens here but checked offline against several independent
# public records that quote those files and agree. A download whose MD5
# differs is refused (`download_movielens`).
GROUPLENS_MD5 = {'20m': 'cd245b17a1ae2cc31bb14903e1204af3',
                 '25m': '6b51fb2759a8657d3bfcbfc42b592ada'}

DATASETS = {
    'ml-100k': MovieLens('MovieLens-100K', ML100K_URL, 'sha1', ML100K_SHA1,
                         DATA_DIR_ENV, 'u.data', 'u.item', '|', 'latin-1',
                         UDATA),
    # GroupLens publishes ml-1m.zip.md5 beside the zip.
    'ml-1m': MovieLens(
        'MovieLens-1M',
        'https://files.grouplens.org/datasets/movielens/ml-1m.zip', 'md5',
        'c4d9eecfca2ab87c1945afe126590906', 'D2L_NCF_ML1M_DIR',
        'ratings.dat', 'movies.dat', '::'),
    # ratings.csv: userId,movieId,rating,timestamp (half-star ratings)
    'ml-20m': _grouplens_csv('20m'),
    'ml-25m': _grouplens_csv('25m'),
}


class DataNotFoundError(FileNotFoundError):
    """No local copy of the data and no way to download it."""


def default_cache_dir():
    """Where downloads go: ``$D2L_NCF_CACHE`` or ``~/.cache/d2l_ncf``."""
    return os.environ.get(CACHE_ENV) or os.path.join(
        os.path.expanduser('~'), '.cache', 'd2l_ncf')


def ml100k_dir(data_dir=None):
    """Return a folder holding MovieLens-100K's ``u.data``."""
    return movielens_dir(DATASETS['ml-100k'], data_dir)


def movielens_dir(spec, data_dir=None):
    """A folder holding `spec`'s ratings: given, from its env, or fetched."""
    if data_dir is None:
        data_dir = os.environ.get(spec.env) or None
        origin = f'${spec.env}'
    else:
        origin = 'data_dir'
    if data_dir is not None:
        path = os.path.join(data_dir, spec.ratings)
        if os.path.isfile(data_dir):
            raise DataNotFoundError(
                f'{data_dir} is a file ({origin}); expected the unzipped '
                f'{spec.name} folder, which holds {spec.ratings} (a CSV/TSV '
                f'file is given with --data, or path=)')
        if not os.path.isfile(path):
            raise DataNotFoundError(
                f'{path} not found ({origin} = {data_dir!r}): expected the '
                f'unzipped {spec.name} folder, which holds {spec.ratings}')
        return data_dir
    return download_movielens(spec)


def download_ml100k(cache_dir=None):
    """Download and unzip ml-100k.zip into the cache, checking its SHA-1."""
    return download_movielens(DATASETS['ml-100k'], cache_dir)


def download_movielens(spec, cache_dir=None):
    """Download and unzip `spec`'s zip into the cache, checking it."""
    cache_dir = cache_dir or default_cache_dir()
    zip_name = spec.url.split('/')[-1]
    folder = os.path.join(cache_dir, zip_name[:-len('.zip')])
    try:
        # d2l checks a cached copy's SHA-1 itself; an MD5 we check below
        fname = os.path.join(cache_dir, zip_name)
        if not (spec.hash_name == 'md5' and os.path.isfile(fname)
                and file_digest(fname, 'md5') == spec.digest):
            fname = d2l.download(spec.url, cache_dir, spec.digest
                                 if spec.hash_name == 'sha1' else None)
    except Exception as err:  # requests raises several kinds offline
        raise DataNotFoundError(
            f'could not download {spec.name} from {spec.url} '
            f'({type(err).__name__}). Point d2l_ncf at a local copy of the '
            f'unzipped folder instead: pass data_dir= (or --data-dir on the '
            f'command line), or set {spec.env}=/path/to/'
            f'{os.path.basename(folder)}') from err
    digest = file_digest(fname, spec.hash_name)
    if digest != spec.digest:
        raise DataNotFoundError(
            f'{fname} has {spec.hash_name.upper().replace("SHA1", "SHA-1")} '
            f'{digest}, expected {spec.digest}: the download is damaged; '
            f'delete it and try again')
    if not os.path.isfile(os.path.join(folder, spec.ratings)):
        with zipfile.ZipFile(fname) as archive:
            archive.extractall(cache_dir)
    return folder


def file_digest(fname, hash_name='sha1'):
    """The hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.new(hash_name)
    with open(fname, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def read_ratings(path):
    """Read a ``u.data`` file: tab-separated user, item, rating, time.

    Every field must be a whole number; the first bad line is reported
    with its file and line number (`datasets.read_interactions`).
    """
    frame = read_interactions(path, UDATA).frame
    frame = frame.astype({'user_id': numpy.int64, 'item_id': numpy.int64})
    return frame.drop(columns='line').set_axis(COLUMNS, axis=1)


def read_data_ml100k(data_dir=None):
    """Return ``(data, num_users, num_items)`` as d2l's reader does."""
    data = read_ratings(os.path.join(ml100k_dir(data_dir), 'u.data'))
    num_users = data.user_id.unique().shape[0]
    num_items = data.item_id.unique().shape[0]
    return data, num_users, num_items


class PRDataset(gluon.data.Dataset):
    """The chapter's dataset: (user, positive item, one random negative).

    The negative is drawn uniformly from the items the user has not
    interacted with in training, with Python's ``random`` module.
    """
    def __init__(self, users, items, candidates, num_items):
        self.users = users
        self.items = items
        self.cand = candidates
        self.all = set([i for i in range(num_items)])

    def __len__(self):
        return len(self.users)

    def __getitem__(self, idx):
        neg_items = list(self.all - set(self.cand[int(self.users[idx])]))
        indices = random.randint(0, len(neg_items) - 1)
        return self.users[idx], self.items[idx], neg_items[indices]


@dataclasses.dataclass
class ChapterData:
    """What the chapter's data cell builds, kept together."""
    num_users: int
    num_items: int
    users_train: list
    items_train: list
    candidates: dict  # user index -> training item indices
    test_iter: dict   # user index -> [held-out item index]
    # Ours: the original id of each user and item index, and what reading
    # the file did (datasets.summary_line says it in words).
    user_ids: numpy.ndarray = None
    item_ids: numpy.ndarray = None
    summary: dict = None
    titles_dir: str = None  # a MovieLens folder with titles, if any


def build_chapter_data(inter, titles_dir=None):
    """Split `inter` (seq-aware) and load it as the chapter does.

    The same lists and dicts as d2l's `split_data_ml100k` and
    `load_data_ml100k` (implicit feedback) build, over dense indices.
    Users with nothing left to train on are left out of `test_iter`.
    """
    train_rows, test_rows = split_seq_aware(inter)
    users = inter.users[train_rows]
    users_train = _int_list(users, inter.num_users)
    items_train = _int_list(inter.items[train_rows], inter.num_items)
    # training rows are by user: each user's items are one slice
    starts = numpy.flatnonzero(numpy.r_[True, users[1:] != users[:-1]]
                               )[:len(users)]
    ends = numpy.r_[starts[1:], len(users)].tolist()
    candidates = {users_train[s]: items_train[s:e]
                  for s, e in zip(starts.tolist(), ends)}
    test_iter, excluded = {}, 0
    for u, i in zip(inter.users[test_rows].tolist(),
                    inter.items[test_rows].tolist()):
        if u in candidates:
            test_iter[u] = [i]
        else:
            excluded += 1
    summary = dict(inter.summary, excluded_users=excluded,
                   train_interactions=len(users_train),
                   test_users=len(test_iter))
    if not test_iter:
        raise DataFormatError(
            f"{summary['source']}: no user has two or more interactions, "
            f"so none has both a training and a test item")
    return ChapterData(inter.num_users, inter.num_items, users_train,
                       items_train, candidates, test_iter, inter.user_ids,
                       inter.item_ids, summary, titles_dir)


def _int_list(indices, size, chunk=1 << 20):
    """`indices` as a list of Python ints sharing one object per value
    (8 bytes an entry, not 36: MovieLens-20M's lists need 1 GB less)."""
    pool = list(range(size))
    out = []
    for start in range(0, len(indices), chunk):
        out.extend(map(pool.__getitem__,
                       indices[start:start + chunk].tolist()))
    return out


def load_chapter_data(data_dir=None):
    """Read, split (seq-aware) and load MovieLens-100K as the chapter does.

    The result equals what d2l's `read_data_ml100k`, `split_data_ml100k`
    and `load_data_ml100k` give (tests/test_data.py checks it).
    """
    return load_dataset('ml-100k', data_dir=data_dir)


def load_dataset(dataset='ml-100k', data_dir=None, path=None, sep=None,
                 columns=FIELDS):
    """Load a data set: ``ml-100k``, ``ml-1m``, ``ml-20m``, ``ml-25m``, a table.

    MovieLens sets come from `data_dir`, else ``$D2L_NCF_DATA_DIR`` (for
    ml-100k) or ``$D2L_NCF_ML1M_DIR`` (ml-1m; ``..._ML20M_DIR`` and
    ``..._ML25M_DIR`` likewise), else a download. With
    `path` (dataset ``'table'``), any CSV/TSV with `columns`; `sep`
    defaults to a tab for ``.tsv`` files and a comma otherwise.
    """
    if dataset == 'table' or path is not None:
        if path is None:
            raise ValueError("dataset 'table' needs a path")
        if os.path.isdir(path):
            raise DataFormatError(
                f'{path} is a folder; expected a CSV or TSV file of '
                f'interactions (a MovieLens folder is given with '
                f'--data-dir, or data_dir=)')
        if not os.path.isfile(path):
            raise DataNotFoundError(f'{path} not found: expected a CSV or '
                                    f'TSV file of interactions')
        if sep is None:
            sep = '\t' if path.endswith(('.tsv', '.tab')) else ','
        fmt = table_format(parse_separator(sep), columns)
        return build_chapter_data(index_interactions(
            read_interactions(path, fmt)))
    if dataset not in DATASETS:
        raise ValueError(f'unknown dataset {dataset!r}: expected one of '
                         f'{sorted(DATASETS)} or a path')
    spec = DATASETS[dataset]
    folder = movielens_dir(spec, data_dir)
    ratings = read_interactions(os.path.join(folder, spec.ratings),
                                spec.ratings_format)
    return build_chapter_data(index_interactions(ratings), folder)


def item_titles(folder, dataset='ml-100k'):
    """Original item id -> title from a MovieLens folder ({} if none)."""
    spec = DATASETS[dataset]
    path = os.path.join(folder, spec.items)
    titles = {}
    if not os.path.isfile(path):
        return titles
    with open(path, encoding=spec.items_encoding, newline='') as f:
        if spec.items_sep == ',':  # quoted CSV: titles may hold commas
            rows = csv.reader(f)
        else:
            rows = (line.rstrip('\r\n').split(spec.items_sep)
                    for line in f)
        for fields in rows:
            if len(fields) >= 2 and fields[0].strip().isdigit():
                titles[int(fields[0])] = fields[1]
    return titles


def make_train_iter(data, batch_size, num_workers=0):
    """The chapter's training DataLoader over `PRDataset`."""
    return gluon.data.DataLoader(
        PRDataset(data.users_train, data.items_train, data.candidates,
                  data.num_items),
        batch_size, True, last_batch='rollover', num_workers=num_workers)
