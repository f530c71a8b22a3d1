"""What `exercise`, `ablation` and experiments/ share: one run of a
config through `builders.build` and `run.fit`, the seeds checked, one
summariser (mean and sd over seeds) and one report writer."""
import contextlib
import numbers
import os
import statistics
import sys
import time

from ..runtime.locking import deferred_signals
from .config import MAX_SEED, UsageError


class SweepFailed(ValueError):
    """A run of a sweep failed; `rows` holds the finished rows."""

    def __init__(self, message, rows):
        super().__init__(message)
        self.rows = rows


def check_seeds(seeds):
    """`seeds` in order, each once (a repeat would be the same run, and
    would shrink the sd); a note names the repeats. Refuses none, and
    anything but whole numbers from 0 to `MAX_SEED`."""
    expected = f'expected whole numbers from 0 to {MAX_SEED}'
    try:
        listed = None if isinstance(seeds, str) else list(seeds)
    except TypeError:
        listed = None
    if not listed:
        raise UsageError(f'--seeds {seeds!r}: {expected}, one or more')
    seeds = listed
    for s in seeds:
        if not (isinstance(s, numbers.Integral) and not isinstance(s, bool)
                and 0 <= s <= MAX_SEED):
            raise UsageError(f'--seeds {s!r}: {expected}')
    distinct = list(dict.fromkeys(int(s) for s in seeds))
    if len(distinct) < len(seeds):
        repeated = sorted({s for s in seeds if seeds.count(s) > 1})
        print(f'note: seed(s) {", ".join(map(str, repeated))} given more '
              f'than once; each seed is one run, so {len(distinct)} runs '
              f'per setting', file=sys.stderr)
    return tuple(distinct)


def check_out(out):
    if out == '':
        raise UsageError("--out '': expected a folder name (or no --out)")


def mean_sd(values):
    """(mean, sd) of `values`: the sd over one value is undefined, None
    (not 0)."""
    values = list(values)
    return (statistics.mean(values),
            statistics.stdev(values) if len(values) > 1 else None)


def summarise(rows, keys, spread):
    """One entry per distinct value of `keys` among `rows` (dicts), in
    their order: the keys, ``n`` (rows: seeds), the mean of every other
    number and, for each field of `spread`, its sd as ``FIELD_sd``."""
    groups = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    summary = []
    for key, group in groups.items():
        entry = dict(zip(keys, key), n=len(group))
        for name, value in group[0].items():
            values = [r[name] for r in group if r.get(name) is not None]
            if name in keys or name == 'seed' or not values or not all(
                    isinstance(v, numbers.Real) for v in values):
                continue
            entry[name], sd = mean_sd(values)
            if name in spread:
                entry[f'{name}_sd'] = sd
        summary.append(entry)
    return summary


def fit_one(config, data, devices, callbacks=(), what=None):
    """`run.fit` of `config` (seeded first), its printing captured:
    ``(net, result)``, `result` with ``wall_seconds``. A diverging run's
    error names `what` (e.g. the model and seed) first."""
    from ..engine.scoring import NonFiniteModelError
    from ..corrected import NonFiniteLossError
    from .builders import seed_everything
    from .run import fit, quietly
    seed_everything(config.seed)
    tic = time.perf_counter()
    try:
        (net, result), _ = quietly(fit, config, data, devices,
                                   callbacks=callbacks)
    except (NonFiniteLossError, NonFiniteModelError) as err:
        raise type(err)(f'{what}: {err}' if what else str(err)) from None
    return net, dict(result, wall_seconds=time.perf_counter() - tic)


@contextlib.contextmanager
def replaced(path, **kwargs):
    """A file written beside `path`, renamed over it when done; a failed
    write leaves no temporary behind."""
    tmp = f'{path}.tmp-{os.getpid()}'
    try:
        with open(tmp, 'wb' if kwargs.pop('binary', False) else 'w',
                  **kwargs) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def write_report(out, files, rows, what):
    """Write `files` ({name: fn(file)}, e.g. a table, a figure) into
    folder `out`, each replaced whole, a signal deferred meanwhile. A
    failed write (e.g. a full disk) is a `SweepFailed` holding `rows`,
    so the finished rows can still be printed."""
    try:
        os.makedirs(out, exist_ok=True)
        with deferred_signals():
            for name, write in files.items():
                binary = name.endswith('.png')
                with replaced(os.path.join(out, name), binary=binary,
                              **({} if binary else {'newline': ''})) as f:
                    write(f)
    except OSError as err:
        raise SweepFailed(
            f'--out {out}: writing failed ({err.strerror or err}; '
            f'{err.filename or name}); the {what} finished are printed',
            rows) from None
