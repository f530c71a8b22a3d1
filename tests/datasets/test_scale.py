"""MovieLens-20M/25M's files, and the benchmark's ML-20M-shaped data."""
import importlib.util
import os

import numpy
import pytest

from d2l_ncf import cli
from d2l_ncf.datasets import movielens as data_mod
from d2l_ncf.data import load_chapter_data, load_dataset
from d2l_ncf.datasets.movielens import DATASETS, DataNotFoundError
from d2l_ncf.datasets.formats import DataFormatError
from synthetic import make_ratings, write_udata

HEADER = 'userId,movieId,rating,timestamp\n'
BIG = ['ml-20m', 'ml-25m']


def write_grouplens_csv(folder, rows, titles=None):
    """A folder as GroupLens' ml-20m.zip unzips: ratings.csv, movies.csv."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'ratings.csv'), 'w') as f:
        f.write(HEADER)
        for u, i, r, t in rows:
            f.write(f'{u},{i},{r - 0.5:.1f},{t}\n')  # half stars
    if titles:
        with open(os.path.join(folder, 'movies.csv'), 'w',
                  encoding='utf-8') as f:
            f.write('movieId,title,genres\n')
            for i, title in titles.items():
                quoted = f'"{title}"' if ',' in title else title
                f.write(f'{i},{quoted},Drama|Comedy\n')
    return str(folder)


@pytest.mark.parametrize('name', BIG)
def test_ratings_csv_loads_like_the_same_rows_in_udata(tmp_path, name):
    rows = make_ratings()
    data = load_dataset(name, data_dir=write_grouplens_csv(
        tmp_path / name, rows))
    same = load_chapter_data(write_udata(tmp_path / 'u', rows))
    assert data.candidates == same.candidates
    assert data.test_iter == same.test_iter
    assert data.summary['format'] == 'ratings.csv'
    assert data.summary['header'] is True
    assert data.summary['interactions'] == len(rows)


@pytest.mark.parametrize('name, env', [('ml-20m', 'D2L_NCF_ML20M_DIR'),
                                       ('ml-25m', 'D2L_NCF_ML25M_DIR')])
def test_folder_from_environment(tmp_path, monkeypatch, name, env):
    folder = write_grouplens_csv(tmp_path / name, make_ratings())
    monkeypatch.setenv(env, folder)
    assert DATASETS[name].env == env
    assert load_dataset(name).num_users == 24


@pytest.mark.parametrize('name', BIG)
def test_missing_folder_names_the_file_and_the_variable(tmp_path,
                                                        monkeypatch, name):
    with pytest.raises(DataNotFoundError,
                       match=r'ratings\.csv not found \(data_dir'):
        load_dataset(name, data_dir=str(tmp_path))
    env = DATASETS[name].env
    monkeypatch.setenv(env, str(tmp_path / 'nowhere'))
    with pytest.raises(DataNotFoundError,
                       match=rf'ratings\.csv not found \(\${env}'):
        load_dataset(name)


def test_missing_folder_on_the_command_line(tmp_path, capsys):
    code = cli.main(['train', '--dataset', 'ml-20m', '--data-dir',
                     str(tmp_path), '--epochs', '1', '--no-progress'])
    assert code != 0
    err = capsys.readouterr().err
    assert 'ratings.csv not found' in err and str(tmp_path) in err


def test_bad_line_is_named(tmp_path):
    folder = tmp_path / 'ml-20m'
    folder.mkdir()
    (folder / 'ratings.csv').write_text(HEADER + '1,2,3.5,10\n1,2;3.5,11\n')
    with pytest.raises(DataFormatError,
                       match=r'ratings\.csv, line 3: expected 4 comma-sep'):
        load_dataset('ml-20m', data_dir=str(folder))


def test_wrong_header_is_named(tmp_path):
    folder = tmp_path / 'ml-20m'
    folder.mkdir()
    (folder / 'ratings.csv').write_text(
        'movieId,userId,rating,timestamp\n1,2,3.5,10\n')
    with pytest.raises(DataFormatError, match=r'ratings\.csv, line 1: the '
                                              r'header says movieId,userId'):
        load_dataset('ml-20m', data_dir=str(folder))


def test_titles_from_movies_csv_with_quotes_and_commas(tmp_path):
    titles = {1: 'Toy Story (1995)', 2: 'American President, The (1995)',
              3: 'Amélie (Fabuleux destin d\'Amélie Poulain, Le) (2001)'}
    folder = write_grouplens_csv(tmp_path / 'ml-25m', make_ratings(), titles)
    assert DATASETS['ml-25m'].read_titles(folder) == titles
    assert DATASETS['ml-20m'].read_titles(folder) == titles


@pytest.mark.parametrize('name, digest', [
    ('ml-20m', 'cd245b17a1ae2cc31bb14903e1204af3'),
    ('ml-25m', '6b51fb2759a8657d3bfcbfc42b592ada')])
def test_download_is_grouplens_zip_checked_by_md5(monkeypatch, tmp_path,
                                                  name, digest):
    spec = DATASETS[name]
    assert spec.url == (f'https://files.grouplens.org/datasets/movielens/'
                        f'{name}.zip')
    assert (spec.hash_name, spec.digest) == ('md5', digest)
    zip_path = tmp_path / f'{name}.zip'
    zip_path.write_bytes(b'not the zip')
    asked = []

    def download(url, folder, sha1):
        asked.append(url)
        return str(zip_path)
    monkeypatch.setattr(data_mod, 'd2l_download', download)
    with pytest.raises(DataNotFoundError,
                       match=rf'has MD5 [0-9a-f]+, expected {digest}'):
        data_mod.download_movielens(spec, str(tmp_path))
    assert asked == [spec.url]
    assert not (tmp_path / name).exists()  # nothing unzipped


def _bench():
    path = os.path.join(os.path.dirname(__file__), '..', '..',
                        'benchmarks', 'bench_scale.py')
    spec = importlib.util.spec_from_file_location('bench_scale', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_file_has_the_shape_asked_for(tmp_path):
    bench = _bench()
    folder = str(tmp_path / 'gen')
    path = bench.generate(folder, 30_000, 200, 500, seed=3)
    with open(path) as f:
        assert f.readline() == HEADER
    data = load_dataset('ml-20m', data_dir=folder)
    s = data.summary
    assert (s['lines_read'], s['duplicates'], s['users'], s['items']) == (
        30_000, 0, 200, 500)
    per_user = numpy.bincount(numpy.asarray(data.users_train)) + 1
    assert per_user.min() >= 20
    popularity = numpy.sort(numpy.bincount(data.items_train))
    assert popularity[-1] > 3 * popularity[len(popularity) // 2]  # skewed
    # seeded: the same file again, another seed another file
    before = open(path, 'rb').read()
    os.remove(os.path.join(folder, 'shape.json'))
    assert open(bench.generate(folder, 30_000, 200, 500, seed=3),
                'rb').read() == before
    other = bench.generate(str(tmp_path / 'other'), 30_000, 200, 500, seed=4)
    assert open(other, 'rb').read() != before


def test_benchmark_stages_train_and_evaluate_in_one_child(tmp_path, capsys):
    # the child's stage 'all' on a small file: load, one epoch, both
    # evaluations of the trained net, each with its seconds and peak
    import json
    bench = _bench()
    folder = str(tmp_path / 'small')
    bench.generate(folder, 6_000, 150, 300, seed=1)
    bench.child(folder, 'all')
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record['lines'] == 6_000 and record['users'] == 150
    # whole batches of 1,024 (the chapter's) of the training pairs
    assert (record['train_interactions'] - 1024 < record['epoch_examples']
            <= record['train_interactions'])
    assert record['epoch_seconds'] > 0 and record['epoch_loss'] > 0
    full, sampled = (record['full_eval_metrics'],
                     record['sampled_eval_metrics'])
    assert set(full) == {'hit_rate', 'auc', 'ndcg', 'k'} and full['k'] == 50
    assert set(sampled) == {'hit_rate', 'ndcg', 'k'} and sampled['k'] == 10
    assert 0 <= full['auc'] <= 1 and 0 <= sampled['hit_rate'] <= 1
    for step in ('load', 'epoch', 'full_eval', 'sampled_eval'):
        assert record[f'{step}_peak_rss_mb'] > 0
    assert record['peak_rss_mb'] >= record['epoch_peak_rss_mb']
