"""Reading one interaction file, strictly: Format, sniff, the two parsers.

A `Format` says how a file is laid out: its separator, its columns (from
FIELDS) and whether a header line is allowed. MovieLens' formats are in
`movielens`; `table_format` makes one for any CSV/TSV. Every line is
checked; the first bad one is reported with its file, line number and
what was expected (`DataFormatError`). Ids and timestamps are ASCII
decimal integers (digits 0-9, an optional leading minus) in the int64
range; ratings finite ASCII decimal numbers; files are UTF-8 (a leading
byte-order mark is dropped), unquoted, and a header must name the
columns in the caller's order. Plain files are parsed vectorised, the
rest line by line (`read_interactions`). What reading changes is counted
and reported, never done silently:

- blank lines carry nothing and are skipped (counted);
- a header line is allowed where the format allows one (CSV/TSV tables,
  MovieLens-20M/25M), not in ``u.data`` or ``ratings.dat``;
- without a timestamp column, the file's order is the time order.

The result, `Ratings`, keeps the original ids and the line of each row;
`interactions.index_interactions` takes it from there. This module
imports nothing of the package.
"""
import csv
import dataclasses
import hashlib
import io
import math
import os
import re
import unicodedata
import warnings

import numpy

FIELDS = ('user', 'item', 'rating', 'timestamp')
SEPARATOR_NAMES = {'\t': 'tab', ',': 'comma', ';': 'semicolon',
                   '::': "'::'", ' ': 'space', '|': "'|'"}


class DataFormatError(ValueError):
    """A ratings file that does not hold what its format promises."""


@dataclasses.dataclass(frozen=True)
class Format:
    """How to read one kind of interaction file."""
    name: str
    sep: str
    columns: tuple = FIELDS
    header_allowed: bool = False


def table_format(sep=',', columns=FIELDS):
    """A CSV/TSV format: `columns` from FIELDS, user and item required."""
    columns = tuple(c.strip() for c in columns)
    unknown = [c for c in columns if c not in FIELDS]
    if unknown or len(set(columns)) != len(columns) or not {
            'user', 'item'} <= set(columns):
        raise ValueError(
            f'columns must name user and item, and optionally rating and '
            f'timestamp, each once, in the file\'s order; got '
            f'{",".join(columns)}')
    if not sep:
        raise ValueError('the separator must not be empty')
    return Format('table', sep, columns, header_allowed=True)


@dataclasses.dataclass
class Ratings:
    """A file's interactions with original ids, and what reading did."""
    # user_id, item_id, rating, timestamp (the chapter's frame), line
    frame: object  # a pandas.DataFrame
    path: str
    format: str
    blank_lines: list  # line numbers
    header: bool


def parse_separator(text):
    """A separator as typed on a command line: 'tab' or '\\t' is a tab."""
    return {'tab': '\t', '\\t': '\t', 'comma': ',',
            'space': ' '}.get(text, text)


def read_interactions(path, fmt):
    """Read `path` in format `fmt`, checking every line.

    Plain files (digits, signs, decimal points where ratings are, one
    separator, no blank lines) are parsed by pandas' C parser; anything
    else, and any file that parser refuses, is read line by line
    (`read_interactions_strict`), which reports the first bad line. Both
    give the same frame, and errors come only from the line reader.
    """
    ratings = read_interactions_fast(path, fmt)
    return ratings if ratings is not None else read_interactions_strict(
        path, fmt)


def read_interactions_strict(path, fmt):
    """Read `path` in format `fmt` line by line, checking every line."""
    columns = fmt.columns
    expected = _expected(fmt)
    values = {c: [] for c in columns}
    lines, blank, header = [], [], False
    for lineno, text in _text_lines(path):
        if not text.strip(SPACE):
            blank.append(lineno)
            continue
        if '"' in text:
            raise DataFormatError(
                f'{path}, line {lineno}: a quoted field in {text!r}; '
                f'expected plain {expected} without quotes (export the '
                f'file without quoting, or remove the quotes)')
        fields = [x.strip(SPACE) for x in text.split(fmt.sep)]
        if not lines and not header and _looks_like_header(fields):
            if not fmt.header_allowed:
                raise DataFormatError(
                    f'{path}, line {lineno}: expected {expected}, got '
                    f'a header line {text!r}; {fmt.name} files have '
                    f'none: remove it, or read the file as a table '
                    f'(--data {path} --sep ... --columns ...)')
            _check_header(path, lineno, fields, columns)
            header = True
            continue
        if len(fields) != len(columns):
            raise DataFormatError(
                f'{path}, line {lineno}: expected {expected}, got '
                f'{len(fields)}: {text!r}')
        try:
            parsed = [_parse_field(c, x) for c, x in zip(columns, fields)]
        except ValueError as err:
            raise DataFormatError(
                f'{path}, line {lineno}: {err}; expected {expected}, '
                f'got {text!r}') from None
        for c, v in zip(columns, parsed):
            values[c].append(v)
        lines.append(lineno)
    if not lines:
        what = 'no interactions' if (blank or header) else 'nothing'
        raise DataFormatError(
            f'{path}: the file holds {what}; expected lines of '
            f'{expected}')
    frame = _frame(values, lines)
    return Ratings(frame, str(path), fmt.name, blank, header)


