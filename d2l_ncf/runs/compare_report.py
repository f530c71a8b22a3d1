"""What `d2l-ncf compare` prints: the settings and numerics that differ
between two run records, and the table of compared values."""
import math

from ..runtime import numerics

MISSING = 'missing'  # a value the run lacks
# Settings that do not change the numbers, left out of the config diff.
NOT_CONFIG = ('command', 'resolved_data_dir', 'data_dir')


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
                 '(docs/GUARANTEES.md); compare with a tolerance.')
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
