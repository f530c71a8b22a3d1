"""Compare a run's metrics.json with a reference: did the numbers move?

Exit status: 0 when every compared value is within tolerance, 1 when any
drifts (or is missing from the run: what the reference measured, the run
must have measured), 2 when an input is unreadable, when a metric asked
for with --metrics is absent from either record, or when nothing at all
could be compared. What only the run holds (an epoch, a metric) is not
compared, and the report names it. Equal non-finite values compare
equal: NaN with NaN, Infinity with Infinity (and -Infinity with
-Infinity), so a run always compares equal with itself; a value that is
null (not measured) equals only null.
"""
import json
import math
import os
import stat
import sys

from .. import metrics
from ..datasets.formats import sniff
from .compare_report import (MISSING, config_differences,  # noqa: F401
                             format_report, numerics_report,
                             recorded_in_one)

METRICS = tuple(metrics.METRICS)  # ('loss', 'hit_rate', 'auc', 'ndcg')
# ... and the share of test items whose score tied (metrics, "Ties"): a
# change in it says the ranking was decided another way.
COMPARED = METRICS + (metrics.TIE_SHARE,)




class CompareError(ValueError):
    """An input that cannot be read or compared (exit status 2)."""


def load_record(path, metrics=COMPARED):
    """A run record from a metrics.json file or a folder holding one."""
    if os.path.isdir(path):
        path = os.path.join(path, 'metrics.json')
    try:  # before opening: a FIFO would block, a device never end
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise CompareError(f'{path}: not a regular file ({_kind(info)}); '
                               f'expected a d2l-ncf metrics.json')
        if info.st_size > MAX_BYTES:
            raise CompareError(_too_large(path, info.st_size))
        with open(path, 'rb') as f:
            data = f.read(MAX_BYTES + 1)  # bounded, should it grow
    except FileNotFoundError:
        raise CompareError(f'{path}: no such file') from None
    except OSError as err:
        raise CompareError(f'{path}: cannot read it: {err}') from None
    if len(data) > MAX_BYTES:
        raise CompareError(_too_large(path, len(data)))
    what = sniff(path, data[:4096])
    if what is not None:
        raise CompareError(f'{path}: the file is {what}; expected a '
                           f'd2l-ncf metrics.json')
    try:
        record = json.loads(data.decode('utf-8-sig'))
    except UnicodeDecodeError as err:
        raise CompareError(f'{path}: not UTF-8 text (byte at offset '
                           f'{err.start}); expected a d2l-ncf '
                           f'metrics.json') from None
    except json.JSONDecodeError as err:
        raise CompareError(f'{path}, line {err.lineno}: not valid JSON '
                           f'({err.msg})') from None
    except RecursionError:
        raise CompareError(f'{path}: JSON nested too deeply; expected a '
                           f'd2l-ncf metrics.json') from None
    if not isinstance(record, dict) or not isinstance(
            record.get('history'), list) or not isinstance(
            record.get('final'), dict):
        raise CompareError(f'{path}: expected a d2l-ncf metrics.json with '
                           f'"history" (a list) and "final" (an object)')
    epochs = set()
    for n, row in enumerate(record['history'], 1):
        if not isinstance(row, dict) or 'epoch' not in row:
            raise CompareError(f'{path}: a "history" row without "epoch" '
                               f'(row {n})')
        epoch = row['epoch']
        if not isinstance(epoch, int) or isinstance(epoch, bool):
            raise CompareError(f'{path}: history row {n} has epoch '
                               f'{epoch!r}; expected a whole number')
        if epoch in epochs:
            raise CompareError(f'{path}: epoch {epoch} occurs twice in '
                               f'"history"')
        epochs.add(epoch)
        _check_values(path, f'history row {n} (epoch {epoch})', row, metrics)
    _check_values(path, '"final"', record['final'], metrics)
    for section in ('config', 'versions', 'numerics'):
        value = record.get(section)
        if section == 'numerics' and isinstance(value, dict):
            section, value = 'numerics.environment', value.get('environment')
        if value is not None and not isinstance(value, dict):
            raise CompareError(f'{path}: "{section}" is '
                               f'{_json_type(value)} ({str(value)[:40]!r}); '
                               f'expected an object')
    return record