def read_interactions_fast(path, fmt):
    """The common case, vectorised: a Ratings, or None to read strictly.

    None whenever the file is not plainly valid: then the line reader
    decides, so errors are always its errors.
    """
    if any(ch in fmt.sep for ch in ' \x0b\x0c"\r\n.-0123456789'):
        return None
    try:
        with _open_bytes(path) as f:
            body = f.read()
    except DataFormatError:
        return None
    if sniff(path, body[:4096]) is not None:
        return None
    body = body[len(BOM):] if body.startswith(BOM) else body
    header = False
    first = body.split(b'\n', 1)[0]
    if not _plain_bytes(first, fmt, allow_dot=True):
        if not fmt.header_allowed or not _is_good_header(path, first, fmt):
            return None
        header, body = True, body[len(first) + 1:]
    if not body.strip(b'\r\n') or b'\n\n' in b'\n' + body or b'\n\r\n' in (
            b'\n' + body) or body.count(b'\r') != body.count(b'\r\n'):
        return None  # empty, blank lines or lone carriage returns
    rows = body.count(b'\n') + (not body.endswith(b'\n'))
    sep = fmt.sep.encode('utf-8')
    if body.count(sep) != rows * (len(fmt.columns) - 1):
        return None
    if len(sep) > 1:
        if b'\t' in body:
            return None
        body, sep = body.replace(sep, b'\t'), b'\t'
        if body.count(sep) != rows * (len(fmt.columns) - 1):
            return None
    if not _plain_bytes(body, fmt, sep=sep):
        return None
    values = _pandas_columns(body, sep, fmt.columns, rows)
    del body
    if values is None:
        return None
    if 'rating' in values and not numpy.isfinite(values['rating']).all():
        return None
    lines = numpy.arange(1 + header, rows + 1 + header, dtype=numpy.int64)
    return Ratings(_frame(values, lines), str(path), fmt.name, [], header)


def _is_good_header(path, first, fmt):
    """Whether the line reader would take `first` as a valid header."""
    try:
        text = first.rstrip(b'\r').decode('utf-8')
    except UnicodeDecodeError:
        return False
    if '"' in text or '\r' in text:
        return False
    fields = [x.strip(SPACE) for x in text.split(fmt.sep)]
    if not _looks_like_header(fields):
        return False
    try:
        _check_header(path, 1, fields, fmt.columns)
    except DataFormatError:
        return False
    return True


PLAIN = numpy.zeros(256, dtype=bool)
PLAIN[list(b'0123456789-\r\n')] = True
CHUNK = 1 << 24


def _plain_bytes(body, fmt, sep=None, allow_dot=False):
    """Only digits, '-', line ends, the separator and (in the rating
    column only) '.': what pandas and the line reader read alike."""
    sep = sep if sep is not None else fmt.sep.encode('utf-8')
    plain = PLAIN.copy()
    plain[list(sep)] = True
    rating = (fmt.columns.index('rating') if 'rating' in fmt.columns
              else None)
    plain[ord('.')] = rating is not None or allow_dot
    start = 0
    while start < len(body):
        end = body.find(b'\n', min(start + CHUNK, len(body)))
        end = len(body) if end < 0 else end + 1
        chunk = numpy.frombuffer(body, numpy.uint8, end - start, start)
        if not plain[chunk].all():
            return False
        if rating is not None and not allow_dot:
            dots = numpy.flatnonzero(chunk == ord('.'))
            if dots.size and not _dots_in_column(chunk, dots, sep, rating):
                return False
        start = end
    return True


def _dots_in_column(chunk, dots, sep, column):
    """Whether every '.' of a chunk of whole lines is in field `column`."""
    seps = numpy.flatnonzero(chunk == sep[0])
    ends = numpy.flatnonzero(chunk == ord('\n'))
    before = numpy.searchsorted(ends, dots) - 1
    starts = numpy.where(before >= 0, ends[numpy.maximum(before, 0)], -1)
    field = (numpy.searchsorted(seps, dots)
             - numpy.searchsorted(seps, starts, side='right'))
    return bool(numpy.all(field == column))


# Bytes of the file pandas parses at once: its parse holds about 140
# bytes a row, so a 20M-row file parsed whole would peak near 3 GB.
PARSE_CHUNK = 1 << 26


