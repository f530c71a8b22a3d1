"""Interaction files: their `Format`, and `read_interactions`, strict:
ids and timestamps ASCII decimal int64s, ratings finite decimal numbers,
UTF-8 (a leading BOM dropped), no quotes, a header (where allowed) naming
the columns in order; blank lines skipped and counted. The first bad line
is named with its file, number and what was expected (`DataFormatError`).
"""
import csv
import dataclasses
import hashlib
import io
import math
import os
import re
import unicodedata

import numpy

FIELDS = ('user', 'item', 'rating', 'timestamp')


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
    if not {'user', 'item'} <= set(columns) <= set(FIELDS) or len(
            set(columns)) != len(columns):
        raise ValueError(
            f'columns must name user and item, and optionally rating and '
            f'timestamp, each once, in the file\'s order; got '
            f'{",".join(columns)}')
    if not sep:
        raise ValueError('the separator must not be empty')
    return Format('table', sep, columns, header_allowed=True)


def parse_separator(text):
    """A separator as typed on a command line: 'tab' or '\\t' is a tab."""
    return {'tab': '\t', '\\t': '\t', 'comma': ',',
            'space': ' '}.get(text, text)


@dataclasses.dataclass
class Ratings:
    """A file's interactions with original ids, and what reading did."""
    frame: object  # pandas: user_id, item_id, rating, timestamp, line
    path: str
    format: str
    blank_lines: list  # line numbers
    header: bool


# What a file that is not text starts with, and what it then is.
MAGIC = {b'\xff\xfe': 'UTF-16 text (byte-order mark FF FE)',
         b'\xfe\xff': 'UTF-16 text (byte-order mark FE FF)',
         b'PK\x03\x04': 'a zip archive', b'\x1f\x8b': 'a gzip-compressed file',
         b'\x89PNG': 'a PNG image', b'\xff\xd8\xff': 'a JPEG image',
         b'%PDF': 'a PDF document'}


def sniff(path, head):
    """What the file is, from its first bytes, when it is not text."""
    for magic, what in MAGIC.items():
        if head.startswith(magic):
            return what
    if b'\x00' in head:
        odd = head[1::2] if head[:1] != b'\x00' else head[0::2]
        if odd and odd.count(b'\x00') == len(odd):
            return 'UTF-16 text without a byte-order mark'
        return 'a binary file (it holds NUL bytes)'
    return None


# Header names per column (lower case, without '_', '-' and spaces).
HEADER_NAMES = {c: names.split() for c, names in (
    ('user', 'user userid uid users u'),
    ('item', 'item itemid iid items i movie movieid movies product productid'),
    ('rating', 'rating ratings score stars r'),
    ('timestamp', 'timestamp time ts t date datetime unixtime'))}
NAMES = {'\t': 'tab', ',': 'comma', ';': 'semicolon', ' ': 'space'}
TYPED = {'\t': 'tab', ' ': 'space'}  # a separator as --sep takes it
SPACE = ' \t\x0b\x0c'  # ASCII blanks around a field
INTEGER = re.compile(r'-?[0-9]+')
NUMBER = re.compile(r'-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)'
                    r'(?:[eE][-+]?[0-9]+)?')


def _expected(fmt):  # what a line of `fmt` holds
    return (f'{len(fmt.columns)} {NAMES.get(fmt.sep, repr(fmt.sep))}-'
            f'separated fields ({", ".join(fmt.columns)})')


def _fields(path, lineno, raw, fmt):
    """A line's (text, stripped fields), or None for a blank line."""
    raw = raw[:-1] if raw.endswith(b'\r') else raw
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as err:
        raise DataFormatError(
            f'{path}, line {lineno}: not UTF-8 text (byte '
            f'0x{raw[err.start]:02x} at column {err.start + 1}); expected '
            f'UTF-8 or ASCII text') from None
    if '\r' in text:
        raise DataFormatError(
            f'{path}, line {lineno}: a carriage return inside the line; '
            f'expected lines ending in \\n or \\r\\n (convert old Mac line '
            f'endings)')
    if not text.strip(SPACE):
        return None
    if '"' in text:
        raise DataFormatError(
            f'{path}, line {lineno}: a quoted field in {text!r}; expected '
            f'plain {_expected(fmt)} without quotes (export the file '
            f'without quoting, or remove the quotes)')
    return text, [x.strip(SPACE) for x in text.split(fmt.sep)]


