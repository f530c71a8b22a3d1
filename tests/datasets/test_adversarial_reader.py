"""The reader refuses what it cannot read exactly, with file and line."""
import os
import re

import pytest

from d2l_ncf.data import load_dataset
from d2l_ncf.datasets.interactions import index_interactions, split_seq_aware
from d2l_ncf.datasets.movielens import UDATA, DataNotFoundError
from d2l_ncf.datasets.formats import (DataFormatError, read_interactions,
                                      table_format)

INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1
GOOD = '1\t1\t5\t10\n'


def write(tmp_path, text, name='u.data', encoding='utf-8'):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str)
                     else text)
    return str(path)


def refused(path, fmt, message):
    with pytest.raises(DataFormatError, match=message) as err:
        read_interactions(path, fmt)
    assert str(err.value).startswith(path)
    return str(err.value)


@pytest.mark.parametrize('field, column', [
    ('\u0663', 'user id'),            # Arabic-Indic three
    ('\uff11\uff12', 'item id'),      # fullwidth 12
    ('\u096a', 'user id'),            # Devanagari four
    ('1_000', 'timestamp'),
    ('+5', 'user id'),
    ('1 0', 'item id'),
    ('0x10', 'timestamp'),
    ('1e3', 'timestamp'),
    ('--1', 'user id'),
    ('', 'item id'),
])
def test_ids_and_timestamps_are_ascii_decimal_integers_only(
        tmp_path, field, column):
    cols = {'user id': 0, 'item id': 1, 'timestamp': 3}
    row = ['2', '3', '4', '11']
    row[cols[column]] = field
    path = write(tmp_path, GOOD + '\t'.join(row) + '\n')
    message = refused(path, UDATA, f'line 2: the {column} .* is not a '
                                   f'whole number')
    assert 'ASCII digits' in message
    if not field.isascii():
        assert 'DIGIT' in message  # names the character it found


@pytest.mark.parametrize('value', [str(INT64_MAX + 1), str(INT64_MIN - 1),
                                   '9' * 40])
def test_values_outside_int64_are_a_line_error_not_overflow(tmp_path,
                                                            value):
    path = write(tmp_path, GOOD + f'2\t3\t4\t{value}\n')
    refused(path, UDATA, r'line 2: the timestamp -?9+\d* is outside the '
                         r'64-bit integer range')
    path = write(tmp_path, GOOD + f'{value}\t3\t4\t5\n')
    refused(path, UDATA, 'line 2: the user id .* outside the 64-bit')


@pytest.mark.parametrize('rating', ['nan', 'inf', '-Infinity', '1e999',
                                    '\u0665', '+-1'])
def test_ratings_must_be_finite_ascii_numbers(tmp_path, rating):
    path = write(tmp_path, GOOD + f'2\t3\t{rating}\t11\n')
    refused(path, UDATA, r'line 2: the rating .* is not a number')


def test_int64_extremes_are_read_exactly(tmp_path):
    path = write(tmp_path, f'{INT64_MIN}\t{INT64_MAX}\t1\t{INT64_MIN}\n'
                           f'{INT64_MAX}\t{INT64_MIN}\t1\t{INT64_MAX}\n')
    frame = read_interactions(path, UDATA).frame
    assert frame.user_id.tolist() == [INT64_MIN, INT64_MAX]
    assert frame.timestamp.tolist() == [INT64_MIN, INT64_MAX]


@pytest.mark.parametrize('early, late', [
    (INT64_MIN, INT64_MIN + 1), (INT64_MIN, 0), (INT64_MIN, INT64_MAX),
    (INT64_MAX - 1, INT64_MAX), (-5, -4), (0, INT64_MAX)])
def test_held_out_item_is_the_latest_for_extreme_timestamps(
        tmp_path, early, late):
    # each user's latest item is held out, whatever the file order
    text = (f'1\t10\t1\t{late}\n1\t20\t1\t{early}\n'
            f'2\t20\t1\t{early}\n2\t30\t1\t{late}\n'
            f'3\t10\t1\t{early}\n3\t30\t1\t{early}\n')
    inter = index_interactions(read_interactions(write(tmp_path, text),
                                                 UDATA))
    train, test = split_seq_aware(inter)
    held = {int(inter.user_ids[inter.users[r]]):
            int(inter.item_ids[inter.items[r]]) for r in test}
    # equal times: the earlier line is held out, as in d2l's split
    assert held == {1: 10, 2: 30, 3: 10}
    assert sorted(train.tolist() + test.tolist()) == list(range(6))


