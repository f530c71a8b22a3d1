import os
import signal
import socket
import sys

import pytest

# d2l_ncf first: it fixes MXNet's CPU arithmetic before MXNet loads, and a
# test module that imports mxnet itself must not load it earlier.
import d2l_ncf  # noqa: E402,F401

sys.path.insert(0, os.path.dirname(__file__))

from synthetic import make_ratings, write_udata  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIBLING_DATA = os.path.join(REPO, '..', 'shared', 'data', 'ml-100k')


@pytest.fixture
def synthetic_dir(tmp_path):
    """A small clustered data set in u.data format."""
    return write_udata(tmp_path / 'synthetic', make_ratings())


@pytest.fixture
def python_signal_handlers():
    """Python's own handlers for SIGINT and SIGTERM during the test, not
    the ones the test process inherited: a shell's background job starts
    with SIGINT ignored. The inherited ones come back afterwards."""
    signals = (signal.SIGINT, signal.SIGTERM)
    inherited = {s: signal.getsignal(s) for s in signals}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for s, handler in inherited.items():
        signal.signal(s, handler)


@pytest.fixture
def usage_error(capsys):
    """`check(argv, message)`: d2l-ncf exits 2 (a usage error) with
    `message` on stderr; returns what it printed."""
    from d2l_ncf import cli

    def check(argv, message):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2
        printed = capsys.readouterr()
        assert message in printed.err
        return printed
    return check


def _network_up(host='files.grouplens.org', port=443):
    try:
        socket.create_connection((host, port), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope='session')
def real_data_dir():
    """The real MovieLens-100K folder: local copy, else a download.

    Skips only outside CI when there is neither; with CI set it fails.
    """
    from d2l_ncf.datasets.movielens import DATA_DIR_ENV, download_ml100k
    local = os.environ.get(DATA_DIR_ENV)
    if local:
        assert os.path.isfile(os.path.join(local, 'u.data')), (
            f'{DATA_DIR_ENV}={local} holds no u.data')
        return local
    if os.path.isfile(os.path.join(SIBLING_DATA, 'u.data')):
        return os.path.abspath(SIBLING_DATA)
    if _network_up():
        return download_ml100k()
    reason = (f'no local MovieLens-100K ({DATA_DIR_ENV} unset, no '
              f'{SIBLING_DATA}) and no network to download it')
    if os.environ.get('CI'):
        pytest.fail(f'CI must run the real-data tests: {reason}')
    pytest.skip(reason)