# A metrics.json of a run of thousands of epochs holds well under 10 MB.
MAX_BYTES = 64 * 1024 * 1024


def _too_large(path, size):
    return (f'{path}: {size} bytes, more than any metrics.json '
            f'({MAX_BYTES // 2**20} MB at most); expected a d2l-ncf '
            f'metrics.json')


def _kind(info):
    mode = info.st_mode
    return ('a folder' if stat.S_ISDIR(mode) else
            'a named pipe (FIFO)' if stat.S_ISFIFO(mode) else
            'a character device' if stat.S_ISCHR(mode) else
            'a block device' if stat.S_ISBLK(mode) else
            'a socket')


def _json_type(value):
    return {str: 'a string', list: 'a list', bool: 'true or false'}.get(
        type(value), 'a number' if isinstance(value, (int, float))
        else type(value).__name__)


def _check_values(path, where, row, metrics):
    """Each metric present is a number (or null: not measured) that a
    float can hold."""
    for m in metrics:
        v = row.get(m)
        if v is not None and (isinstance(v, bool)
                              or not isinstance(v, (int, float))):
            raise CompareError(f'{path}: {where} has {m} = {v!r}; expected '
                               f'a number')
        if isinstance(v, int):
            try:
                float(v)
            except OverflowError:
                raise CompareError(
                    f'{path}: {where} has {m} = a whole number of '
                    f'{len(str(abs(v)))} digits, beyond what a float '
                    f'holds; expected a metric value') from None


def metrics_present(*records):
    """The numeric entries of the records' history rows and finals."""
    names = set()
    for record in records:
        for row in record['history'] + [record['final']]:
            names.update(k for k, v in row.items() if k != 'epoch' and (
                v is None or isinstance(v, (int, float))
                and not isinstance(v, bool)))
    return sorted(names)


def check_metrics(metrics, run, reference, paths=('run', 'reference')):
    """A metric asked for by name must be in both records."""
    for side, record, path in (('run', run, paths[0]),
                               ('reference', reference, paths[1])):
        present = metrics_present(record)
        absent = [m for m in metrics if m not in present]
        if absent:
            raise CompareError(
                f'--metrics {" ".join(absent)}: the {side} ({path}) holds '
                f'no {", ".join(absent)}, so it cannot be compared; it '
                f'holds {", ".join(present) or "no metric"}')


def within(value, ref, rtol, atol):
    return abs(value - ref) <= atol + rtol * abs(ref)


def same(value, ref, rtol, atol):
    """Within tolerance; equal non-finite values (and nulls) are equal."""
    if value is None or ref is None:
        return value is None and ref is None
    if value == ref or (math.isnan(value) and math.isnan(ref)):
        return True
    if not (math.isfinite(value) and math.isfinite(ref)):
        return False  # an infinity equals only itself: rtol * inf is no bound
    return within(value, ref, rtol, atol)


def difference(value, ref):
    if value is None or ref is None:
        return None
    return 0.0 if same(value, ref, 0, 0) else value - ref


