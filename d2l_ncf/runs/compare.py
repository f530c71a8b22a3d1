"""Compare a run's metrics.json with a reference: did the numbers move?

Exit status: 0 when every compared value is within tolerance, 1 when any
drifts (or is missing from the run), 2 when an input is unreadable or the
two cannot be compared. Equal non-finite values compare equal: NaN with
NaN, Infinity with Infinity (and -Infinity with -Infinity), so a run
always compares equal with itself; a value that is null (not measured)
equals only null.
"""
import json
import math
import os
import sys

from .. import metrics
from ..datasets.reader import sniff
from ..runtime import numerics

METRICS = tuple(metrics.METRICS)  # ('loss', 'hit_rate', 'auc', 'ndcg')
# Settings that do not change the numbers, left out of the config diff.
NOT_CONFIG = ('command', 'resolved_data_dir', 'data_dir')


MISSING = 'missing'  # a value the run lacks


class CompareError(ValueError):
    """An input that cannot be read or compared (exit status 2)."""


def load_record(path, metrics=METRICS):
    """A run record from a metrics.json file or a folder holding one."""
    if os.path.isdir(path):
        path = os.path.join(path, 'metrics.json')
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except FileNotFoundError:
        raise CompareError(f'{path}: no such file') from None
    except OSError as err:
        raise CompareError(f'{path}: cannot read it: {err}') from None
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
    for section in ('config', 'versions'):
        if not isinstance(record.get(section, {}), dict):
            raise CompareError(f'{path}: "{section}" is '
                               f'{type(record[section]).__name__}; '
                               f'expected an object')
    return record


def _check_values(path, where, row, metrics):
    """Each metric present is a number (or null: not measured)."""
    for m in metrics:
        v = row.get(m)
        if v is not None and (isinstance(v, bool)
                              or not isinstance(v, (int, float))):
            raise CompareError(f'{path}: {where} has {m} = {v!r}; expected '
                               f'a number')


def metrics_present(*records):
    """The numeric entries of the records' history rows and finals."""
    names = set()
    for record in records:
        for row in record['history'] + [record['final']]:
            names.update(k for k, v in row.items() if k != 'epoch' and (
                v is None or isinstance(v, (int, float))
                and not isinstance(v, bool)))
    return sorted(names)


def check_metrics(metrics, run, reference):
    """A metric asked for by name must be in one of the records."""
    present = metrics_present(run, reference)
    absent = [m for m in metrics if m not in present]
    if absent:
        raise CompareError(
            f'--metrics {" ".join(absent)}: in neither file; the metrics '
            f'present are {", ".join(present) or "none"}')


def config_differences(run, reference):
    """(section, key, run value, reference value) that differ, of the
    keys both records hold (`recorded_in_one` lists the others)."""
    out = []
    for section in ('config', 'versions'):
        a, b = run.get(section, {}), reference.get(section, {})
        for key in sorted(set(a) & set(b)):
            if key not in NOT_CONFIG and a[key] != b[key]:
                out.append((section, key, a[key], b[key]))
    return out


def recorded_in_one(record, other):
    """'section.key = value' of each setting `record` holds and `other`
    does not (e.g. a setting newer than `other`): not a difference, as
    what `other`'s version did instead is not recorded."""
    return [f'{section}.{key} = {value}'
            for section in ('config', 'versions')
            for key, value in sorted(record.get(section, {}).items())
            if key not in NOT_CONFIG and key not in other.get(section, {})]


def within(value, ref, rtol, atol):
    return abs(value - ref) <= atol + rtol * abs(ref)


def same(value, ref, rtol, atol):
    """Within tolerance; equal non-finite values (and nulls) are equal."""
    if value is None or ref is None:
        return value is None and ref is None
    if value == ref or (math.isnan(value) and math.isnan(ref)):
        return True
    return within(value, ref, rtol, atol)


def difference(value, ref):
    if value is None or ref is None:
        return None
    return 0.0 if same(value, ref, 0, 0) else value - ref


