"""Reading interaction files: bad lines, repeats, ids, other formats."""
import os

import pytest

from d2l_ncf.data import (load_chapter_data, load_data_ml100k, load_dataset,
                          read_data_ml100k, split_data_ml100k)
from d2l_ncf.datasets.interactions import index_interactions, summary_line
from d2l_ncf.datasets.movielens import DATASETS, UDATA, DataNotFoundError
from d2l_ncf.datasets.formats import (DataFormatError, read_interactions,
                                      table_format)
from synthetic import make_ratings, write_udata


def write(tmp_path, text, name='u.data'):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize('text, message', [
    # wrong number of columns
    ('1\t2\t3\t4\n1\t2\t3\n',
     r'line 2: expected 4 tab-separated fields \(user, item, rating, '
     r'timestamp\), got 3'),
    ('1,2,3,4\n', r'line 1: expected 4 tab-separated fields'),
    # non-integer ids and timestamps
    ('1\t2\t3\t4\n1\tx\t3\t4\n', r"line 2: the item id 'x' is not a whole"),
    ('1\t2\t3\t4\n1.5\t2\t3\t4\n', r"line 2: the user id '1.5' is not a"),
    ('1\t2\t3\t4\n1\t2\t3\t5pm\n',
     r"line 2: the timestamp '5pm' is not a whole number"),
    ('1\t2\t3\t4\n1\t2\tgood\t4\n', r"line 2: the rating 'good' is not a"),
    # empty files
    ('', r'holds nothing; expected lines of 4 tab-separated'),
    ('\n\n', r'holds no interactions'),
    # a header line: MovieLens files have none
    ('user\titem\trating\ttimestamp\n1\t2\t3\t4\n',
     r'line 1: expected 4 tab-separated .* got a header line'),
])
def test_bad_udata_names_file_line_and_expectation(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(DataFormatError, match=message) as err:
        read_interactions(path, UDATA)
    assert str(err.value).startswith(path)


def test_a_header_after_data_is_a_bad_line(tmp_path):
    path = write(tmp_path, 'user,item\n1,2\nuser,item\n', 'x.csv')
    with pytest.raises(DataFormatError, match="line 3: the user id 'user'"):
        read_interactions(path, table_format(',', ('user', 'item')))


def test_blank_lines_are_skipped_and_counted(tmp_path):
    path = write(tmp_path, '1\t1\t5\t10\n\n2\t1\t3\t11\n   \n1\t2\t4\t12\n')
    ratings = read_interactions(path, UDATA)
    assert ratings.blank_lines == [2, 4]
    assert ratings.frame.line.tolist() == [1, 3, 5]
    inter = index_interactions(ratings)
    assert inter.summary['blank_lines'] == 2
    assert 'skipped 2 blank lines' in summary_line(inter.summary)


def test_duplicate_pairs_keep_the_latest_and_are_counted(tmp_path):
    # user 1 rates item 2 three times; the latest (time 30, rating 1) wins
    path = write(tmp_path, '1\t2\t5\t10\n1\t2\t1\t30\n2\t2\t4\t5\n'
                           '1\t2\t3\t20\n1\t3\t4\t15\n')
    inter = index_interactions(read_interactions(path, UDATA))
    assert inter.summary['duplicates'] == 2
    assert inter.summary['interactions'] == 3
    kept = {(inter.user_ids[u], inter.item_ids[i]): (r, t) for u, i, r, t in
            zip(inter.users, inter.items, inter.ratings, inter.timestamps)}
    assert kept == {(1, 2): (1, 30), (2, 2): (4, 5), (1, 3): (4, 15)}
    assert 'dropped 2 repeated (user, item) lines' in summary_line(
        inter.summary)


def test_duplicates_with_equal_times_keep_the_later_line(tmp_path):
    path = write(tmp_path, '1\t2\t5\t10\n1\t2\t1\t10\n1\t3\t4\t9\n')
    inter = index_interactions(read_interactions(path, UDATA))
    assert inter.summary['duplicates'] == 1
    assert sorted(inter.ratings.tolist()) == [1, 4]


def test_sparse_ids_are_mapped_to_dense_indices(tmp_path):
    # item ids up to 200000, users 7 and 900: the chapter's id - 1 would
    # index far past an embedding table of 3 items
    path = write(tmp_path, '900\t200000\t5\t1\n7\t31\t3\t2\n900\t31\t4\t3\n'
                           '7\t5000\t2\t4\n7\t200000\t2\t5\n')
    data = load_dataset(path=path, sep='\t')
    assert (data.num_users, data.num_items) == (2, 3)
    assert data.user_ids.tolist() == [7, 900]
    assert data.item_ids.tolist() == [31, 5000, 200000]
    assert max(data.items_train) < data.num_items
    # user 7's latest is 200000 at time 5; user 900's is 31 at time 3
    assert data.test_iter == {1: [0], 0: [2]}
    assert not data.summary['contiguous_ids']


def test_single_interaction_users_are_excluded_and_counted(tmp_path):
    rows = make_ratings()
    rows += [(25, 3, 4, 999999999), (26, 7, 2, 999999998)]
    data = load_chapter_data(write_udata(tmp_path / 'd', rows))
    assert data.num_users == 26
    assert data.summary['excluded_users'] == 2
    assert 24 not in data.test_iter and 25 not in data.test_iter
    assert len(data.test_iter) == 24
    assert '2 users with a single interaction' in summary_line(data.summary)


def test_no_user_with_two_interactions_is_an_error(tmp_path):
    path = write(tmp_path, '1\t1\t5\t1\n2\t2\t5\t1\n')
    with pytest.raises(DataFormatError, match='no user has two or more'):
        load_dataset(path=path, sep='\t')


def assert_split_equals_d2l(folder):
    """Our loader's lists and dicts are d2l's, insertion order included."""
    ours = load_chapter_data(folder)
    df, num_users, num_items = read_data_ml100k(folder)
    train, test = split_data_ml100k(df, num_users, num_items, 'seq-aware')
    users, items, _, candidates = load_data_ml100k(
        train, num_users, num_items, feedback='implicit')
    _, _, _, test_iter = load_data_ml100k(test, num_users, num_items,
                                          feedback='implicit')
    assert ours.users_train == users and ours.items_train == items
    assert ours.candidates == candidates
    assert list(ours.test_iter.items()) == list(test_iter.items())
    return ours


def test_split_equals_d2l_on_synthetic_data(synthetic_dir):
    assert_split_equals_d2l(synthetic_dir)


@pytest.mark.slow
def test_split_equals_d2l_on_real_data(real_data_dir):
    ours = assert_split_equals_d2l(real_data_dir)
    assert ours.summary['duplicates'] == 0
    assert ours.user_ids.tolist() == list(range(1, 944))


def write_ml1m(folder, rows, titles=None):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'ratings.dat'), 'w') as f:
        for row in rows:
            f.write('::'.join(str(x) for x in row) + '\n')
    if titles:
        with open(os.path.join(folder, 'movies.dat'), 'w',
                  encoding='latin-1') as f:
            for i, title in titles.items():
                f.write(f'{i}::{title}::Drama\n')
    return str(folder)