def _is_header(path, lineno, text, fields, fmt):
    """Whether a first line is a header (names, not data); an error if
    `fmt` has none or it names other columns."""
    if not all(any(ch.isalpha() for ch in x) and not NUMBER.fullmatch(x)
               for x in fields):
        return False
    where, columns = f'{path}, line {lineno}', fmt.columns
    if not fmt.header_allowed:
        raise DataFormatError(
            f'{where}: expected {_expected(fmt)}, got a header line '
            f'{text!r}; {fmt.name} files have none: remove it, or read the '
            f'file as a table (--data {path} --sep ... --columns ...)')
    keys = [re.sub(r'[\s_\-]', '', f.lower()) for f in fields]
    named = [next((c for c, names in HEADER_NAMES.items() if k in names),
                  None) for k in keys]
    if named == list(columns):
        return True
    other = [TYPED.get(s, s) for s in (',', '\t', ';', '|', ' ')
             if s != fmt.sep and len(fields) != len(columns)
             and len(fmt.sep.join(fields).split(s)) == len(columns)]
    if other:  # split on the wrong separator: say so, not the names
        raise DataFormatError(
            f'{where}: split on --sep {TYPED.get(fmt.sep, fmt.sep)} the '
            f'header has {len(fields)} field(s), but --columns names '
            f'{len(columns)}; split on {other[0]!r} it has {len(columns)}: '
            f'the file\'s separator is probably {other[0]!r} (pass --sep '
            f'{other[0]})')
    said = (f'the header says {",".join(fields)}, but --columns says '
            f'{",".join(columns)}')
    if None not in named and len(set(named)) == len(named) and {
            'user', 'item'} <= set(named):
        raise DataFormatError(
            f'{where}: {said}; pass --columns {",".join(named)} to read the '
            f"file in the header's order")
    unknown = [repr(f) for f, c in zip(fields, named) if c is None]
    if unknown:
        said += (f'; {unknown[0]} is not a column name' if len(unknown) == 1
                 else f'; {", ".join(unknown[:-1])} and {unknown[-1]} are '
                      f'not column names')
        said += f' d2l-ncf knows ({", ".join(FIELDS)})'
    raise DataFormatError(
        f'{where}: {said}; rename the header fields to the --columns '
        f"names, or change --columns to the file's order")


def read_interactions(path, fmt):
    """Read `path` in format `fmt`, checking every line: plain lines
    (digits, a '-', a '.' in ratings, the separator) with pandas' C parser,
    any other file line by line, which reads it or names its error."""
    if os.path.isdir(path):
        raise DataFormatError(
            f'{path} is a folder; expected a ratings file (a MovieLens '
            f'folder is given with --data-dir, a CSV/TSV file with --data)')
    try:
        with open(path, 'rb') as f:
            body = f.read()
    except OSError as err:
        raise DataFormatError(f'{path}: cannot read it: {err}') from None
    what = sniff(path, body[:4096])
    if what is not None:
        raise DataFormatError(
            f'{path}: the file is {what}; expected UTF-8 (or ASCII) text, '
            f'one interaction per line' + (
                ' (convert it, e.g. iconv -f UTF-16 -t UTF-8)'
                if 'UTF-16' in what else ''))
    if body.startswith(b'\xef\xbb\xbf'):
        body = body[3:]
    read = _read_plain(path, body, fmt) or _read_lines(path, body, fmt)
    return Ratings(_frame(*read[:2]), str(path), fmt.name, *read[2:])


# Rows pandas parses at once: whole, a 20M-row file's parse peaks near 3 GB.
PARSE_ROWS = 1 << 19