def test_a_header_in_another_order_than_columns_shows_both(tmp_path):
    path = write(tmp_path, 'item,user,rating\n1,2,3\n', 'a.csv')
    message = refused(path, table_format(',', ('user', 'item', 'rating')),
                      'line 1: the header says item,user,rating, but '
                      '--columns says user,item,rating; pass --columns '
                      "item,user,rating to read the file in the header's "
                      'order')
    assert '--columns item,user,rating' in message


def test_header_names_that_are_no_column_are_refused_in_a_sentence(
        tmp_path):
    path = write(tmp_path, 'who,what\n1,2\n', 'a.csv')
    refused(path, table_format(',', ('user', 'item')), re.escape(
            "the header says who,what, but --columns says user,item; "
            "'who' and 'what' are not column names d2l-ncf knows (user, "
            "item, rating, timestamp); rename the header fields to the "
            "--columns names, or change --columns to the file's order"))
    path = write(tmp_path, 'user,what\n1,2\n', 'c.csv')
    refused(path, table_format(',', ('user', 'item')),
            "; 'what' is not a column name d2l-ncf knows")
    path = write(tmp_path, 'user,item,rating\n1,2,3\n', 'b.csv')
    refused(path, table_format(',', ('user', 'item')),
            'the header says user,item,rating, but --columns says '
            'user,item')


def test_grouplens_header_names_are_understood(tmp_path):
    path = write(tmp_path, 'userId,movieId,rating,timestamp\n1,2,3.5,4\n',
                 'ratings.csv')
    ratings = read_interactions(path, table_format(','))
    assert ratings.header and ratings.frame.item_id.tolist() == [2]


def test_a_utf8_bom_is_read_as_such(tmp_path):
    path = write(tmp_path, '\ufeffuser,item\n7,8\n', 'a.csv')
    ratings = read_interactions(path, table_format(',', ('user', 'item')))
    assert ratings.header and ratings.frame.user_id.tolist() == [7]
    path = write(tmp_path, '\ufeff' + GOOD)
    assert read_interactions(path, UDATA).frame.user_id.tolist() == [1]


def test_a_bom_later_in_the_file_is_a_line_error(tmp_path):
    path = write(tmp_path, GOOD + '\ufeff2\t3\t4\t5\n')
    refused(path, UDATA, r"line 2: the user id '\\ufeff2' is not a whole "
                         r".*ZERO WIDTH NO-BREAK")


@pytest.mark.parametrize('text', ['"user","item"\n1,2\n',
                                  'user,item\n"1",2\n', "1,2\n3,'4\"\n"])
def test_quoted_fields_are_refused_with_what_was_expected(tmp_path, text):
    path = write(tmp_path, text, 'a.csv')
    refused(path, table_format(',', ('user', 'item')),
            r'line \d: a quoted field .*expected plain 2 comma-separated '
            r'fields \(user, item\) without quotes')


@pytest.mark.parametrize('encoding, what', [
    ('utf-16', 'UTF-16 text'), ('utf-16-be', 'UTF-16 text without'),
    ('utf-16-le', 'UTF-16 text without')])
def test_utf16_files_are_named_as_such(tmp_path, encoding, what):
    path = write(tmp_path, 'user,item\n1,2\n', 'a.csv', encoding)
    message = refused(path, table_format(',', ('user', 'item')),
                      f'the file is {what}')
    assert 'expected UTF-8' in message and 'iconv' in message


@pytest.mark.parametrize('data, what', [
    (b'PK\x03\x04rest', 'a zip archive'), (b'\x1f\x8b\x08', 'a gzip'),
    (b'\x89PNG\r\n\x1a\n', 'a PNG image'),
    (b'1\t2\x00\t3\t4\n', 'a binary file')])
def test_binary_files_are_named_as_such(tmp_path, data, what):
    refused(write(tmp_path, data), UDATA, f'the file is {what}')


def test_invalid_utf8_is_a_line_error(tmp_path):
    path = write(tmp_path, GOOD.encode() + b'2\t3\t4\t5\xe9\n')
    refused(path, UDATA, r'line 2: not UTF-8 text \(byte 0xe9 at column 8')


def test_a_carriage_return_inside_a_line_is_refused(tmp_path):
    path = write(tmp_path, '1\t1\t5\t10\r2\t1\t5\t11\n')
    refused(path, UDATA, 'line 1: a carriage return inside the line')