def compare(run, reference, rtol=0.0, atol=1e-6, metrics=COMPARED):
    """Rows (where, metric, value, reference, difference, ok), and the
    list of what was not compared (what only the run holds), in words.

    Each metric of `metrics` the reference holds at an epoch (or in its
    final) is compared with the run's, which must hold it; an epoch or a
    metric only the run holds is named in the list. Compares at least
    one value, or raises `CompareError`.
    """
    rows, skipped = [], []
    metrics = tuple(dict.fromkeys(metrics))  # each once
    ours = {r['epoch']: r for r in run['history']}
    theirs = {r['epoch']: r for r in reference['history']}
    if not set(ours) & set(theirs) and not (
            set(run['final']) & set(reference['final']) & set(metrics)):
        held = [f'{side} has epochs {_ranges(sorted(e)) or "none"} and '
                f'final {", ".join(m for m in metrics if m in f) or "none"}'
                for side, e, f in (('the run', ours, run['final']),
                                   ('the reference', theirs,
                                    reference['final']))]
        raise CompareError('the two runs share no epoch and no final '
                           'metric to compare (' + '; '.join(held) + ')')
    extra = sorted(set(ours) - set(theirs))
    if extra:
        skipped.append(f'reference has no epoch {_ranges(extra)}')
    places = [(f'epoch {e}', e, ours.get(e), theirs[e])
              for e in sorted(theirs)]
    places.append(('final', 'final', run['final'], reference['final']))
    only_run = {}  # metric -> where only the run holds it
    for where, key, mine, ref in places:
        for m in metrics:
            if m not in ref:
                if mine is not None and m in mine:
                    only_run.setdefault(m, []).append(key)
                continue
            r = ref[m]
            if mine is None or m not in mine:
                rows.append((where, m, MISSING, r, None, False))
                continue
            v = mine[m]
            rows.append((where, m, v, r, difference(v, r),
                         same(v, r, rtol, atol)))
    for m, keys in only_run.items():
        epochs = [k for k in keys if k != 'final']
        at = ([f'epoch {_ranges(epochs)}'] if epochs else []) + (
            ['final'] if 'final' in keys else [])
        skipped.append(f'reference has no {m} ({" and ".join(at)})')
    if rows and all(r[2] is None and r[3] is None for r in rows):
        raise CompareError(
            f'nothing to compare: every value the two records share is '
            f'null (not measured): {", ".join(sorted({r[1] for r in rows}))}')
    if not rows:
        raise CompareError(
            f'nothing to compare: the reference holds none of '
            f'{", ".join(metrics)} where the run does'
            + (f' ({"; ".join(skipped)})' if skipped else ''))
    return rows, skipped


def _ranges(numbers):
    """'1-3, 5' for [1, 2, 3, 5]."""
    out, start = [], None
    for n, nxt in zip(numbers, numbers[1:] + [None]):
        start = n if start is None else start
        if nxt != n + 1:
            out.append(f'{start}' if start == n else f'{start}-{n}')
            start = None
    return ', '.join(out)


def check_has_metrics(path, record, metrics=COMPARED):
    """Refuse a record with no metric at all: it is neither equal to
    another nor different, so no exit status 0 or 1 would be true."""
    if record['history'] or set(record['final']) & set(metrics):
        return
    raise CompareError(
        f'{path} holds no metrics (its history is empty and its final '
        f'has none of {", ".join(metrics)}): there is nothing to compare')


def main_compare(run_path, reference_path, rtol=0.0, atol=1e-6,
                 metrics=None):
    """The `d2l-ncf compare` command; returns its exit status. `metrics`
    None: every metric both records hold (`COMPARED`); named, each must
    be in both (each compared once)."""
    if metrics is not None:
        metrics = list(dict.fromkeys(metrics))
    try:
        run = load_record(run_path, metrics or COMPARED)
        reference = load_record(reference_path, metrics or COMPARED)
        for path, record in ((run_path, run), (reference_path, reference)):
            check_has_metrics(path, record, metrics or COMPARED)
        if metrics is not None:  # named on the command line
            check_metrics(metrics, run, reference,
                          (run_path, reference_path))
        rows, skipped = compare(run, reference, rtol, atol,
                                metrics or COMPARED)
    except CompareError as err:
        print(f'd2l-ncf compare: error: {err}', file=sys.stderr)
        return 2
    only = (('run', recorded_in_one(run, reference)),
            ('reference', recorded_in_one(reference, run)))
    print(format_report(rows, config_differences(run, reference), rtol,
                        atol, numerics_report(run, reference), only,
                        skipped))
    return 0 if all(row[-1] for row in rows) else 1