def compare(run, reference, rtol=0.0, atol=1e-6, metrics=METRICS):
    """Rows (where, metric, value, reference, difference, ok)."""
    rows = []
    ours = {r['epoch']: r for r in run['history']}
    theirs = {r['epoch']: r for r in reference['history']}
    if not set(ours) & set(theirs) and not (
            set(run['final']) & set(reference['final']) & set(metrics)):
        raise CompareError('the two runs share no epoch and no final '
                           'metric to compare')
    places = [(f'epoch {e}', ours.get(e), theirs[e]) for e in
              sorted(theirs)]
    places.append(('final', run['final'], reference['final']))
    for where, mine, ref in places:
        for m in metrics:
            if m not in ref:
                continue
            r = ref[m]
            if mine is None or m not in mine:
                rows.append((where, m, MISSING, r, None, False))
                continue
            v = mine[m]
            rows.append((where, m, v, r, difference(v, r),
                         same(v, r, rtol, atol)))
    return rows


def numerics_report(run, reference):
    """Lines on the two runs' CPU arithmetic, and what a drift means."""
    a, b = run.get('numerics'), reference.get('numerics')
    differ = numerics.differences(a, b)
    if not differ:
        if (a or {}).get('mode') == 'portable':
            return ['Numerics: the same (portable) on both: the runs should '
                    'be bit-identical, so any drift below is a real change.',
                    '']
        return ['Numerics: the same on both (native): a drift below is a '
                'real change, or the CPUs differ in what is not recorded.',
                '']
    lines = ['Numerics that differ (run vs reference), listed first because '
             'they move the last bits:']
    for key, mine, theirs in differ:
        lines.append(f'  {key}: {mine} vs {theirs}')
    lines.append('  A drift in the last digits is expected from these '
                 '(docs/REPRODUCIBILITY.md); compare with a tolerance.')
    lines.append('')
    return lines


def format_report(rows, differences, rtol, atol, preface=(), only=()):
    """The report; `only`: (side, its `recorded_in_one` list) pairs."""
    lines = list(preface)
    if differences:
        lines.append('Settings that differ (run vs reference):')
        for section, key, a, b in differences:
            lines.append(f'  {section}.{key}: {a} vs {b}')
        lines.append('')
    for side, keys in only:
        if keys:
            lines.append(f'Recorded only in the {side} (absent from the '
                         f'other, so not compared): {", ".join(keys)}')
    if any(keys for _, keys in only):
        lines.append('')
    lines.append(f'{"where":<10} {"metric":<9} {"value":>12} '
                 f'{"reference":>12} {"difference":>12}  within')
    for where, m, v, r, d, ok in rows:
        diff = '' if d is None else f'{d:+.2e}'
        lines.append(f'{where:<10} {m:<9} {_shown(v):>12} {_shown(r):>12} '
                     f'{diff:>12}  {"yes" if ok else "NO"}')
    drifted = sum(1 for row in rows if not row[-1])
    lines.append('')
    lines.append(f'{len(rows) - drifted} of {len(rows)} values within '
                 f'rtol={rtol:g}, atol={atol:g}'
                 + (f'; {drifted} drifted' if drifted else ''))
    if any(isinstance(x, float) and not math.isfinite(x)
           for row in rows for x in row[2:4]):
        lines.append('(NaN equals NaN and an infinity equals the same '
                     'infinity: the same non-finite value counts as equal)')
    return '\n'.join(lines)


def _shown(x):
    if x is MISSING:
        return 'missing'
    return 'null' if x is None else f'{x:.6f}'


def check_has_metrics(path, record, metrics=METRICS):
    """Refuse a record with no metric at all: it is neither equal to
    another nor different, so no exit status 0 or 1 would be true."""
    if record['history'] or set(record['final']) & set(metrics):
        return
    raise CompareError(
        f'{path} holds no metrics (its history is empty and its final '
        f'has none of {", ".join(metrics)}): there is nothing to compare')


def main_compare(run_path, reference_path, rtol=0.0, atol=1e-6,
                 metrics=METRICS):
    """The `d2l-ncf compare` command; returns its exit status."""
    try:
        run = load_record(run_path, metrics)
        reference = load_record(reference_path, metrics)
        for path, record in ((run_path, run), (reference_path, reference)):
            check_has_metrics(path, record, metrics)
        if tuple(metrics) != METRICS:  # named on the command line
            check_metrics(metrics, run, reference)
        rows = compare(run, reference, rtol, atol, metrics)
    except CompareError as err:
        print(f'd2l-ncf compare: error: {err}', file=sys.stderr)
        return 2
    only = (('run', recorded_in_one(run, reference)),
            ('reference', recorded_in_one(reference, run)))
    print(format_report(rows, config_differences(run, reference), rtol,
                        atol, numerics_report(run, reference), only))
    return 0 if all(row[-1] for row in rows) else 1
