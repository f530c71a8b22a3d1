"""The ablation's report: its rows summarised (mean and sd over seeds)
and written as ablation.json, ablation.md, ablation.csv, ablation.png.

It reads rows (dicts) only, so the notebook and the tests can summarise
an ablation.json's rows without training anything.
"""
import csv
import json
import math

from ..metrics import RANKING, TIE_NOTICE_SHARE, short_name
from . import sweep

# Pairs a reader of the table compares: (model, against whom).
COMPARISONS = (('mf', 'neumf'), ('neumf', 'gmf'), ('neumf', 'mlp'),
               ('neumf-pre', 'neumf'), ('neumf', 'popularity'))


def summarise(rows):
    """One entry per (model, eval), in the rows' order: ``model``,
    ``eval``, ``n`` (seeds), the means (``k``, each metric, ``tie_share``,
    ``num_test``...) and each metric's sd (``None`` for one seed)."""
    return sweep.summarise(rows, ('model', 'eval'), RANKING)


def columns(summary):
    """The table's columns: (eval, metric, k), full ranking first."""
    seen = []
    for entry in summary:
        for m in RANKING:
            key = (entry['eval'], m, entry['k'])
            if m in entry and key not in seen:
                seen.append(key)
    return sorted(seen, key=lambda c: (c[0] != 'full', seen.index(c)))


def cell(entry, metric):
    """'0.319 ± 0.004', or '0.319' for one seed (the table says n=1)."""
    if entry is None or metric not in entry:
        return ''
    sd = entry[f'{metric}_sd']
    return f'{entry[metric]:.3f}' + ('' if sd is None else f' ± {sd:.3f}')


def markdown(summary):
    """ablation.md: a row per model, a column per evaluation's metric,
    then what the main comparisons show."""
    cols = columns(summary)
    by = {(e['model'], e['eval']): e for e in summary}
    models = list(dict.fromkeys(e['model'] for e in summary))
    n = sorted({e['n'] for e in summary})
    spread = ('one seed (n=1): no standard deviation' if n == [1] else
              f'mean ± sd over {"/".join(map(str, n))} seeds')
    negatives = {e['eval']: e.get('negatives') for e in summary}
    head = ['model'] + [
        f'{short_name(m, k)} ({ev}' + (f', {negatives[ev]:g} negatives)'
                                       if negatives.get(ev) else ')')
        for ev, m, k in cols]
    lines = [f'Ablation, corrected protocol; {spread}.', '',
             '| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    for model in models:
        lines.append('| ' + ' | '.join(
            [model] + [cell(by.get((model, ev)), m) for ev, m, k in cols])
            + ' |')
    found = findings(summary, cols) + tie_lines(summary)
    if found:
        lines += [''] + [f'- {line}' for line in found]
    return '\n'.join(lines) + '\n'


def tie_lines(summary):
    """A line per (model, eval) whose test items tied with another
    listed item more often than `metrics.TIE_NOTICE_SHARE`."""
    return [f"{e['model']} ({e['eval']}): {e['tie_share']:.0%} of the test "
            f"items tie with another listed item; ties count in "
            f"expectation" + (" (popularity: films with equal counts)"
                              if e['model'] == 'popularity' else
                              " (many ties: a model that learned little)")
            for e in summary
            if e.get('tie_share', 0) > TIE_NOTICE_SHARE]


def findings(summary, cols):
    """A line per `COMPARISONS` pair present: the metrics on which the
    first model's mean is higher, lower, or within the noise of the
    second's (`noise`: over the seeds, and over the test items when
    their number is known). One seed gives no measure of noise, so no
    verdict."""
    if not noise_known(summary):
        return ['one seed (n=1): no comparison is a finding; run more '
                'seeds (--seeds) for verdicts']
    by = {(e['model'], e['eval']): e for e in summary}
    lines = []
    for a, b in COMPARISONS:
        higher, lower, level = [], [], []
        for ev, m, k in cols:
            x, y = by.get((a, ev)), by.get((b, ev))
            if x is None or y is None or m not in x or m not in y:
                continue
            d = x[m] - y[m]
            text = f'{short_name(m, k)} {ev} {d:+.3f}'
            (level if abs(d) <= noise(x, y, m) else higher if d > 0
             else lower).append(text)
        if not (higher or lower or level):
            continue
        verdict = ('is level with' if not (higher or lower) else
                   'beats' if not lower else 'trails' if not higher
                   else 'is mixed against')
        parts = [f'{what} on {", ".join(items)}' for what, items in (
            ('higher', higher), ('lower', lower), ('within noise', level))
            if items]
        lines.append(f'{a} {verdict} {b}: ' + '; '.join(parts))
    if lines:
        lines.append('noise: twice the standard error of the difference, '
                     'over the seeds or over the test items, whichever is '
                     'larger; for AUC and NDCG the test items\' error is '
                     'bounded from above, sqrt(p (1 - p) / n), so "within '
                     'noise" there means "not shown", not "equal" '
                     '(docs/RESULTS.md)')
    return lines


def noise(x, y, m):
    """Twice the standard error of the difference of `m` between
    summary entries `x` and `y`: over the seeds, and over the test items.

    Each test item is a draw. For the hit rate, a share of them, the
    binomial error sqrt(p (1 - p) / n) is exact; AUC and NDCG average a
    value in [0, 1] per test item, whose variance is at most p (1 - p),
    so the same formula bounds their error from above (the per-item
    values are not kept). A difference within it is not a finding, even
    if a finer test might find one."""
    seeds = math.sqrt(x[f'{m}_sd'] ** 2 / x['n']
                      + y[f'{m}_sd'] ** 2 / y['n'])
    test = 0.0
    if x.get('num_test') and y.get('num_test'):
        test = math.sqrt(sum(min(max(e[m], 0.0), 1.0)
                             * (1 - min(max(e[m], 0.0), 1.0))
                             / e['num_test'] for e in (x, y)))
    return 2 * max(seeds, test)


def noise_known(summary):
    """Whether every entry has an sd (more than one seed)."""
    return all(e['n'] > 1 for e in summary)


CSV_FIELDS = ['model', 'eval', 'k', 'n'] + [
    f for m in RANKING for f in (m, f'{m}_sd')] + ['tie_share']


def report_files(rows, info):
    """ablation.json (`info`, the rows, their summary), .md, .csv and
    .png, as `sweep.write_report` writes them."""
    from .plotting import ablation_figure  # matplotlib: only here
    summary = summarise(rows)

    def table(f):
        writer = csv.DictWriter(f, CSV_FIELDS, extrasaction='ignore')
        writer.writeheader()
        writer.writerows(summary)
    return {
        'ablation.json': lambda f: f.write(json.dumps(
            dict(info, rows=rows, summary=summary), indent=2) + '\n'),
        'ablation.md': lambda f: f.write(markdown(summary)),
        'ablation.csv': table,
        'ablation.png': lambda f: ablation_figure(summary).savefig(
            f, dpi=100, format='png')}
