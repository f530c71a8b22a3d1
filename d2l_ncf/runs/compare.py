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
import sys

from .. import metrics
from ..datasets.formats import sniff
from ..runtime import numerics

METRICS = tuple(metrics.METRICS)  # ('loss', 'hit_rate', 'auc', 'ndcg')
# ... and the share of test items whose score tied (metrics, "Ties"): a
# change in it says the ranking was decided another way.
COMPARED = METRICS + (metrics.TIE_SHARE,)
# Settings that do not change the numbers, left out of the config diff.
NOT_CONFIG = ('command', 'resolved_data_dir', 'data_dir')


MISSING = 'missing'  # a value the run lacks


class CompareError(ValueError):
    """An input that cannot be read or compared (exit status 2)."""


def load_record(path, metrics=COMPARED):
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


def compare(run, reference, rtol=0.0, atol=1e-6, metrics=COMPARED):
    """Rows (where, metric, value, reference, difference, ok), and the
    list of what was not compared (what only the run holds), in words.

    Each metric of `metrics` the reference holds at an epoch (or in its
    final) is compared with the run's, which must hold it; an epoch or a
    metric only the run holds is named in the list. Compares at least
    one value, or raises `CompareError`.
    """
    rows, skipped = [], []
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


def numerics_report(run, reference):
    """Lines on the two runs' CPU arithmetic, and what a drift means."""
    a, b = run.get('numerics'), reference.get('numerics')
    if not a and not b:
        return ['Numerics: neither record says which CPU arithmetic it ran '
                '(both predate that record): a drift below may be a real '
                'change or the arithmetic; compare with a tolerance.', '']
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


def format_report(rows, differences, rtol, atol, preface=(), only=(),
                  skipped=()):
    """The report; `only`: (side, its `recorded_in_one` list) pairs;
    `skipped`: what was not compared, in words."""
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
    if skipped:
        lines.append('Not compared (held by the run only): '
                     + '; '.join(skipped))
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
    if x is None:
        return 'null'
    return f'{x:.6f}' if abs(x) < 1e6 or not math.isfinite(x) else f'{x:.5e}'


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
    be in both."""
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
