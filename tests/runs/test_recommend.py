"""Recommendations from a checkpoint, in the data's own ids."""
import os

import pytest

from d2l_ncf import cli
from d2l_ncf.runs.checkpoint import load_checkpoint
from d2l_ncf.runs.recommending import (ListTooLongError, UnknownUserError,
                                       recommend)
from synthetic import make_ratings, write_udata

SMALL = ['--batch-size', '32', '--num-factors', '4', '--hiddens', '4',
         '--no-progress', '--protocol', 'corrected', '--epochs', '3',
         '--k', '10']
TITLES = {i: f'Movie number {i} (199{i % 10})' for i in range(1, 41)}


@pytest.fixture
def movielens_checkpoint(tmp_path):
    """A checkpoint of synthetic u.data with a u.item of titles."""
    rows = make_ratings()
    folder = write_udata(tmp_path / 'ml', rows)
    with open(f'{folder}/u.item', 'w', encoding='latin-1') as f:
        for i, title in TITLES.items():
            f.write(f'{i}|{title}|01-Jan-1995||http://x|0|1\n')
    ck = tmp_path / 'ck'
    assert cli.main(['train', '--data-dir', folder, '--save', str(ck)]
                    + SMALL) == 0
    return str(ck), rows


def test_top_k_are_unseen_items_with_titles(movielens_checkpoint):
    ck, rows = movielens_checkpoint
    seen = {i for u, i, _, _ in rows if u == 3}
    top = recommend(ck, 3, k=10)
    assert [r['rank'] for r in top] == list(range(1, 11))
    items = [r['item'] for r in top]
    assert len(set(items)) == 10 and not set(items) & seen
    assert all(1 <= i <= 40 for i in items)
    scores = [r['score'] for r in top]
    assert scores == sorted(scores, reverse=True)
    assert all(r['title'] == TITLES[r['item']] for r in top)
    # every unseen item is ranked when k asks for all of them
    assert len(recommend(ck, 3, k=40 - len(seen))) == 40 - len(seen)


def test_scores_match_the_network_order(movielens_checkpoint):
    # the first item beats every unseen item left out of the top 5
    ck, rows = movielens_checkpoint
    seen = {i for u, i, _, _ in rows if u == 7}
    everything = recommend(ck, 7, k=40 - len(seen))
    assert recommend(ck, 7, k=5) == everything[:5]


def test_unknown_user_and_too_large_k(movielens_checkpoint):
    ck, _ = movielens_checkpoint
    with pytest.raises(UnknownUserError,
                       match=r'user 99 is not in the data .* \(24 users, '
                             r'ids 1 to 24\)'):
        recommend(ck, 99)
    with pytest.raises(UnknownUserError):
        recommend(ck, 'alice')
    with pytest.raises(ListTooLongError,
                       match='k = 39 is more than the 32 items'):
        recommend(ck, 1, k=39)
    # from the command line a usage error, as an unknown user is (2; the
    # new-user pass found 1)
    assert cli.main(['recommend', '--checkpoint', ck, '--user', '1', '-k',
                     '39']) == 2


def test_recommend_command(movielens_checkpoint, capsys):
    ck, _ = movielens_checkpoint
    capsys.readouterr()
    assert cli.main(['recommend', '--checkpoint', ck, '--user', '5',
                     '-k', '3']) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == 'top 3 for user 5:'
    assert len(lines) == 5
    top = recommend(ck, 5, k=3)
    for line, row in zip(lines[2:], top):
        assert line.split()[:2] == [str(row['rank']), str(row['item'])]
        assert line.endswith(row['title'])
    # a user not in the data is the caller's error, as a bad option is
    assert cli.main(['recommend', '--checkpoint', ck, '--user', '0']) == 2
    assert 'user 0 is not in the data' in capsys.readouterr().err
    assert cli.main(['recommend', '--checkpoint', ck + 'x', '--user', '1']
                    ) == 1
    assert 'no such checkpoint folder' in capsys.readouterr().err


def test_sparse_ids_come_back_as_original_ids(tmp_path):
    # ids far beyond the counts: 6 users with ids 1000.., items 150000..
    rows = [(1000 + u, 150000 + i * 37, 4, t)
            for u, i, t in ((u, (u * 3 + j) % 12, u * 100 + j)
                            for u in range(6) for j in range(5))]
    path = tmp_path / 'sparse.csv'
    path.write_text('user,item,rating,timestamp\n' + ''.join(
        f'{u},{i},{r},{t}\n' for u, i, r, t in rows))
    ck = tmp_path / 'ck'
    assert cli.main(['train', '--data', str(path), '--save', str(ck)]
                    + SMALL + ['--batch-size', '8', '--k', '5']) == 0
    mapping = load_checkpoint(str(ck))['mapping']
    assert mapping['item_ids'].max() == 150000 + 11 * 37
    top = recommend(str(ck), 1002, k=5)
    seen = {i for u, i, _, _ in rows if u == 1002}
    assert all(r['item'] in mapping['item_ids'] for r in top)
    assert not {r['item'] for r in top} & seen
    assert all('title' not in r for r in top)


@pytest.mark.slow
def test_recommend_on_movielens_100k(real_data_dir, tmp_path, capsys):
    from d2l_ncf.data import load_chapter_data
    ck = str(tmp_path / 'ck')
    assert cli.main(['train', '--data-dir', real_data_dir, '--protocol',
                     'corrected', '--epochs', '2', '--devices', 'cpu',
                     '--no-progress', '--save', ck]) == 0
    data = load_chapter_data(real_data_dir)
    seen = set(data.candidates[0]) | set(data.test_iter[0])  # user id 1
    top = recommend(ck, 1, k=10)
    assert len(top) == 10
    assert not {r['item'] - 1 for r in top} & seen
    titles = [r['title'] for r in top]
    with open(os.path.join(real_data_dir, 'u.item'),
              encoding='latin-1') as f:
        u_item = dict(line.split('|')[:2] for line in f)
    assert titles == [u_item[str(r['item'])] for r in top]
    assert all(titles)
    capsys.readouterr()
    assert cli.main(['recommend', '--checkpoint', ck, '--user', '1']) == 0
    assert titles[0] in capsys.readouterr().out


def test_a_list_a_tie_decided_says_so(tmp_path, capsys):
    # found by the new-user pass: a dead model's list is the first unseen
    # ids, printed as a recommendation without a word (SGD with lr 1 and
    # weight decay 1 zeroes every weight in its first step)
    folder = write_udata(tmp_path / 'ml', make_ratings())
    with open(f'{folder}/u.item', 'w', encoding='latin-1') as f:
        f.writelines(f'{i}|{t}|01-Jan-1995||http://x|0|1\n'
                     for i, t in TITLES.items())
    ck = tmp_path / 'dead'
    assert cli.main(['train', '--data-dir', folder, '--save', str(ck),
                     '--optimizer', 'sgd', '--lr', '1', '--wd', '1']
                    + SMALL) == 0
    capsys.readouterr()
    top = recommend(str(ck), 1, k=5)
    err = capsys.readouterr().err
    assert 'a tie decided this list: 5 listed and' in err
    assert 'the model learned nothing' in err
    assert len({r['score'] for r in top}) == 1
    # a model that learned: its last rank ties with nothing left out
    live = tmp_path / 'live'
    assert cli.main(['train', '--data-dir', folder, '--save', str(live)]
                    + SMALL) == 0
    capsys.readouterr()
    recommend(str(live), 1, k=5)
    assert 'tie' not in capsys.readouterr().err