def test_windows_line_endings_are_fine(tmp_path):
    path = write(tmp_path, '1\t1\t5\t10\r\n2\t1\t5\t11\r\n')
    assert read_interactions(path, UDATA).frame.line.tolist() == [1, 2]


def test_a_folder_passed_as_data_says_what_it_is(tmp_path):
    with pytest.raises(DataFormatError, match=r'is a folder; expected a '
                                              r'CSV or TSV file'):
        load_dataset(path=str(tmp_path))
    with pytest.raises(DataFormatError, match='is a folder; expected a '
                                              'ratings file'):
        read_interactions(str(tmp_path), UDATA)


def test_a_file_passed_as_data_dir_says_what_it_is(tmp_path):
    path = write(tmp_path, GOOD, 'ratings.csv')
    with pytest.raises(DataNotFoundError,
                       match=r'is a file \(data_dir\); expected the '
                             r'unzipped MovieLens-100K folder'):
        load_dataset('ml-100k', data_dir=path)


# --- pandas on plain lines (issue 15) against the line-by-line reading ---

from d2l_ncf.datasets import formats  # noqa: E402
from d2l_ncf.datasets.movielens import ML1M  # noqa: E402


def _ratings(path, fmt, read_with):
    with open(path, 'rb') as f:
        body = f.read()
    body = body[3:] if body.startswith(b'\xef\xbb\xbf') else body
    read = read_with(path, body, fmt)
    return read and formats.Ratings(formats._frame(*read[:2]), path,
                                    fmt.name, *read[2:])


def read_interactions_fast(path, fmt):
    """pandas' reading, or None for a file that is not all plain lines."""
    return _ratings(path, fmt, formats._read_plain)


def read_interactions_strict(path, fmt):
    """The line-by-line reading of the whole file."""
    return _ratings(path, fmt, formats._read_lines)

TABLE4 = table_format(',')
TABLE3 = table_format(',', ('user', 'item', 'rating'))
VALID = [
    ('1\t1\t5\t10\n2\t1\t3\t11\n1\t2\t4\t12\n', UDATA),
    ('1\t1\t5\t10\n2\t1\t3\t11', UDATA),  # no final newline
    ('1\t1\t5\t10\r\n2\t1\t3\t11\r\n', UDATA),
    ('\ufeff1\t1\t5\t10\n', UDATA),
    (f'{INT64_MIN}\t{INT64_MAX}\t1\t{INT64_MIN}\n'
     f'{INT64_MAX}\t-0\t-2\t{INT64_MAX}\n', UDATA),
    ('2147483648\t-2147483649\t1\t5\n', UDATA),  # ids beyond int32
    ('007\t1\t5\t10\n', UDATA),
    ('1::2::3::4\n5::6::7::8\n', ML1M),
    ('userId,movieId,rating,timestamp\n1,2,3.5,4\n1,3,.5,5\n2,2,5.,6\n'
     '2,3,-0.25,7\n', TABLE4),
    ('user,item,rating\n1,2,0.1000000000000000055511151231257827\n'
     '3,4,1.0\n', TABLE3),
    ('\ufeffitem,user\n10,1\n20,1\n', table_format(',', ('item', 'user'))),
    ('1;2;3;4\n', table_format(';')),
    ('1|2|3|4\n5|6|7|8\n', table_format('|')),  # a regex character
]


def assert_same_frames(path, fmt):
    fast = read_interactions_fast(path, fmt)
    assert fast is not None, 'a plain valid file takes the fast path'
    strict = read_interactions_strict(path, fmt)
    import pandas as pd
    pd.testing.assert_frame_equal(fast.frame, strict.frame)
    assert (fast.header, fast.blank_lines, fast.format, fast.path) == (
        strict.header, strict.blank_lines, strict.format, strict.path)


@pytest.mark.parametrize('text, fmt', VALID)
def test_vectorised_reader_gives_the_same_frame(tmp_path, text, fmt):
    assert_same_frames(write(tmp_path, text, 'f.txt'), fmt)


def test_vectorised_reader_on_synthetic_data_and_its_dtypes(tmp_path):
    from synthetic import make_ratings, write_udata
    path = write_udata(tmp_path / 'd', make_ratings(num_users=300,
                                                    num_items=80)) + '/u.data'
    assert_same_frames(path, UDATA)
    frame = read_interactions(path, UDATA).frame
    assert frame.user_id.dtype == 'int32' and frame.item_id.dtype == 'int32'
    assert frame.timestamp.dtype == 'int64'


