"""MovieLens-100K as the chapter reads it, and its negative sampler.

`read_data_ml100k` looks for ``u.data`` in ``data_dir``, then in the
folder named by ``D2L_NCF_DATA_DIR``, and only then downloads the zip the
way d2l does (its DATA_HUB URL and SHA-1). Splitting and loading are d2l's
own ``split_data_ml100k`` and ``load_data_ml100k``.
"""
import dataclasses
import hashlib
import os
import random
import zipfile

import pandas as pd
from d2l import mxnet as d2l
from mxnet import gluon

ML100K_URL, ML100K_SHA1 = d2l.DATA_HUB['ml-100k']
DATA_DIR_ENV = 'D2L_NCF_DATA_DIR'
CACHE_ENV = 'D2L_NCF_CACHE'
COLUMNS = ['user_id', 'item_id', 'rating', 'timestamp']

# d2l's own splitter and loader, unchanged.
split_data_ml100k = d2l.split_data_ml100k
load_data_ml100k = d2l.load_data_ml100k


class DataNotFoundError(FileNotFoundError):
    """No local copy of the data and no way to download it."""


class DataFormatError(ValueError):
    """A ratings file that is not in the ``u.data`` format."""


def default_cache_dir():
    """Where downloads go: ``$D2L_NCF_CACHE`` or ``~/.cache/d2l_ncf``."""
    return os.environ.get(CACHE_ENV) or os.path.join(
        os.path.expanduser('~'), '.cache', 'd2l_ncf')


def ml100k_dir(data_dir=None):
    """Return a folder holding MovieLens-100K's ``u.data``."""
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV) or None
        origin = f'${DATA_DIR_ENV}'
    else:
        origin = 'data_dir'
    if data_dir is not None:
        path = os.path.join(data_dir, 'u.data')
        if not os.path.isfile(path):
            raise DataNotFoundError(
                f'{path} not found ({origin} = {data_dir!r}): expected the '
                f'unzipped MovieLens-100K folder, which holds u.data')
        return data_dir
    return download_ml100k()


def download_ml100k(cache_dir=None):
    """Download and unzip ml-100k.zip into the cache, checking its SHA-1."""
    cache_dir = cache_dir or default_cache_dir()
    folder = os.path.join(cache_dir, 'ml-100k')
    try:
        fname = d2l.download(ML100K_URL, cache_dir, ML100K_SHA1)
    except Exception as err:  # requests raises several kinds offline
        raise DataNotFoundError(
            f'could not download MovieLens-100K from {ML100K_URL} '
            f'({type(err).__name__}). Point d2l_ncf at a local copy of the '
            f'unzipped folder instead: pass data_dir= (or --data-dir on the '
            f'command line), or set {DATA_DIR_ENV}=/path/to/ml-100k'
        ) from err
    digest = _sha1(fname)
    if digest != ML100K_SHA1:
        raise DataNotFoundError(
            f'{fname} has SHA-1 {digest}, expected {ML100K_SHA1}: the '
            f'download is damaged; delete it and try again')
    if not os.path.isfile(os.path.join(folder, 'u.data')):
        with zipfile.ZipFile(fname) as archive:
            archive.extractall(cache_dir)
    return folder


def _sha1(fname):
    sha1 = hashlib.sha1()
    with open(fname, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            sha1.update(block)
    return sha1.hexdigest()


def read_ratings(path):
    """Read a ``u.data`` file: tab-separated user, item, rating, time.

    Every field must be a whole number; the first bad line is reported
    with its file and line number.
    """
    rows = []
    with open(path, encoding='utf-8', errors='replace') as f:
        for lineno, line in enumerate(f, 1):
            fields = line.rstrip('\r\n').split('\t')
            if len(fields) != len(COLUMNS):
                raise DataFormatError(
                    f'{path}, line {lineno}: expected 4 tab-separated '
                    f'fields (user id, item id, rating, timestamp), got '
                    f'{len(fields)}: {line.rstrip()!r}')
            try:
                rows.append([int(x) for x in fields])
            except ValueError:
                raise DataFormatError(
                    f'{path}, line {lineno}: expected whole numbers '
                    f'(user id, item id, rating, timestamp), got '
                    f'{line.rstrip()!r}') from None
    if not rows:
        raise DataFormatError(f'{path}: the file is empty, expected '
                              f'tab-separated ratings')
    return pd.DataFrame(rows, columns=COLUMNS)


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


def load_chapter_data(data_dir=None):
    """Read, split (seq-aware) and load the data as the chapter does."""
    df, num_users, num_items = read_data_ml100k(data_dir)
    train_data, test_data = split_data_ml100k(df, num_users, num_items,
                                              'seq-aware')
    users_train, items_train, _, candidates = load_data_ml100k(
        train_data, num_users, num_items, feedback='implicit')
    _, _, _, test_iter = load_data_ml100k(
        test_data, num_users, num_items, feedback='implicit')
    return ChapterData(num_users, num_items, users_train, items_train,
                       candidates, test_iter)


def make_train_iter(data, batch_size, num_workers=0):
    """The chapter's training DataLoader over `PRDataset`."""
    return gluon.data.DataLoader(
        PRDataset(data.users_train, data.items_train, data.candidates,
                  data.num_items),
        batch_size, True, last_batch='rollover', num_workers=num_workers)
