"""What an interaction file is made of, for both of its readers: the
`Format` of a file, `Ratings` (what reading gives), `DataFormatError`,
the checks of a file's encoding (`sniff`), of a header line, and of its
lines' bytes, and the frame both readers build. Imports nothing of the
package.
"""
import dataclasses
import hashlib
import os
import re

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


# A field's text: an ASCII decimal integer, an ASCII decimal number.
INTEGER = re.compile(r'-?[0-9]+')
NUMBER = re.compile(r'-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)'
                    r'(?:[eE][-+]?[0-9]+)?')


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


SEPARATORS = {',': ',', '\t': 'tab', ';': ';', '|': '|', ' ': 'space'}


def _check_header(path, lineno, fields, columns, sep=None):
    """A header line must name `columns` in the same order."""
    named = [header_column(f) for f in fields]
    if named == list(columns):
        return
    other = [typed for mark, typed in SEPARATORS.items() if mark != sep
             and len(sep.join(fields).split(mark)) == len(columns)] \
        if sep is not None and len(fields) != len(columns) else []
    if other:  # split on the wrong separator: say so, not the names
        shown = SEPARATORS.get(sep, repr(sep))
        raise DataFormatError(
            f'{path}, line {lineno}: split on --sep {shown} the header '
            f'has {len(fields)} field(s), but --columns names '
            f'{len(columns)}; split on {other[0]!r} it has {len(columns)}:'
            f' the file\'s separator is probably {other[0]!r} (pass --sep '
            f'{other[0]})')
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
