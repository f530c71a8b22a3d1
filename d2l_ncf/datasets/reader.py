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
`interactions.index_interactions` takes it from there. The pieces
both readers share are in `formats`, the vectorised reader in
`fast_reader`; none imports anything of the package outside
`datasets`.
"""
import math
import unicodedata

from .fast_reader import read_interactions_fast
from .formats import (INTEGER, NUMBER, SPACE, DataFormatError, Ratings,
                      _check_header, _expected, _frame, _looks_like_header,
                      _text_lines)


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
            _check_header(path, lineno, fields, columns, fmt.sep)
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