def _pandas_columns(body, sep, columns, rows):
    """`columns` of plain bytes `body` (`rows` lines) parsed by pandas'
    C parser, a piece of whole lines at a time, into one array each;
    None when it refuses any piece or the lines do not add up to `rows`.
    """
    dtypes = {c: ('float64' if c == 'rating' else 'int64') for c in columns}
    values = {c: numpy.empty(rows, dtype=t) for c, t in dtypes.items()}
    start = done = 0
    while start < len(body):
        end = body.find(b'\n', min(start + PARSE_CHUNK, len(body)) - 1)
        end = len(body) if end < 0 else end + 1
        frame = _pandas_frame(body[start:end], sep, columns, dtypes)
        if frame is None or done + len(frame) > rows:
            return None
        for c in columns:
            values[c][done:done + len(frame)] = frame[c].to_numpy()
        done, start = done + len(frame), end
    return values if done == rows else None


def _pandas_frame(body, sep, columns, dtypes):
    """pandas' C parser on plain bytes; None when it refuses anything."""
    import pandas as pd  # here: the command line's checks need no pandas
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            frame = pd.read_csv(
                io.BytesIO(body), sep=sep.decode(), header=None,
                names=list(columns), dtype=dtypes, engine='c',
                na_filter=False, quoting=csv.QUOTE_NONE,
                skip_blank_lines=False, index_col=False,
                float_precision='round_trip')
    except Exception:  # any refusal: the line reader says what is wrong
        return None
    if any(frame[c].dtype != numpy.dtype(t) for c, t in dtypes.items()):
        return None  # e.g. uint64 for values above the int64 range
    return frame


def _expected(fmt):
    sep_name = SEPARATOR_NAMES.get(fmt.sep, repr(fmt.sep))
    return (f'{len(fmt.columns)} {sep_name}-separated fields '
            f'({", ".join(fmt.columns)})')


def _frame(values, lines):
    """The frame of parsed columns; ratings integer when all are whole."""
    n = len(lines)
    if 'rating' in values:
        ratings = numpy.asarray(values['rating'], dtype=numpy.float64)
        if bool(numpy.all(ratings == numpy.round(ratings))) and bool(
                numpy.all(numpy.abs(ratings) < 2.0 ** 53)):
            ratings = ratings.astype(numpy.int64)
    else:
        ratings = numpy.ones(n, dtype=numpy.int64)
    import pandas as pd
    return pd.DataFrame({
        'user_id': _small(numpy.asarray(values['user'], dtype=numpy.int64)),
        'item_id': _small(numpy.asarray(values['item'], dtype=numpy.int64)),
        'rating': ratings,
        # without timestamps the file's order is the time order
        'timestamp': (numpy.asarray(values['timestamp'], dtype=numpy.int64)
                      if 'timestamp' in values
                      else numpy.arange(n, dtype=numpy.int64)),
        'line': numpy.asarray(lines, dtype=numpy.int64)})


def _small(ids):
    """int32 when every id fits, else int64: half the memory for most."""
    info = numpy.iinfo(numpy.int32)
    if len(ids) and info.min <= ids.min() and ids.max() <= info.max:
        return ids.astype(numpy.int32)
    return ids


# What a file that is not text starts with, and what it then is.
MAGIC = ((b'\xff\xfe', 'UTF-16 text (byte-order mark FF FE)'),
         (b'\xfe\xff', 'UTF-16 text (byte-order mark FE FF)'),
         (b'PK\x03\x04', 'a zip archive'),
         (b'\x1f\x8b', 'a gzip-compressed file'),
         (b'\x89PNG', 'a PNG image'),
         (b'\xff\xd8\xff', 'a JPEG image'),
         (b'%PDF', 'a PDF document'))
BOM = b'\xef\xbb\xbf'
SPACE = ' \t\x0b\x0c'  # ASCII blanks around a field


def sniff(path, head):
    """What the file is, from its first bytes, when it is not text."""
    for magic, what in MAGIC:
        if head.startswith(magic):
            return what
    if b'\x00' in head:
        odd = head[1::2] if head[:1] != b'\x00' else head[0::2]
        if odd and odd.count(b'\x00') == len(odd):
            return 'UTF-16 text without a byte-order mark'
        return 'a binary file (it holds NUL bytes)'
    return None


def _open_bytes(path):
    if os.path.isdir(path):
        raise DataFormatError(
            f'{path} is a folder; expected a ratings file (a MovieLens '
            f'folder is given with --data-dir, a CSV/TSV file with --data)')
    try:
        return open(path, 'rb')
    except OSError as err:
        raise DataFormatError(f'{path}: cannot read it: {err}') from None


