"""The section's four exercises as runs: vary one setting, tabulate.

``d2l-ncf exercise factors --values 4 8 16`` trains one model per value
(and per seed), then writes ``exercise.csv``, ``exercise.md`` (a row per
value: final and best metrics, wall time, mean +- sd over seeds) and
``exercise.png`` to ``--out``.
"""
import contextlib
import csv
import dataclasses
import io
import os
import signal
import statistics
import time

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .checkpoint import deferred_signals
from .config import seed_everything
from .progress import bar
from .run import (RunStopped, check_fits_data, check_out_dir, fit,
                  load_data, resolve_devices)

OUTPUTS = ('exercise.csv', 'exercise.md', 'exercise.png')


class ExerciseFailed(ValueError):
    """A value's run failed; `rows` holds the finished values' rows."""

    def __init__(self, message, rows):
        super().__init__(message)
        self.rows = rows


def parse_hiddens(text):
    try:
        sizes = tuple(int(x) for x in text.replace(',', ' ').split())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise ValueError(f'hidden sizes {text!r}: expected sizes >= 1 '
                         f'such as "32 16 8"')
    return {'nums_hiddens': sizes}


def parse_optim(text):
    parts = text.split(':')
    if len(parts) != 3:
        raise ValueError(f'optimizer setting {text!r}: expected '
                         f'NAME:LR:WD such as adam:0.01:1e-5')
    try:
        return {'optimizer': parts[0], 'lr': float(parts[1]),
                'wd': float(parts[2])}
    except ValueError:
        raise ValueError(f'optimizer setting {text!r}: LR and WD must be '
                         f'numbers, as in adam:0.01:1e-5') from None


def _whole(text, what):
    try:
        return int(text)
    except ValueError:
        raise ValueError(f'{what} {text!r}: expected a whole number') \
            from None


EXERCISES = {
    # name: (the question, how one --values entry sets the config)
    'factors': ('How does the size of the latent factors matter?',
                lambda v: {'num_factors': _whole(v, 'factor size')}),
    'hiddens': ('How do the MLP layers (number, width) matter?',
                parse_hiddens),
    'optim': ('Other optimizers, learning rates and weight decay '
              '(NAME:LR:WD)', parse_optim),
    'loss': ('The hinge loss instead of BPR (or the log loss)',
             lambda v: {'loss': v}),
}


def settings_for(name, values):
    """Check every value up front: a bad one is a usage error."""
    parse = EXERCISES[name][1]
    return [(v, parse(v)) for v in values]


def run_exercise(name, values, base, seeds=(0,), out=None, progress=True,
                 overwrite=False):
    """Train one model per (value, seed); return the table's rows."""
    settings = settings_for(name, values)
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
            write_table(rows, name, out)
    runs.close()
    return rows


def timed_fit(config, data, devices):
    seed_everything(config.seed)
    tic = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        _, result = fit(config, data, devices)
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
    names = [m for m in ('hit_rate', 'auc', 'ndcg') if m in results[0]]
    for m in names:
        finals = [r[m] for r in results]
        bests = [max(h[m] for h in r['history'] if m in h) for r in results]
        row[f'final_{m}'] = statistics.mean(finals)
        row[f'final_{m}_sd'] = (statistics.stdev(finals)
                                if len(finals) > 1 else 0.0)
        row[f'best_{m}'] = statistics.mean(bests)
    row['final_loss'] = statistics.mean(r['loss'] for r in results)
    row['wall_seconds'] = statistics.mean(r['wall_seconds']
                                          for r in results)
    return row


def write_table(rows, name, out):
    """exercise.csv, .md and .png in `out`, each replaced whole."""
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
                f'{v:.3f}' if isinstance(v, float) else str(v)
                for v in row.values()) + ' |\n')
    png = os.path.join(out, 'exercise.png')
    with deferred_signals():
        plot_rows(rows, name, f'{png}.tmp-{os.getpid()}.png')
        os.replace(f'{png}.tmp-{os.getpid()}.png', png)


@contextlib.contextmanager
def replaced(path, **kwargs):
    """A text file written beside `path`, renamed over it when done."""
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w', **kwargs) as f:
        yield f
    os.replace(tmp, path)


def plot_rows(rows, name, path):
    fig = Figure(figsize=(7, 3.8))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    labels = [str(r['setting']) for r in rows]
    x = range(len(rows))
    for m, style in (('hit_rate', 'o-'), ('auc', 's--'), ('ndcg', '^:')):
        if f'final_{m}' in rows[0]:
            ax.errorbar(x, [r[f'final_{m}'] for r in rows],
                        yerr=[r[f'final_{m}_sd'] for r in rows],
                        fmt=style, capsize=3, label=f'final {m}')
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels)
    ax.set(xlabel=name, ylim=(0, 1), title=EXERCISES[name][0])
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
