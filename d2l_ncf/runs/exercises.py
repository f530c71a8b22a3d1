"""The section's four exercises as runs: vary one setting, tabulate.

``d2l-ncf exercise factors --values 4 8 16`` trains one model per value
(and per seed), then writes ``exercise.csv``, ``exercise.md`` (a row per
value: final and best metrics, wall time, mean +- sd over seeds) and
``exercise.png`` to ``--out``.
"""
import contextlib
import csv
import dataclasses
import os
import signal
import statistics
import sys
import time

from ..metrics import (RANKING, TIE_NOTICE_SHARE, TIE_SHARE,
                       tie_placement)
from ..protocol import get_protocol
from ..runtime.locking import deferred_signals
from ..runtime.progress import bar
from .builders import load_data, resolve_devices, seed_everything
from .checks import MAX_SEED, UsageError, check_fits_data
from .questions import EXERCISES, settings_for
from .plotting import exercise_figure
from .records import check_out_dir, release_out
from .run import RunStopped, fit, quietly

OUTPUTS = ('exercise.csv', 'exercise.md', 'exercise.png')


class ExerciseFailed(ValueError):
    """A value's run failed; `rows` holds the finished values' rows."""

    def __init__(self, message, rows):
        super().__init__(message)
        self.rows = rows


def run_exercise(name, values, base, seeds=(0,), out=None, progress=True,
                 overwrite=False):
    """Train one model per (value, seed); return the table's rows.

    A seed given twice is run once: a repeat would be the same run, and
    counting it twice would shrink the standard deviation.
    """
    settings = settings_for(name, values)
    seeds = distinct_seeds(seeds)
    check_out_dir(out, overwrite, OUTPUTS)
    configs = [[dataclasses.replace(base, seed=s, **change).validate()
                for s in seeds] for _, change in settings]
    devices = resolve_devices(base)
    data = load_data(base)
    for group in configs:  # before the first run, not after some
        for config in group:
            check_fits_data(config, data)
    runs = bar(total=len(settings) * len(seeds), enabled=progress,
               desc=f'exercise {name}', unit='run')
    rows = []
    for (value, _), group in zip(settings, configs):
        results = []
        for config in group:
            try:
                results.append(timed_fit(config, data, devices))
            except KeyboardInterrupt as err:  # SIGINT, SIGTERM
                runs.close()
                signum = getattr(err, 'signum', signal.SIGINT)
                raise RunStopped(
                    f'stopped by {signal.Signals(signum).name} in {name} '
                    f'value {value!r} (seed {config.seed}); '
                    + kept(rows, out), signum) from None
            except Exception as err:
                runs.close()
                raise ExerciseFailed(
                    f'{name} value {value!r} (seed {config.seed}) failed: '
                    f'{err}; ' + kept(rows, out), rows) from err
            runs.update()
        rows.append(summarise(value, results))
        if out is not None:  # the finished rows survive a later failure
            try:
                write_table(rows, name, out, base.cutoff)
            except OSError as err:  # e.g. the disk filled meanwhile
                runs.close()
                raise ExerciseFailed(
                    f'--out {out}: writing failed ({err.strerror or err}; '
                    f'{err.filename or "exercise table"}); the rows of '
                    f'{len(rows)} finished values are printed', rows
                ) from None
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


def distinct_seeds(seeds):
    """`seeds` in order, each once; a note on stderr names the repeats."""
    wrong = [s for s in seeds if not 0 <= s <= MAX_SEED]
    if wrong:
        raise UsageError(f'--seeds {wrong[0]}: expected whole numbers '
                         f'from 0 to {MAX_SEED}')
    distinct = tuple(dict.fromkeys(seeds))
    if len(distinct) < len(seeds):
        repeated = sorted({s for s in seeds if seeds.count(s) > 1})
        print(f'note: seed(s) {", ".join(map(str, repeated))} given more '
              f'than once; each seed is one run, so {len(distinct)} runs '
              f'per setting', file=sys.stderr)
    return distinct


def timed_fit(config, data, devices):
    seed_everything(config.seed)
    tic = time.perf_counter()
    (_, result), _ = quietly(fit, config, data, devices)
    result['wall_seconds'] = time.perf_counter() - tic
    return result


def kept(rows, out):
    """What a failed exercise keeps, in words."""
    if not rows:
        return 'no value had finished, so nothing was written'
    done = ', '.join(repr(r['setting']) for r in rows)
    where = (f'; they are in {os.path.join(out, "exercise.csv")}'
             if out is not None else '')
    return f'the rows of {done} are kept{where}'



def summarise(value, results):
    """One row: mean (and sd over seeds) of final and best metrics."""
    row = {'setting': value, 'seeds': len(results)}
    names = [m for m in RANKING if m in results[0]]
    for m in names:
        finals = [r[m] for r in results]
        bests = [max(h[m] for h in r['history'] if m in h) for r in results]
        row[f'final_{m}'] = statistics.mean(finals)
        # one seed has no standard deviation: left empty, not 0
        row[f'final_{m}_sd'] = (statistics.stdev(finals)
                                if len(finals) > 1 else None)
        row[f'best_{m}'] = statistics.mean(bests)
    shares = [r[TIE_SHARE] for r in results if TIE_SHARE in r]
    if shares:  # share of test items tied: a dead setting shows here
        row[f'final_{TIE_SHARE}'] = statistics.mean(shares)
    row['final_loss'] = statistics.mean(r['loss'] for r in results)
    row['wall_seconds'] = statistics.mean(r['wall_seconds']
                                          for r in results)
    return row


def write_table(rows, name, out, k):
    """exercise.csv, .md and .png in `out`, each replaced whole; `k` is
    the runs' Hit@k cut-off."""
    os.makedirs(out, exist_ok=True)
    columns = list(rows[0])
    with deferred_signals(), replaced(os.path.join(out, 'exercise.csv'),
                                      newline='') as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    with deferred_signals(), replaced(os.path.join(out, 'exercise.md')) \
            as f:
        f.write('| ' + ' | '.join(columns) + ' |\n')
        f.write('|' + '---|' * len(columns) + '\n')
        for row in rows:
            f.write('| ' + ' | '.join(
                f'{v:.3f}' if isinstance(v, float) else
                'n=1' if v is None else str(v)
                for v in row.values()) + ' |\n')
    png = os.path.join(out, 'exercise.png')
    with deferred_signals():
        plot_rows(rows, name, f'{png}.tmp-{os.getpid()}.png', k=k)
        os.replace(f'{png}.tmp-{os.getpid()}.png', png)


@contextlib.contextmanager
def replaced(path, **kwargs):
    """A text file written beside `path`, renamed over it when done."""
    tmp = f'{path}.tmp-{os.getpid()}'
    try:
        with open(tmp, 'w', **kwargs) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:  # a failed write leaves no temporary behind
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


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