def _text_lines(path):
    """(line number, text) of a UTF-8 file; a leading BOM is dropped."""
    with _open_bytes(path) as f:
        head = f.read(4096)
        what = sniff(path, head)
        if what is not None:
            raise DataFormatError(
                f'{path}: the file is {what}; expected UTF-8 (or ASCII) '
                f'text, one interaction per line'
                + (' (convert it, e.g. iconv -f UTF-16 -t UTF-8)'
                   if 'UTF-16' in what else ''))
        f.seek(len(BOM) if head.startswith(BOM) else 0)
        for lineno, raw in enumerate(f, 1):
            raw = raw.rstrip(b'\n')
            raw = raw[:-1] if raw.endswith(b'\r') else raw
            try:
                text = raw.decode('utf-8')
            except UnicodeDecodeError as err:
                raise DataFormatError(
                    f'{path}, line {lineno}: not UTF-8 text (byte '
                    f'0x{raw[err.start]:02x} at column {err.start + 1}); '
                    f'expected UTF-8 or ASCII text') from None
            if '\r' in text:
                raise DataFormatError(
                    f'{path}, line {lineno}: a carriage return inside the '
                    f'line; expected lines ending in \\n or \\r\\n '
                    f'(convert old Mac line endings)')
            yield lineno, text


INTEGER = re.compile(r'-?[0-9]+')
NUMBER = re.compile(r'-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)'
                    r'(?:[eE][-+]?[0-9]+)?')
INT64 = (-2 ** 63, 2 ** 63 - 1)
NOUNS = {'user': 'user id', 'item': 'item id'}


def _parse_field(column, text):
    if column == 'rating':
        value = float(text) if NUMBER.fullmatch(text) else None
        if value is None or not math.isfinite(value):
            raise ValueError(f'the rating {text!r} is not a number'
                             + _written_as(text, 'a finite decimal number'))
        return value
    noun = NOUNS.get(column, column)
    if not INTEGER.fullmatch(text):
        raise ValueError(f'the {noun} {text!r} is not a whole number'
                         + _written_as(text, 'ASCII digits 0-9 with an '
                                             'optional leading minus sign'))
    value = int(text)
    if not INT64[0] <= value <= INT64[1]:
        raise ValueError(f'the {noun} {text} is outside the 64-bit integer '
                         f'range ({INT64[0]} to {INT64[1]})')
    return value


def _written_as(text, rule):
    """What is wrong with a number's text, beyond not matching `rule`."""
    odd = [ch for ch in text if not ch.isascii()]
    if odd:
        name = unicodedata.name(odd[0], f'U+{ord(odd[0]):04X}')
        return f' (written as {rule}; it holds {odd[0]!r}, {name})'
    return f' (written as {rule})'


def _looks_like_header(fields):
    """Column names, not data: no field is a number, each has a letter."""
    return all(any(ch.isalpha() for ch in x)
               and not NUMBER.fullmatch(x) for x in fields)


# Header names per column (lower case, without '_', '-' and spaces).
HEADER_NAMES = {
    'user': {'user', 'userid', 'uid', 'users', 'u'},
    'item': {'item', 'itemid', 'iid', 'items', 'i', 'movie', 'movieid',
             'movies', 'product', 'productid'},
    'rating': {'rating', 'ratings', 'score', 'stars', 'r'},
    'timestamp': {'timestamp', 'time', 'ts', 't', 'date', 'datetime',
                  'unixtime'},
}


def header_column(name):
    """The column a header name stands for, or None."""
    key = re.sub(r'[\s_\-]', '', name.lower())
    for column, names in HEADER_NAMES.items():
        if key in names:
            return column
    return None


def _check_header(path, lineno, fields, columns):
    """A header line must name `columns` in the same order."""
    named = [header_column(f) for f in fields]
    if named == list(columns):
        return
    said = (f'the header says {",".join(fields)}, but --columns says '
            f'{",".join(columns)}')
    if None not in named and len(set(named)) == len(named) and {
            'user', 'item'} <= set(named):
        fix = (f'pass --columns {",".join(named)} to read the file in the '
               f"header's order")
    else:
        unknown = [f for f, c in zip(fields, named) if c is None]
        fix = (unknown_names(unknown)
               + 'rename the header fields to the --columns names, or '
                 'change --columns to the file\'s order')
    raise DataFormatError(f'{path}, line {lineno}: {said}; {fix}')


def unknown_names(names):
    """'x' is not a column name ... / 'x' and 'y' are not ...; """
    if not names:
        return ''
    quoted = [repr(n) for n in names]
    if len(names) == 1:
        return (f'{quoted[0]} is not a column name d2l-ncf knows '
                f'({", ".join(FIELDS)}); ')
    listed = ', '.join(quoted[:-1]) + ' and ' + quoted[-1]
    return (f'{listed} are not column names d2l-ncf knows '
            f'({", ".join(FIELDS)}); ')


def file_digest(fname, hash_name='sha1'):
    """The hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.new(hash_name)
    with open(fname, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()