def _read_plain(path, body, fmt):
    """``(values, lines, blank lines, header)`` of a file of plain lines
    after a valid header or none, read by pandas; else None."""
    if set(fmt.sep) & set(' \x0b\x0c"\r\n.-0123456789'):
        return None  # a separator that plain lines could hold
    first, _, rest = body.partition(b'\n')
    try:
        line = _fields(path, 1, first, fmt)
        header = line is not None and _is_header(path, 1, *line, fmt)
    except DataFormatError:
        return None
    body, sep = rest if header else body, fmt.sep.encode()
    plain = re.escape(sep).join(
        rb'-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)' if c == 'rating' else rb'-?[0-9]+'
        for c in fmt.columns)
    if not body or re.search(rb'(?m)^(?!' + plain + rb'\r?(?:\n|\Z)|\Z)',
                             body):  # a line that is not plain
        return None
    if len(sep) > 1:  # pandas' C parser takes one byte; plain lines no tab
        body, sep = body.replace(sep, b'\t'), b'\t'
    import pandas as pd  # here: the command line's checks need no pandas
    dtypes = {c: 'float64' if c == 'rating' else 'int64' for c in fmt.columns}
    rows, done = body.count(b'\n') + (not body.endswith(b'\n')), 0
    values = {c: numpy.empty(rows, t) for c, t in dtypes.items()}
    try:
        for piece in pd.read_csv(
                io.BytesIO(body), sep=sep.decode(), header=None,
                names=list(fmt.columns), dtype=dtypes, na_filter=False,
                quoting=csv.QUOTE_NONE, float_precision='round_trip',
                chunksize=PARSE_ROWS):
            for c, t in dtypes.items():
                if piece[c].dtype != t:
                    return None  # uint64: beyond the int64 range
                values[c][done:done + len(piece)] = piece[c].to_numpy()
            done += len(piece)
    except (ValueError, OverflowError):  # beyond int64: explained below
        return None
    if 'rating' in values and not numpy.isfinite(values['rating']).all():
        return None
    return values, numpy.arange(1, rows + 1) + header, [], header


def _read_lines(path, body, fmt):
    """`_read_plain`'s result, line by line, or the first bad line."""
    values, lines, blank, header = {c: [] for c in fmt.columns}, [], [], False
    for lineno, raw in enumerate(io.BytesIO(body), 1):
        line = _fields(path, lineno, raw.rstrip(b'\n'), fmt)
        if line is None:
            blank.append(lineno)
            continue
        text, fields = line
        if not lines and not header and _is_header(path, lineno, text,
                                                   fields, fmt):
            header = True
            continue
        if len(fields) != len(fmt.columns):
            raise DataFormatError(
                f'{path}, line {lineno}: expected {_expected(fmt)}, got '
                f'{len(fields)}: {text!r}')
        for c, x in zip(fmt.columns, fields):
            try:
                values[c].append(_parse_field(c, x))
            except ValueError as err:
                raise DataFormatError(
                    f'{path}, line {lineno}: {err}; expected '
                    f'{_expected(fmt)}, got {text!r}') from None
        lines.append(lineno)
    if not lines:
        raise DataFormatError(
            f'{path}: the file holds '
            f'{"no interactions" if blank or header else "nothing"}; '
            f'expected lines of {_expected(fmt)}')
    return values, lines, blank, header


def _parse_field(column, text):
    noun, rating = {'user': 'user id', 'item': 'item id'}.get(
        column, column), column == 'rating'
    if rating and NUMBER.fullmatch(text) and math.isfinite(float(text)):
        return float(text)
    if not rating and INTEGER.fullmatch(text):
        if -2 ** 63 <= int(text) < 2 ** 63:
            return int(text)
        raise ValueError(f'the {noun} {text} is outside the 64-bit integer '
                         f'range ({-2 ** 63} to {2 ** 63 - 1})')
    rule = ('a finite decimal number' if rating else
            'ASCII digits 0-9 with an optional leading minus sign')
    odd = [ch for ch in text if not ch.isascii()]
    if odd:  # a digit of another script looks like ours: name it
        name = unicodedata.name(odd[0], f'U+{ord(odd[0]):04X}')
        rule += f'; it holds {odd[0]!r}, {name}'
    raise ValueError(f'the {noun} {text!r} is not a '
                     f'{"number" if rating else "whole number"} (written as '
                     f'{rule})')


def _frame(values, lines):
    """The chapter's columns and each row's line; ratings integer when
    all are whole, ids int32 when all fit (half the memory)."""
    import pandas as pd
    n, int32, frame = len(lines), numpy.iinfo(numpy.int32), {}
    for c in ('user', 'item'):
        ids = numpy.asarray(values[c], dtype=numpy.int64)
        frame[c + '_id'] = ids.astype(numpy.int32) if (
            int32.min <= ids.min() and ids.max() <= int32.max) else ids
    ratings = numpy.asarray(values.get('rating', numpy.ones(n)), float)
    whole = (ratings == numpy.round(ratings)) & (abs(ratings) < 2.0 ** 53)
    frame['rating'] = ratings.astype(numpy.int64) if whole.all() else ratings
    frame['timestamp'] = numpy.asarray(values.get('timestamp', range(n)),
                                       dtype=numpy.int64)
    frame['line'] = numpy.asarray(lines, dtype=numpy.int64)
    return pd.DataFrame(frame)


def file_digest(fname, hash_name='sha1'):
    """The hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.new(hash_name)
    with open(fname, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()
