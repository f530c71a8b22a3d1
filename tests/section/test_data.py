import collections
import os
import random

import pytest

import d2l_ncf.datasets.movielens as data_mod
from d2l_ncf import (DataNotFoundError, PRDataset, load_chapter_data,
                     read_data_ml100k)
from synthetic import make_ratings, write_udata


def test_reads_synthetic_u_data(synthetic_dir):
    data, num_users, num_items = read_data_ml100k(synthetic_dir)
    assert list(data.columns) == ['user_id', 'item_id', 'rating',
                                  'timestamp']
    assert (num_users, num_items) == (24, 40)
    assert len(data) == len(make_ratings())


def test_data_dir_from_environment(synthetic_dir, monkeypatch):
    monkeypatch.setenv('D2L_NCF_DATA_DIR', synthetic_dir)
    _, num_users, _ = read_data_ml100k()
    assert num_users == 24


def test_missing_data_dir_names_the_path(tmp_path):
    with pytest.raises(DataNotFoundError, match=r'u\.data not found'):
        read_data_ml100k(str(tmp_path))


def test_offline_without_copy_says_how_to_fix(monkeypatch, tmp_path):
    import requests

    def offline(*args, **kwargs):
        raise requests.exceptions.ConnectionError('no network')

    monkeypatch.delenv('D2L_NCF_DATA_DIR', raising=False)
    monkeypatch.setenv('D2L_NCF_CACHE', str(tmp_path))
    monkeypatch.setattr(data_mod, 'd2l_download', offline)
    with pytest.raises(DataNotFoundError) as err:
        read_data_ml100k()
    message = str(err.value)
    assert data_mod.ML100K_URL in message
    assert 'D2L_NCF_DATA_DIR' in message and 'data_dir' in message


@pytest.mark.parametrize('name, message', [
    ('ml-100k', 'SHA-1'), ('ml-1m', 'MD5 .* expected c4d9ee')])
def test_damaged_download_is_refused(monkeypatch, tmp_path, name, message):
    zip_path = tmp_path / f'{name}.zip'
    zip_path.write_bytes(b'not a zip')
    monkeypatch.setattr(data_mod, 'd2l_download',
                        lambda *a, **k: str(zip_path))
    with pytest.raises(DataNotFoundError, match=message):
        data_mod.download_movielens(data_mod.DATASETS[name], str(tmp_path))
    if name == 'ml-100k':  # the chapter's entry point, same check
        with pytest.raises(DataNotFoundError, match=message):
            data_mod.download_ml100k(str(tmp_path))


def test_an_unwritable_cache_is_named_not_called_a_failed_download(
        monkeypatch, tmp_path):
    (tmp_path / 'a-file').write_text('x')  # root writes anywhere: a file
    cache = tmp_path / 'a-file' / 'cache'  # in the way is what stops it
    monkeypatch.setenv('D2L_NCF_CACHE', str(cache))
    monkeypatch.setattr(data_mod, 'd2l_download', lambda *a: 1 / 0)
    with pytest.raises(DataNotFoundError) as err:
        data_mod.download_ml100k()
    assert str(err.value).startswith(
        f'cannot download MovieLens-100K: the download folder {cache} '
        f'($D2L_NCF_CACHE) is not writable (Not a directory)')


def test_seq_aware_split_holds_out_each_users_latest(synthetic_dir):
    rows = make_ratings()
    data = load_chapter_data(synthetic_dir)
    latest = {}
    for u, i, _, t in rows:
        if u not in latest or latest[u][1] < t:
            latest[u] = (i, t)
    assert data.test_iter == {u - 1: [i - 1] for u, (i, _) in latest.items()}
    assert len(data.users_train) == len(rows) - len(latest)


def test_prdataset_negatives_are_uniform_over_unseen_items():
    candidates = {0: [0, 2, 4], 1: [1]}
    dataset = PRDataset([0, 0, 1], [0, 2, 1], candidates, 6)
    random.seed(0)
    drawn = collections.defaultdict(collections.Counter)
    for _ in range(600):
        for idx in range(len(dataset)):
            user, pos, neg = dataset[idx]
            assert neg not in candidates[user]
            drawn[user][neg] += 1
    assert set(drawn[0]) == {1, 3, 5}
    assert set(drawn[1]) == {0, 2, 3, 4, 5}
    # 1200 draws for user 0 over 3 items: each near 400 (sd ~16)
    assert all(300 < n < 500 for n in drawn[0].values())


@pytest.mark.slow
def test_real_seq_aware_split(real_data_dir):
    data = load_chapter_data(real_data_dir)
    assert (data.num_users, data.num_items) == (943, 1682)
    assert len(data.users_train) == 99057
    assert len(data.test_iter) == 943
    df, _, _ = read_data_ml100k(real_data_dir)
    last = df.sort_values('timestamp').groupby('user_id').timestamp.max()
    for u, (item,) in data.test_iter.items():
        user_rows = df[df.user_id == u + 1]
        t = user_rows[user_rows.item_id == item + 1].timestamp.max()
        assert t == last[u + 1]
    assert os.path.isfile(os.path.join(real_data_dir, 'u.data'))


def test_candidates_are_the_training_items(synthetic_dir):
    data = load_chapter_data(synthetic_dir)
    pairs = collections.Counter(zip(data.users_train, data.items_train))
    from_candidates = collections.Counter(
        (u, i) for u, items in data.candidates.items() for i in items)
    assert pairs == from_candidates


def test_the_ml100k_source_is_d2ls():
    # movielens keeps d2l's DATA_HUB entry so the table of data sets
    # loads without MXNet: the same URL and SHA-1 the chapter downloads
    from d2l import mxnet as d2l
    assert d2l.DATA_HUB['ml-100k'] == (data_mod.ML100K_URL,
                                       data_mod.ML100K_SHA1)
