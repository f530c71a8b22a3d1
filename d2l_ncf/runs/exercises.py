"""The section's four exercises as runs: vary one setting, tabulate.

``d2l-ncf exercise factors --values 4 8 16`` trains one model per value
(and per seed), then writes ``exercise.csv``, ``exercise.md`` (a row per
value: final and best metrics, wall time, mean +- sd over seeds) and
``exercise.png`` to ``--out``.
"""
import csv
import dataclasses
import os
import signal
import sys

from ..metrics import RANKING, TIE_NOTICE_SHARE, TIE_SHARE, tie_placement
from ..protocol import get_protocol
from ..runtime.progress import bar
from .builders import load_data, resolve_devices
from .questions import EXERCISES, settings_for
from .plotting import exercise_figure
from .records import check_out_dir, release_out
from ..runtime.stopping import RunStopped
from .sweep import (SweepFailed, check_out, check_seeds, fit_one, summarise,
                    write_report)

OUTPUTS = ('exercise.csv', 'exercise.md', 'exercise.png')


def run_exercise(name, values, base, seeds=(0,), out=None, progress=True,
                 overwrite=False):
    """Train one model per (value, seed); return the table's rows: per
    value the mean (and sd over seeds) of the final and best metrics."""
    settings = settings_for(name, values)
    seeds = check_seeds(seeds)
    check_out(out)
    check_out_dir(out, overwrite, OUTPUTS)
    configs = [[dataclasses.replace(base, seed=s, **change).validate()
                for s in seeds] for _, change in settings]
    devices = resolve_devices(base)
    data = load_data(base)
    for group in configs:  # before the first run, not after some
        for config in group:
            config.validate(data)
    runs = bar(total=len(settings) * len(seeds), enabled=progress,
               desc=f'exercise {name}', unit='run')
    done, rows = [], []
    try:
        for (value, _), group in zip(settings, configs):
            for config in group:
                what = f'{name} value {value!r} (seed {config.seed})'
                try:
                    _, result = fit_one(config, data, devices)
                except KeyboardInterrupt as err:  # SIGINT, SIGTERM
                    signum = getattr(err, 'signum', signal.SIGINT)
                    raise RunStopped(
                        f'stopped by {signal.Signals(signum).name} in '
                        f'{what}; ' + kept(rows, out), signum) from None
                except Exception as err:
                    raise SweepFailed(f'{what} failed: {err}; '
                                      + kept(rows, out), rows) from err
                done.append(run_row(value, config.seed, result))
                runs.update()
            rows = summarise(done, ('setting',), [
                f'final_{m}' for m in RANKING])
            if out is not None:  # the finished rows survive a failure
                write_report(out, table_files(rows, name, base.cutoff),
                             rows, f'rows of {len(rows)} values')
    finally:
        runs.close()
    release_out(out)  # written: another run may have the folder now
    for row in rows:  # a dead setting's numbers are chance, say so
        share = row.get(f'final_{TIE_SHARE}')
        if share is not None and share > TIE_NOTICE_SHARE:
            how = tie_placement(get_protocol(base.protocol).ties == 'id')
            print(f'notice: ties decided the metrics of {name} '
                  f'{row["setting"]!r}: {share:.0%} of its test items tied '
                  f'with another ranked item (mean over seeds), so {how}; '
                  f'usually a model that learned nothing (docs/ERRATA.md, '
                  f'item 11)', file=sys.stderr)
    return rows


def run_row(value, seed, result):
    """One run's row: its final and best metrics, loss and seconds."""
    row = {'setting': value, 'seed': seed}
    for m in (m for m in RANKING if m in result):
        row[f'final_{m}'] = result[m]
        row[f'best_{m}'] = max(h[m] for h in result['history'] if m in h)
    if TIE_SHARE in result:  # share of test items tied: a dead setting
        row[f'final_{TIE_SHARE}'] = result[TIE_SHARE]
    return dict(row, final_loss=result['loss'],
                wall_seconds=result['wall_seconds'])


def kept(rows, out):
    """What a failed exercise keeps, in words."""
    if not rows:
        return 'no value had finished, so nothing was written'
    done = ', '.join(repr(r['setting']) for r in rows)
    where = (f'; they are in {os.path.join(out, "exercise.csv")}'
             if out is not None else '')
    return f'the rows of {done} are kept{where}'


def table_files(rows, name, k):
    """exercise.csv, .md and .png, as `sweep.write_report` writes them;
    `k` is the runs' Hit@k cut-off."""
    columns = list(rows[0])

    def table(f):
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)

    def markdown(f):
        f.write('| ' + ' | '.join(columns) + ' |\n')
        f.write('|' + '---|' * len(columns) + '\n')
        for row in rows:
            f.write('| ' + ' | '.join(
                f'{v:.3f}' if isinstance(v, float) else
                'n=1' if v is None else str(v)
                for v in row.values()) + ' |\n')
    return {'exercise.csv': table, 'exercise.md': markdown,
            'exercise.png': lambda f: plot_rows(rows, name, k=k).savefig(
                f, dpi=100, format='png')}


# How each exercise's setting is named on a plot's x-axis.
AXIS_LABELS = {'factors': 'latent factors (num_factors)',
               'hiddens': 'MLP hidden sizes (nums_hiddens)',
               'optim': 'optimizer:lr:wd', 'loss': 'loss'}


def exercise_label(name):
    """The x-axis label of exercise `name`'s plot."""
    return AXIS_LABELS.get(name, name)


def plot_rows(rows, name, path=None, *, k):
    """Plot the rows (plotting.exercise_figure); save to `path` if given.

    Returns the figure. `k` is the Hit@k / NDCG@k cut-off of the runs.
    """
    fig = exercise_figure(rows, exercise_label(name), k, EXERCISES[name][0])
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
