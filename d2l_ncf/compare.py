"""Compare a run's metrics.json with a reference: did the numbers move?

Exit status: 0 when every compared value is within tolerance, 1 when any
drifts (or is missing from the run), 2 when an input is unreadable or the
two cannot be compared.
"""
import dataclasses
import json
import math
import os
import sys

from . import numerics
from .config import TrainConfig

METRICS = ('loss', 'hit_rate', 'auc', 'ndcg')
DEFAULTS = json.loads(json.dumps(dataclasses.asdict(TrainConfig())))
# Settings that do not change the numbers, left out of the config diff.
NOT_CONFIG = ('command', 'resolved_data_dir', 'data_dir')


class CompareError(ValueError):
    """An input that cannot be read or compared (exit status 2)."""


def load_record(path):
    """A run record from a metrics.json file or a folder holding one."""
    if os.path.isdir(path):
        path = os.path.join(path, 'metrics.json')
    try:
        with open(path) as f:
            record = json.load(f)
    except FileNotFoundError:
        raise CompareError(f'{path}: no such file') from None
    except json.JSONDecodeError as err:
        raise CompareError(f'{path}, line {err.lineno}: not valid JSON '
                           f'({err.msg})') from None
    if not isinstance(record, dict) or not isinstance(
            record.get('history'), list) or not isinstance(
            record.get('final'), dict):
        raise CompareError(f'{path}: expected a d2l-ncf metrics.json with '
                           f'"history" (a list) and "final" (an object)')
    for row in record['history']:
        if not isinstance(row, dict) or 'epoch' not in row:
            raise CompareError(f'{path}: a "history" row without "epoch"')
    return record


def config_differences(run, reference):
    """(section, key, run value, reference value) that differ.

    A setting a record lacks (it predates the setting) counts as its
    default, which is what that run used.
    """
    out = []
    for section in ('config', 'versions'):
        a, b = run.get(section, {}), reference.get(section, {})
        if section == 'config':
            a, b = dict(DEFAULTS, **a), dict(DEFAULTS, **b)
        for key in sorted(set(a) | set(b)):
            if key in NOT_CONFIG:
                continue
            if a.get(key) != b.get(key):
                out.append((section, key, a.get(key, '-'), b.get(key, '-')))
    return out


def within(value, ref, rtol, atol):
    return abs(value - ref) <= atol + rtol * abs(ref)


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
            v = None if mine is None else mine.get(m)
            if v is None:
                rows.append((where, m, None, r, None, False))
                continue
            ok = within(v, r, rtol, atol) or (
                math.isnan(v) and math.isnan(r))
            rows.append((where, m, v, r, v - r, ok))
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


def format_report(rows, differences, rtol, atol, preface=()):
    lines = list(preface)
    if differences:
        lines.append('Settings that differ (run vs reference):')
        for section, key, a, b in differences:
            lines.append(f'  {section}.{key}: {a} vs {b}')
        lines.append('')
    lines.append(f'{"where":<10} {"metric":<9} {"value":>12} '
                 f'{"reference":>12} {"difference":>12}  within')
    for where, m, v, r, d, ok in rows:
        val = 'missing' if v is None else f'{v:.6f}'
        diff = '' if d is None else f'{d:+.2e}'
        lines.append(f'{where:<10} {m:<9} {val:>12} {r:>12.6f} {diff:>12}'
                     f'  {"yes" if ok else "NO"}')
    drifted = sum(1 for row in rows if not row[-1])
    lines.append('')
    lines.append(f'{len(rows) - drifted} of {len(rows)} values within '
                 f'rtol={rtol:g}, atol={atol:g}'
                 + (f'; {drifted} drifted' if drifted else ''))
    return '\n'.join(lines)


def main_compare(run_path, reference_path, rtol=0.0, atol=1e-6,
                 metrics=METRICS):
    """The `d2l-ncf compare` command; returns its exit status."""
    try:
        run = load_record(run_path)
        reference = load_record(reference_path)
        rows = compare(run, reference, rtol, atol, metrics)
    except CompareError as err:
        print(f'd2l-ncf compare: error: {err}', file=sys.stderr)
        return 2
    print(format_report(rows, config_differences(run, reference), rtol,
                        atol, numerics_report(run, reference)))
    return 0 if all(row[-1] for row in rows) else 1
