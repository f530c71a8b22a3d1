"""The first cell of each notebook: is this environment ready?

Checks the Python version, the pinned libraries (by their installed
metadata, then by importing MXNet) and the MovieLens-100K data, prints
one line each, and raises `EnvironmentNotReady` naming what to do when
something is missing, so a "Run all" stops at the first cell instead of
failing later with a traceback. Standard library only: it must work
where nothing else is installed.
"""
import datetime
import importlib
import importlib.metadata
import os
import platform
import sys

PINNED = [('mxnet', '1.9.1'), ('d2l', '1.0.3'), ('numpy', '1.23.5'),
          ('d2l_ncf', None)]
INSTALL = ('from the repository\'s folder run  pip install -e ".[cpu]"  '
           '(it pins them), then restart the kernel')
URL = 'https://files.grouplens.org/datasets/movielens/ml-100k.zip'


class EnvironmentNotReady(RuntimeError):
    """Something the notebook needs is missing; the message says what."""


def python_problems():
    """MXNet 1.9 and numpy 1.23.5 (d2l 1.0.3's pin) stop at 3.11."""
    if (3, 8) <= sys.version_info[:2] <= (3, 11):
        return []
    return [f'Python {platform.python_version()}: 3.8 to 3.11 is needed '
            f'(MXNet 1.9 and numpy 1.23.5, which d2l 1.0.3 pins, have no '
            f'wheels for newer ones). Make a 3.11 environment (README.md, '
            f'"Teach with it": conda, pyenv or uv; or binder/) and choose '
            f'its kernel.']


def library_problems():
    """Each pinned library: installed, at the tested version, importable."""
    problems = []
    for dist, wanted in PINNED:
        try:
            found = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found = None
        print(f'{dist:8} {found or "missing"}')
        if found is None or (wanted and found != wanted):
            problems.append(f'{dist} {found or "is missing"} (tested with '
                            f'{wanted or "the repository"}): {INSTALL}.')
    if problems:
        return problems
    try:
        importlib.import_module('d2l_ncf')  # before MXNet, as the cells do
        importlib.import_module('mxnet')
    except Exception as err:  # e.g. a numpy too new for MXNet 1.9
        return [f'MXNet does not import ({type(err).__name__}: {err}): '
                f'{INSTALL}.']
    return []


def find_data():
    """(data_dir or None, problems): $D2L_NCF_DATA_DIR, else the cache."""
    data_dir = os.environ.get('D2L_NCF_DATA_DIR') or None
    cache = os.path.join(os.environ.get('D2L_NCF_CACHE') or os.path.join(
        os.path.expanduser('~'), '.cache', 'd2l_ncf'), 'ml-100k')
    if data_dir and not os.path.isfile(os.path.join(data_dir, 'u.data')):
        return data_dir, [f'D2L_NCF_DATA_DIR={data_dir} holds no u.data: '
                          f'point it at the unzipped ml-100k folder.']
    if data_dir:
        print(f'data     {data_dir} (from $D2L_NCF_DATA_DIR)')
    elif os.path.isfile(os.path.join(cache, 'u.data')):
        print(f'data     {cache} (downloaded before)')
    else:
        print(f'data     not here yet: the data cell downloads ml-100k.zip '
              f'(5 MB) into {cache}. Offline? Download {URL} elsewhere, '
              f'unzip it, and start Jupyter with D2L_NCF_DATA_DIR set to '
              f'the folder.')
    return data_dir, []


def check_environment():
    """Print what is found; return the data folder (None: the package
    finds or downloads it); raise `EnvironmentNotReady` if not ready."""
    print(f'{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} '
          f'UTC; Python {platform.python_version()}, {os.cpu_count()} '
          f'cores, {platform.platform()}')
    problems = python_problems() + library_problems()
    data_dir, missing = find_data()
    problems += missing
    for problem in problems:
        print('PROBLEM:', problem)
    if problems:
        raise EnvironmentNotReady(
            f'{len(problems)} problem(s) above: fix them, restart the '
            f'kernel and run again') from None
    print('environment ready')
    return data_dir