def test_movielens_1m_format(tmp_path):
    rows = make_ratings()
    folder = write_ml1m(tmp_path / 'ml-1m', rows)
    data = load_dataset('ml-1m', data_dir=folder)
    same = load_chapter_data(write_udata(tmp_path / 'u', rows))
    assert data.candidates == same.candidates
    assert data.test_iter == same.test_iter
    assert data.summary['format'] == 'ratings.dat'


def test_movielens_1m_bad_line(tmp_path):
    folder = tmp_path / 'ml-1m'
    folder.mkdir()
    (folder / 'ratings.dat').write_text('1::2::3::4\n1\t2\t3\t4\n')
    with pytest.raises(DataFormatError,
                       match=r"ratings\.dat, line 2: expected 4 '::'-sep"):
        load_dataset('ml-1m', data_dir=str(folder))


def test_movielens_1m_from_environment(tmp_path, monkeypatch):
    folder = write_ml1m(tmp_path / 'ml-1m', make_ratings())
    monkeypatch.setenv('D2L_NCF_ML1M_DIR', folder)
    assert load_dataset('ml-1m').num_users == 24


def test_movielens_1m_missing_folder_names_the_file(tmp_path):
    with pytest.raises(DataNotFoundError, match=r'ratings\.dat not found'):
        load_dataset('ml-1m', data_dir=str(tmp_path))


@pytest.mark.parametrize('name, sep, text', [
    ('a.csv', None, 'user,item,rating,timestamp\n1,2,3.5,10\n1,3,4,11\n'
                    '2,2,5,12\n2,4,1,13\n'),
    ('a.tsv', None, '1\t2\t3.5\t10\n1\t3\t4\t11\n2\t2\t5\t12\n2\t4\t1\t13\n'),
    ('a.txt', ';', '1;2;3.5;10\n1;3;4;11\n2;2;5;12\n2;4;1;13\n'),
])
def test_csv_and_tsv_tables(tmp_path, name, sep, text):
    data = load_dataset(path=write(tmp_path, text, name), sep=sep)
    assert (data.num_users, data.num_items) == (2, 3)
    assert data.test_iter == {0: [1], 1: [2]}
    assert data.summary['header'] == name.endswith('.csv')


def test_table_columns_in_another_order_without_timestamps(tmp_path):
    # no timestamp column: the file's order is time; the last line wins
    path = write(tmp_path, 'item,user\n10,1\n20,1\n30,2\n10,2\n', 'a.csv')
    data = load_dataset(path=path, columns=('item', 'user'))
    assert data.item_ids.tolist() == [10, 20, 30]
    assert data.test_iter == {0: [1], 1: [0]}


@pytest.mark.parametrize('columns', [('user',), ('user', 'item', 'votes'),
                                     ('user', 'item', 'user')])
def test_bad_column_names(columns):
    with pytest.raises(ValueError, match='columns must name user and item'):
        table_format(',', columns)


def test_table_with_wrong_columns_names_the_line(tmp_path):
    path = write(tmp_path, 'user,item\n1,2\n3,4,5\n', 'a.csv')
    with pytest.raises(DataFormatError,
                       match=r'line 3: expected 2 comma-separated fields '
                             r'\(user, item\), got 3'):
        load_dataset(path=path, columns=('user', 'item'))


def test_missing_table_is_named(tmp_path):
    with pytest.raises(DataNotFoundError, match='nope.csv not found'):
        load_dataset(path=str(tmp_path / 'nope.csv'))



def test_titles_from_movielens_folders(tmp_path):
    folder = write_ml1m(tmp_path / 'ml-1m', make_ratings(),
                        {1: 'Toy Story (1995)', 2: 'Jumanji (1995)',
                         3: 'Amélie (2001)'})
    assert DATASETS['ml-1m'].read_titles(folder) == {
        1: 'Toy Story (1995)', 2: 'Jumanji (1995)', 3: 'Amélie (2001)'}
    assert DATASETS['ml-100k'].read_titles(str(tmp_path)) == {}  # no u.item
