"""The MovieLens sets, and finding or fetching a copy of one: the folder
given, else the one its variable names (``D2L_NCF_DATA_DIR`` for 100K,
``D2L_NCF_ML1M_DIR``, ...), else a download into ``$D2L_NCF_CACHE``
(``~/.cache/d2l_ncf``) checked by d2l's SHA-1 (100K) or GroupLens' MD5.
"""
import csv
import dataclasses
import errno
import os
import zipfile

from .formats import Format, file_digest

# d2l's DATA_HUB entry for MovieLens-100K (tests/section/test_data.py
# checks they agree), so that the table of data sets needs no MXNet.
ML100K_URL = 'https://files.grouplens.org/datasets/movielens/ml-100k.zip'
ML100K_SHA1 = 'cd4dcac4241c8a4ad7badc7ca635da8a69dddb83'
DATA_DIR_ENV = 'D2L_NCF_DATA_DIR'
CACHE_ENV = 'D2L_NCF_CACHE'
# user, item, rating, timestamp; ratings.csv has a header userId,...
UDATA = Format('u.data', '\t')
ML1M = Format('ratings.dat', '::')
ML20M = Format('ratings.csv', ',', header_allowed=True)


class DataNotFoundError(FileNotFoundError):
    """No local copy of the data and no way to download it."""


@dataclasses.dataclass(frozen=True)
class MovieLens:
    """Where a MovieLens set comes from and which files it holds."""
    name: str
    url: str
    hash_name: str  # 'sha1' (d2l's DATA_HUB) or 'md5' (GroupLens')
    digest: str
    env: str  # names a local copy of the unzipped folder
    ratings_format: Format  # its name is the ratings file's
    titles: str  # item id, title, ...: latin-1, or a quoted UTF-8 CSV
    titles_sep: str

    @property
    def ratings(self):
        return self.ratings_format.name

    @property
    def folder(self):
        """The unzipped folder's name, as the zip is named."""
        return self.url.split('/')[-1][:-len('.zip')]

    def read_titles(self, folder):
        """Original item id -> title from `folder` ({} if no titles)."""
        path, quoted = os.path.join(folder, self.titles), self.titles_sep == ','
        if not os.path.isfile(path):
            return {}
        with open(path, encoding='utf-8' if quoted else 'latin-1',
                  newline='') as f:
            rows = csv.reader(f) if quoted else (
                line.rstrip('\r\n').split(self.titles_sep) for line in f)
            return {int(row[0]): row[1] for row in rows
                    if len(row) >= 2 and row[0].strip().isdigit()}


def _grouplens(size, md5, fmt, titles, sep):
    return MovieLens(
        f'MovieLens-{size.upper()}',
        f'https://files.grouplens.org/datasets/movielens/ml-{size}.zip',
        'md5', md5, f'D2L_NCF_ML{size.upper()}_DIR', fmt, titles, sep)


# The MD5s GroupLens publishes beside the zips (ml-1m.zip.md5, ...); for
# 20M and 25M checked offline against several public records that agree.
DATASETS = {
    'ml-100k': MovieLens('MovieLens-100K', ML100K_URL, 'sha1', ML100K_SHA1,
                         DATA_DIR_ENV, UDATA, 'u.item', '|'),
    'ml-1m': _grouplens('1m', 'c4d9eecfca2ab87c1945afe126590906', ML1M,
                        'movies.dat', '::'),
    'ml-20m': _grouplens('20m', 'cd245b17a1ae2cc31bb14903e1204af3', ML20M,
                         'movies.csv', ','),
    'ml-25m': _grouplens('25m', '6b51fb2759a8657d3bfcbfc42b592ada', ML20M,
                         'movies.csv', ','),
}


def movielens_dir(spec, data_dir=None):
    """A folder holding `spec`'s ratings: given, from its env, or fetched."""
    if data_dir is None and not os.environ.get(spec.env):
        return download_movielens(spec)
    origin = 'data_dir' if data_dir is not None else f'${spec.env}'
    data_dir = data_dir if data_dir is not None else os.environ[spec.env]
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


def download_ml100k(cache_dir=None):
    return download_movielens(DATASETS['ml-100k'], cache_dir)


# A download folder that cannot be written, whatever the network says.
NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR,
                errno.EEXIST, errno.ENOSPC, errno.EDQUOT)


def download_movielens(spec, cache_dir=None):
    """Download and unzip `spec`'s zip into the cache, checking it."""
    origin = ('cache_dir=' if cache_dir else f'${CACHE_ENV}'
              if os.environ.get(CACHE_ENV) else 'the default')
    cache_dir = cache_dir or os.environ.get(CACHE_ENV) or os.path.join(
        os.path.expanduser('~'), '.cache', 'd2l_ncf')
    folder = os.path.join(cache_dir, spec.folder)
    fname, md5 = folder + '.zip', spec.hash_name == 'md5'
    local = (f'point d2l_ncf at a local copy of the unzipped folder: '
             f'data_dir= (--data-dir), or {spec.env}=/path/to/{spec.folder}')
    try:
        os.makedirs(cache_dir, exist_ok=True)
        # d2l checks a cached copy's SHA-1 itself; an MD5 we check here
        if not (md5 and os.path.isfile(fname)
                and file_digest(fname, 'md5') == spec.digest):
            fname = d2l_download(spec.url, cache_dir,
                                 None if md5 else spec.digest)
        digest = file_digest(fname, spec.hash_name)
        if digest != spec.digest:
            raise DataNotFoundError(
                f'{fname} has {"MD5" if md5 else "SHA-1"} {digest}, expected '
                f'{spec.digest}: the download is damaged; delete it and try '
                f'again')
        if not os.path.isfile(os.path.join(folder, spec.ratings)):
            with zipfile.ZipFile(fname) as archive:
                archive.extractall(cache_dir)
    except DataNotFoundError:
        raise
    except Exception as err:  # requests raises several kinds offline
        if isinstance(err, OSError) and err.errno in NOT_WRITABLE:
            raise DataNotFoundError(
                f'cannot download {spec.name}: the download folder '
                f'{cache_dir} ({origin}) is not writable '
                f'({err.strerror or err}). Set {CACHE_ENV} to a folder you '
                f'can write, or {local}') from None
        raise DataNotFoundError(
            f'could not download {spec.name} from {spec.url} '
            f'({type(err).__name__}). Instead, {local}') from err
    return folder


def d2l_download(url, folder, sha1):
    """d2l's download (it checks a cached copy's SHA-1); MXNet and d2l
    load here, on the first download, not with the table."""
    from ..runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy)
    from d2l import mxnet as d2l
    return d2l.download(url, folder, sha1)
