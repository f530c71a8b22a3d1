"""recommend names what is missing instead of printing blank titles."""
import json
import os
import shutil

import pytest

from d2l_ncf import cli
from d2l_ncf.runs.recommending import TitlesNotFoundError, recommend
from synthetic import make_ratings, write_udata

SMALL = ['--batch-size', '32', '--num-factors', '4', '--hiddens', '4',
         '--no-progress', '--protocol', 'corrected', '--epochs', '1', '--k', '10']
TITLES = {i: f'Film {i}' for i in range(1, 41)}


def movielens_folder(folder, titles=TITLES):
    folder = write_udata(folder, make_ratings())
    with open(os.path.join(folder, 'u.item'), 'w', encoding='latin-1') as f:
        for i, title in titles.items():
            f.write(f'{i}|{title}|01-Jan-1995||http://x|0|1\n')
    return folder


def train(data_dir, ck):
    assert cli.main(['train', '--data-dir', str(data_dir), '--save',
                     str(ck)] + SMALL) == 0


@pytest.fixture
def trained(tmp_path):
    folder = movielens_folder(tmp_path / 'ml')
    train(folder, tmp_path / 'ck')
    return tmp_path, folder, str(tmp_path / 'ck')


def test_a_moved_data_folder_is_named_not_blank_titles(trained, capsys):
    tmp_path, folder, ck = trained
    moved = tmp_path / 'elsewhere'
    shutil.move(folder, moved)
    with pytest.raises(TitlesNotFoundError,
                       match=r'trained from .*ml, which is gone.*--data-dir'):
        recommend(ck, 3, k=3)
    capsys.readouterr()
    assert cli.main(['recommend', '--checkpoint', ck, '--user', '3']) == 2
    printed = capsys.readouterr()
    assert 'which is gone' in printed.err and printed.out == ''
    top = recommend(ck, 3, k=3, data_dir=str(moved))
    assert all(r['title'] == TITLES[r['item']] for r in top)


def test_a_wrong_data_dir_is_named(trained):
    tmp_path, _, ck = trained
    with pytest.raises(TitlesNotFoundError,
                       match='--data-dir .*nowhere: no such folder'):
        recommend(ck, 3, data_dir=str(tmp_path / 'nowhere'))
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(TitlesNotFoundError,
                       match=r'u\.item does not exist \(--data-dir'):
        recommend(ck, 3, data_dir=str(empty))


def test_a_title_file_of_other_items_is_refused(trained):
    tmp_path, _, ck = trained
    other = movielens_folder(tmp_path / 'other', {1: 'Only one film'})
    with pytest.raises(TitlesNotFoundError,
                       match=r'u\.item has no title for items .*is it the '
                             r'MovieLens-100K folder this checkpoint'):
        recommend(ck, 3, k=5, data_dir=other)


def test_a_relative_data_path_from_the_checkpoint_is_explained(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    movielens_folder(tmp_path / 'ml')
    train('ml', tmp_path / 'ck')
    shutil.move(str(tmp_path / 'ml'), str(tmp_path / 'ml-moved'))
    (tmp_path / 'sub').mkdir()
    monkeypatch.chdir(tmp_path / 'sub')
    with pytest.raises(TitlesNotFoundError) as err:
        recommend(str(tmp_path / 'ck'), 3)
    message = str(err.value)
    assert "the checkpoint's config names the data folder 'ml'" in message
    assert 'relative path that does not resolve from here' in message
    assert 'relative to where the model was trained' in message
    assert '--data-dir' in message
    # from a folder where the relative path resolves, it is used
    (tmp_path / 'sub' / 'ml').symlink_to(tmp_path / 'ml-moved')
    top = recommend(str(tmp_path / 'ck'), 3, k=2)
    assert [r['title'] for r in top] == [TITLES[r['item']] for r in top]


def test_recommend_says_what_a_path_is_that_is_no_checkpoint(
        tmp_path, capsys):
    # a folder of other files is not "a save that did not finish", and a
    # file is not "no such folder": each says what it is, and what a
    # checkpoint is
    others = tmp_path / 'notes'
    others.mkdir()
    (others / 'a.txt').write_text('x')
    (others / 'b.csv').write_text('y')
    empty = tmp_path / 'empty'
    empty.mkdir()
    a_file = tmp_path / 'model.params'
    a_file.write_text('z')
    cases = {others: f'{others} is not a checkpoint: it holds a.txt, b.csv, '
                     f'and no manifest.json; a checkpoint is the folder '
                     f'`train --save DIR` writes',
             empty: f'{empty} is not a checkpoint: it is empty, and no '
                    f'manifest.json',
             a_file: f'{a_file} is a file, not a checkpoint folder; a '
                     f'checkpoint is the folder `train --save DIR` writes',
             tmp_path / 'none': 'no such checkpoint folder (nothing exists'}
    for path, message in cases.items():
        assert cli.main(['recommend', '--checkpoint', str(path), '--user',
                         '1']) == 1
        err = capsys.readouterr().err
        assert message in err and 'did not finish' not in err, err
    # a save that stopped before its manifest still says so
    (tmp_path / 'half').mkdir()
    (tmp_path / 'half' / 'epoch-1.tmp-99999').mkdir()
    assert cli.main(['recommend', '--checkpoint', str(tmp_path / 'half'),
                     '--user', '1']) == 1
    assert 'the save did not finish' in capsys.readouterr().err


def test_recommend_reads_a_checkpoint_while_a_run_saves_into_it(tmp_path):
    # issue 23: 4 of 37 tries failed while a save replaced the files; the
    # reader now reads the newer checkpoint (a bounded wait)
    import subprocess
    import sys
    import time
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    folder = movielens_folder(tmp_path / 'ml')
    ck = tmp_path / 'ck'
    writer = subprocess.Popen(  # saves every few milliseconds
        [sys.executable, '-m', 'd2l_ncf', 'train', '--data-dir', folder,
         '--save', str(ck)] + SMALL[:9] + ['--k', '10', '--epochs',
                                           '100000'],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONPATH=repo))
    try:
        end = time.monotonic() + 120
        while not (ck / 'manifest.json').exists():
            assert writer.poll() is None and time.monotonic() < end
            time.sleep(0.05)
        epochs, tries = set(), 0
        # at least 20 reads, across at least 4 saves (a loaded machine
        # saves more slowly), within the time bound
        while (tries < 20 or len(epochs) < 4) and time.monotonic() < end:
            rows = recommend(str(ck), '1', k=3)
            assert [r['rank'] for r in rows] == [1, 2, 3]
            epochs.add(json.loads((ck / 'manifest.json').read_text())[
                'epoch'])
            tries += 1
        assert writer.poll() is None, 'the writer ended on its own'
        assert tries >= 20 and len(epochs) >= 4  # it really was saving
    finally:
        writer.kill()
        writer.wait(timeout=60)