def strict_error(path, fmt):
    with pytest.raises(DataFormatError) as err:
        read_interactions_strict(path, fmt)
    return str(err.value)


MALFORMED = [
    ('1\t2\t3\t4\n1\t2\t3\n', UDATA), ('1,2,3,4\n', UDATA),
    ('1\t2\t3\t4\n1\tx\t3\t4\n', UDATA), ('1\t2\t3\t4\n1.5\t2\t3\t4\n', UDATA),
    ('1.0\t2\t3\t4\n', UDATA), ('1,2.0,3,4\n', TABLE4),
    ('1,2,3,4.5\n', TABLE4), ('1\t2\t3\t5pm\n', UDATA), ('', UDATA),
    ('\n\n', UDATA),
    ('1\t2\t3\t4\t5\n', UDATA), ('1\t2\t3\t4\n1\t2\t3\t4\t5\n', UDATA),
    ('1\t2\t3\n1\t2\t3\t4\t5\n', UDATA),
    ('user\titem\trating\ttimestamp\n1\t2\t3\t4\n', UDATA),
    ('user,item\n1,2\nuser,item\n', table_format(',', ('user', 'item'))),
    ('item,user,rating\n1,2,3\n', TABLE3), ('who,what\n1,2\n', TABLE3),
    (f'{INT64_MAX + 1}\t2\t3\t4\n', UDATA),
    (f'{2 ** 64}\t2\t3\t4\n', UDATA), (f'1\t2\t3\t{INT64_MIN - 1}\n', UDATA),
    ('1-2\t2\t3\t4\n', UDATA), ('-\t2\t3\t4\n', UDATA),
    ('1\t2\t.\t4\n', UDATA), ('1\t2\t1.2.3\t4\n', UDATA),
    ('1\t2\t3-\t4\n', UDATA), ('1\t2\t\t4\n', UDATA), ('\t\t\t\n', UDATA),
    ('1\t2\t3\t4\r2\t2\t3\t4\n', UDATA), ('1\t2\t3\t4\r\r\n', UDATA),
    ('1::2::3::4\n1\t2\t3\t4\n', ML1M), ('1:::2::3::4\n', ML1M),
    ('1::2:3::4::5\n', ML1M), ('1\t2\t3\t4\n\u0663\t2\t3\t4\n', UDATA),
    ('1\t2\t3\t+4\n', UDATA), ('1\t2\t3\t1_0\n', UDATA),
    ('1\t2\t3\t4 4\n', UDATA), ('1\t2\tnan\t4\n', UDATA),
    ('"1","2"\n', table_format(',', ('user', 'item'))),
    ('user,item\n1,2\n"3",4\n', table_format(',', ('user', 'item'))),
    ('1|2.0|3|4\n', table_format('|')),  # pandas reads 2.0 as an integer
]


@pytest.mark.parametrize('text', [
    '1\t2\t3\t4\n\n1\t3\t4\t5\n', '1\t2\t3\t4\n\n', '\n1\t2\t3\t4\n',
    '1\t2\t3\t 4\n', '1\t2\t4e0\t4\n', '1\t2\t3\t4\n \t \n'])
def test_files_the_vectorised_reader_hands_over_read_the_same(tmp_path,
                                                              text):
    # blank lines, blanks around fields, exponents: read line by line
    path = write(tmp_path, text, 'f.txt')
    assert read_interactions_fast(path, UDATA) is None
    ours, strict = (read_interactions(path, UDATA),
                    read_interactions_strict(path, UDATA))
    assert ours.frame.equals(strict.frame)
    assert ours.blank_lines == strict.blank_lines


@pytest.mark.parametrize('text, fmt', MALFORMED)
def test_vectorised_reader_leaves_every_error_to_the_line_reader(
        tmp_path, text, fmt):
    path = write(tmp_path, text, 'f.txt')
    expected = strict_error(path, fmt)
    assert read_interactions_fast(path, fmt) is None
    with pytest.raises(DataFormatError) as err:
        read_interactions(path, fmt)
    assert str(err.value) == expected


