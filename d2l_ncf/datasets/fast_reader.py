"""The vectorised reader: a plainly valid file parsed by pandas' C
parser, or None to let the line reader (`reader`) decide, so that every
error is the line reader's.
"""
import csv
import io
import warnings

import numpy

from .formats import (BOM, DataFormatError, Ratings, SPACE, _check_header,
                      _frame, _looks_like_header, _open_bytes, sniff)


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
        _check_header(path, 1, fields, fmt.columns, fmt.sep)
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