def test_vectorised_and_line_readers_agree_on_random_damage(tmp_path):
    # seeded byte damage of a valid file: same frame or the same error
    import random
    base = ('user,item,rating,timestamp\n1,2,3.5,10\n2,3,4,11\n'
            '3,1,.5,12\n1,3,2,13\n')
    rng = random.Random(0)
    alphabet = '0123456789-.,\n\r\t :e+_"\u0663'
    fast_used = 0
    for n in range(400):
        text = list(base)
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(text))
            op = rng.random()
            if op < 0.4:
                text[pos] = rng.choice(alphabet)
            elif op < 0.7:
                text.insert(pos, rng.choice(alphabet))
            else:
                del text[pos]
        path = write(tmp_path, ''.join(text), f'r{n}.csv')
        try:
            strict = read_interactions_strict(path, TABLE4)
        except DataFormatError as err:
            assert read_interactions_fast(path, TABLE4) is None, path
            with pytest.raises(DataFormatError) as mine:
                read_interactions(path, TABLE4)
            assert str(mine.value) == str(err)
            continue
        fast = read_interactions_fast(path, TABLE4)
        if fast is not None:
            fast_used += 1
            assert fast.frame.equals(strict.frame), ''.join(text)
            assert fast.header == strict.header
    assert fast_used > 20  # the comparison did exercise the fast path


def test_data_errors_exit_2_like_usage_errors(tmp_path, capsys):
    from d2l_ncf import cli
    bad = write(tmp_path, '1\t2\t3\t4\n1\tx\t3\t5\n', 'bad.tsv')
    small = ['--epochs', '1', '--no-progress', '--protocol', 'corrected']
    for argv in (['train', '--data', bad] + small,
                 ['exercise', 'factors', '--values', '4', '--data', bad]
                 + small,
                 ['train', '--data', str(tmp_path / 'gone.csv')] + small,
                 ['train', '--data-dir', str(tmp_path)] + small):
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith('d2l-ncf: error: ') and 'Traceback' not in err
        assert str(tmp_path) in err


@pytest.mark.parametrize('piece', [1, 5, 37])
def test_parsing_in_pieces_gives_the_same_frames_and_errors(
        tmp_path, monkeypatch, piece):
    # pandas parses a large file some rows at a time; pieces of one row
    # or a few change nothing: same frames, same refusals
    monkeypatch.setattr(formats, 'PARSE_ROWS', piece)
    for n, (text, fmt) in enumerate(VALID):
        assert_same_frames(write(tmp_path, text, f'v{n}.txt'), fmt)
    for n, (text, fmt) in enumerate(MALFORMED):
        path = write(tmp_path, text, f'm{n}.txt')
        expected = strict_error(path, fmt)
        assert read_interactions_fast(path, fmt) is None, text
        with pytest.raises(DataFormatError) as err:
            read_interactions(path, fmt)
        assert str(err.value) == expected


def test_synthetic_data_in_pieces_reads_the_same(tmp_path, monkeypatch):
    from synthetic import make_ratings, write_udata
    path = write_udata(tmp_path / 'd', make_ratings(num_users=300,
                                                    num_items=80)) + '/u.data'
    whole = read_interactions_fast(path, UDATA)
    monkeypatch.setattr(formats, 'PARSE_ROWS', 40)
    pieces = read_interactions_fast(path, UDATA)
    assert len(whole.frame) > 10 * 40  # ten pieces or more
    import pandas as pd
    pd.testing.assert_frame_equal(pieces.frame, whole.frame)
    assert_same_frames(path, UDATA)


# --- unclear messages (issue 23) ---

@pytest.mark.parametrize('text, sep, right', [
    ('user_id,item_id,rating,timestamp\n1,1,5,10\n', '\t', ','),
    ('user_id\titem_id\trating\ttimestamp\n1\t1\t5\t10\n', ',', 'tab'),
])
def test_a_separator_mismatch_names_the_separator_not_the_header(
        tmp_path, text, sep, right):
    # the message said the header equalled the columns it printed
    path = write(tmp_path, text, 'a.csv')
    message = refused(path, table_format(sep), 'line 1: split on --sep')
    assert f'pass --sep {right})' in message
    assert 'the header says' not in message


@pytest.mark.skipif(not os.path.exists('/dev/stdin'), reason='no /dev/fd')
def test_a_pipe_as_data_is_said_to_be_unsupported(tmp_path):
    # /dev/stdin and <(...) were "not found"
    read, write_end = os.pipe()
    try:
        with pytest.raises(DataFormatError, match='is a pipe or a device, '
                                                  'not a file'):
            load_dataset(path=f'/dev/fd/{read}')
    finally:
        os.close(read)
        os.close(write_end)
