"""MovieLens-20M's shape: load, one epoch and the full ranking, timed.

Writes a seeded ML-20M-shaped ``ratings.csv`` (GroupLens' header and
format; 20,000,000 rows of 138,493 users on 26,744 items, popularity
skewed like a power law, every user with at least 20 ratings) into a
work folder outside git, then, in a child process, loads it as
``--dataset ml-20m`` does (`load_dataset`: read, deduplicate, map ids,
seq-aware split, the chapter's lists and dicts) and runs the stage
asked for, reporting seconds and peak RSS of each step as JSON:

- ``load``: the load alone;
- ``epoch``: one epoch at the chapter's settings (corrected protocol,
  one CPU context), built as `d2l-ncf train` builds it;
- ``evaluate``: `RankingEvaluator`'s full ranking of every test user
  over every item it has not trained on, then the sampled evaluation;
- ``all``: the epoch, then both evaluations of the trained net.

    python benchmarks/bench_scale.py --stage all \
        --out benchmarks/results_scale.json
    python benchmarks/bench_scale.py --rows 2000000 --users 13849 \
        --items 2674 --stage all  # a tenth, for development

The file is generated once per shape and seed and reused. Each step's
peak RSS is its own: the child restarts the kernel's count
(/proc/self/clear_refs) before it.
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_WORKDIR = os.path.join(ROOT, 'runs', 'bench_scale')
SHAPE = dict(rows=20_000_000, users=138_493, items=26_744)
FIRST_TIME, LAST_TIME = 789_652_009, 1_427_784_002  # ML-20M's range


def generate(folder, rows, users, items, seed=0):
    """Write `folder`/ratings.csv in ML-20M's shape; return its path.

    Every user and item occurs, no (user, item) pair twice, each user
    has at least min(20, rows // users) ratings. Ids are sparse like
    GroupLens' movie ids (not 1..n) so the id mapping is exercised.
    """
    path = os.path.join(folder, 'ratings.csv')
    stamp = os.path.join(folder, 'shape.json')
    want = dict(rows=rows, users=users, items=items, seed=seed)
    if os.path.isfile(path) and os.path.isfile(stamp):
        with open(stamp) as f:
            if json.load(f) == want:
                return path
    os.makedirs(folder, exist_ok=True)
    rng = numpy.random.default_rng(seed)
    floor = min(20, rows // users)
    # ratings per user: a long tail above the floor, summing to `rows`
    extra = rng.pareto(1.2, users)
    extra = extra / extra.sum() * (rows - floor * users)
    cap = max(floor, items * 35 // 100)  # ML-20M's heaviest: 35% of items
    if cap * users < rows:
        raise SystemExit(f'{rows} rows do not fit {users} users with at '
                         f'most {cap} of {items} items each')
    per_user = numpy.minimum(floor + numpy.floor(extra).astype(numpy.int64),
                             cap)
    while per_user.sum() < rows:  # what the cap cut off goes elsewhere
        room = cap - per_user
        share = (rows - per_user.sum()) * room / room.sum()
        per_user += numpy.floor(share).astype(numpy.int64)
        room = cap - per_user
        per_user[numpy.flatnonzero(room > 0)[:rows - per_user.sum()]] += 1
    per_user[numpy.argmax(per_user)] -= per_user.sum() - rows
    user_of = numpy.repeat(numpy.arange(users), per_user)
    # items by a power law over a shuffled popularity order; each user's
    # draws are made distinct by redrawing collisions
    rank_to_item = rng.permutation(items)
    item_of = numpy.empty(len(user_of), dtype=numpy.int64)
    todo, skew = numpy.arange(len(user_of)), 2.5
    while todo.size:
        ranks = numpy.minimum((items * rng.random(todo.size) ** skew)
                              .astype(numpy.int64), items - 1)
        skew = max(1.0, skew - 0.5)  # redraws flatten: heavy users finish
        item_of[todo] = rank_to_item[ranks]
        key = user_of * items + item_of
        order = numpy.argsort(key, kind='stable')
        dup = numpy.zeros(len(key), dtype=bool)
        dup[order[1:]] = key[order[1:]] == key[order[:-1]]
        todo = numpy.flatnonzero(dup)
    # every item at least once: the first rows of spare users take them
    missing = numpy.setdiff1d(numpy.arange(items), item_of)
    _place_missing(user_of, item_of, missing, items)
    n = len(user_of)
    user_ids = numpy.sort(rng.choice(users * 2, users, replace=False)) + 1
    item_ids = numpy.sort(rng.choice(items * 5, items, replace=False)) + 1
    ratings = rng.integers(1, 11, n) / 2
    times = rng.integers(FIRST_TIME, LAST_TIME, n)
    shuffle = numpy.lexsort((rng.random(n), user_of))  # by user, as GroupLens
    with open(path + '.tmp', 'w') as f:
        f.write('userId,movieId,rating,timestamp\n')
        step = 1_000_000
        for start in range(0, n, step):
            rows_ = shuffle[start:start + step]
            lines = [f'{u},{i},{r:.1f},{t}\n' for u, i, r, t in zip(
                user_ids[user_of[rows_]].tolist(),
                item_ids[item_of[rows_]].tolist(),
                ratings[rows_].tolist(), times[rows_].tolist())]
            f.write(''.join(lines))
    os.replace(path + '.tmp', path)
    with open(stamp, 'w') as f:
        json.dump(want, f)
    return path


def _place_missing(user_of, item_of, missing, items):
    """Give each missing item one row, replacing a popular duplicate-free
    draw of a user who does not have it yet."""
    if not missing.size:
        return
    counts = numpy.bincount(item_of, minlength=items)
    rows = numpy.flatnonzero(counts[item_of] > 2)  # items that can spare
    rows = rows[numpy.linspace(0, len(rows) - 1, len(missing) * 4)
                .astype(numpy.int64)]
    have = set(zip(user_of.tolist(), item_of.tolist()))
    j = 0
    for item in missing.tolist():
        while True:
            row = rows[j]
            j += 1
            if (counts[item_of[row]] > 1
                    and (int(user_of[row]), item) not in have):
                break
        counts[item_of[row]] -= 1
        have.discard((int(user_of[row]), int(item_of[row])))
        item_of[row] = item
        have.add((int(user_of[row]), item))


def peak_rss_mb():
    """This process's peak resident set (VmHWM) in MB."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss():
    """Restart this process's peak RSS count at its current RSS (Linux:
    /proc/self/clear_refs), so each stage reports its own peak; False
    where the kernel does not allow it."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def measure_load(folder):
    """Load the folder as ``--dataset ml-20m``: seconds per step, and
    each step's own peak RSS where the kernel lets it be reset."""
    t0 = time.perf_counter()
    from d2l_ncf.data import build_chapter_data
    from d2l_ncf.datasets.interactions import index_interactions
    from d2l_ncf.datasets.movielens import DATASETS
    from d2l_ncf.datasets.formats import read_interactions
    t1 = time.perf_counter()
    spec = DATASETS['ml-20m']
    peaks = {}
    reset = reset_peak_rss()
    ratings = read_interactions(
        os.path.join(folder, spec.ratings), spec.ratings_format)
    t2 = time.perf_counter()
    peaks['read_peak_rss_mb'], reset = peak_rss_mb(), reset_peak_rss()
    inter = index_interactions(ratings)
    del ratings
    t3 = time.perf_counter()
    peaks['index_peak_rss_mb'], reset = peak_rss_mb(), reset_peak_rss()
    data = build_chapter_data(inter, folder)
    t4 = time.perf_counter()
    peaks['split_and_build_peak_rss_mb'] = peak_rss_mb()
    return data, dict(
        import_seconds=t1 - t0, read_seconds=t2 - t1,
        index_seconds=t3 - t2, split_and_build_seconds=t4 - t3,
        load_seconds=t4 - t1, users=data.num_users, items=data.num_items,
        train_interactions=len(data.users_train),
        test_users=len(data.test_iter), lines=data.summary['lines_read'],
        **(peaks if reset else {}))


# The run's settings beyond the chapter's: `--devices` and `--sparse`.
SETTINGS = dict(devices='cpu', sparse=False)


def measure_epoch(data, state):
    """One training epoch at the chapter's settings (corrected protocol;
    one CPU context and dense embeddings unless `SETTINGS` say other),
    built as `d2l-ncf train` builds it, with no evaluation in the loop;
    the trained net goes to `state`."""
    from d2l_ncf.runs.builders import build, resolve_devices, seed_everything
    from d2l_ncf.runs.config import TrainConfig
    from d2l_ncf.runs.run import quietly
    from d2l_ncf.callbacks import penalty_of
    from d2l_ncf.corrected import train_ranking
    config = TrainConfig(protocol='corrected', num_epochs=1, eval_step=2,
                         **SETTINGS).validate()
    devices = resolve_devices(config)
    seed_everything(config.seed)
    t0 = time.perf_counter()
    setup = build(config, data, devices)
    t1 = time.perf_counter()
    result, _ = quietly(
        train_ranking, setup.net, setup.train_iter, data.test_iter,
        setup.loss, setup.trainer, None, data.num_users, data.num_items,
        1, devices, setup.evaluator, data.candidates,
        eval_step=config.eval_step,
        callbacks=[c for c in setup.callbacks if not hasattr(c, 'penalty')],
        penalty=penalty_of(setup.callbacks))
    t2 = time.perf_counter()
    state.update(net=setup.net, devices=devices, config=config)
    return dict(build_seconds=t1 - t0, epoch_seconds=t2 - t1,
                epoch_train_seconds=result['train_seconds'],
                epoch_examples=result['examples'],
                epoch_examples_per_sec=result['examples']
                / result['train_seconds'],
                epoch_loss=result['loss'])


def measure_evaluation(data, state):
    """Full ranking of every test user over every item it has not
    trained on (`RankingEvaluator`, corrected protocol, chunked), then
    the sampled evaluation (99 negatives each), each with its seconds
    and its own peak RSS. Uses the net `measure_epoch` trained, else a
    freshly initialised one."""
    from mxnet import autograd
    from d2l_ncf.runs.builders import (build_net, resolve_devices,
                                       seed_everything)
    from d2l_ncf.runs.config import TrainConfig
    from d2l_ncf.evaluation import RankingEvaluator
    if 'net' not in state:
        config = TrainConfig(protocol='corrected', **SETTINGS).validate()
        devices = resolve_devices(config)
        seed_everything(config.seed)
        state.update(net=build_net(config, data.num_users, data.num_items,
                                   devices),
                     devices=devices, config=config)
    net, devices, config = state['net'], state['devices'], state['config']
    record = {}
    for name in ('full', 'sampled'):
        evaluator = RankingEvaluator(config.protocol, config.k, name,
                                     config.eval_negatives, seed=config.seed,
                                     chunk_size=config.eval_chunk)
        reset = reset_peak_rss()
        start = time.perf_counter()
        with autograd.predict_mode():
            metrics = evaluator(net, data.test_iter, None, data.candidates,
                                data.num_users, data.num_items, devices)
        record[f'{name}_eval_seconds'] = time.perf_counter() - start
        record[f'{name}_eval_peak_rss_mb'] = (peak_rss_mb() if reset
                                              else None)
        record[f'{name}_eval_metrics'] = dict(metrics, k=metrics.k)
    return record


STAGES = {'load': [], 'epoch': [measure_epoch],
          'evaluate': [measure_evaluation],
          'all': [measure_epoch, measure_evaluation]}


def child(folder, stage):
    """Run in a child process: load, then the stage's hooks, each with
    its own peak RSS where the kernel lets it be reset; print JSON."""
    data, record = measure_load(folder)
    record['load_peak_rss_mb'] = max(
        [peak_rss_mb()] + [v for k, v in record.items()
                           if k.endswith('_peak_rss_mb')])
    state, peaks = {}, [record['load_peak_rss_mb']]
    for hook in STAGES[stage]:
        reset = reset_peak_rss()
        record.update(hook(data, state))
        if reset:
            peaks.append(peak_rss_mb())
            record[hook.__name__.replace('measure_', '')
                   + '_peak_rss_mb'] = peaks[-1]
    record['peak_rss_mb'] = max(peaks + [peak_rss_mb()])
    print(json.dumps(record))


def run_child(folder, stage, timeout, settings=()):
    """One child process; its JSON and its wall-clock seconds. (Its
    peaks are its own: ru_maxrss seen from here would miss a peak the
    child reset.)"""
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, '--child', stage, '--workdir', folder,
         *settings],
        capture_output=True, text=True, timeout=timeout,
        env=dict(os.environ, PYTHONPATH=ROOT + os.pathsep
                 + os.environ.get('PYTHONPATH', '')))
    if out.returncode:
        raise SystemExit(f'the {stage} child failed:\n{out.stderr}')
    record = json.loads(out.stdout.strip().splitlines()[-1])
    record['wall_seconds'] = time.perf_counter() - start
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rows', type=int, default=SHAPE['rows'])
    parser.add_argument('--users', type=int, default=SHAPE['users'])
    parser.add_argument('--items', type=int, default=SHAPE['items'])
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--workdir', default=None,
                        help='where the generated file goes (default: '
                             'runs/bench_scale/<rows>, outside git)')
    parser.add_argument('--stage', choices=sorted(STAGES), default='load')
    parser.add_argument('--timeout', type=float, default=1800)
    parser.add_argument('--devices', default='cpu',
                        help="contexts for the epoch and the evaluations, "
                             "as d2l-ncf train's --devices (default: cpu)")
    parser.add_argument('--sparse', action='store_true',
                        help="train with d2l-ncf train's --sparse")
    parser.add_argument('--out', help='write the JSON record here')
    parser.add_argument('--child', choices=sorted(STAGES),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    SETTINGS.update(devices=args.devices, sparse=args.sparse)
    settings = ['--devices', args.devices] + (['--sparse'] if args.sparse
                                              else [])
    if args.child:
        return child(args.workdir, args.child)
    folder = args.workdir or os.path.join(DEFAULT_WORKDIR, str(args.rows))
    start = time.perf_counter()
    generate(folder, args.rows, args.users, args.items, args.seed)
    generated = time.perf_counter() - start
    record = dict(
        shape=dict(rows=args.rows, users=args.users, items=args.items,
                   seed=args.seed),
        file_mb=os.path.getsize(os.path.join(folder, 'ratings.csv')) / 2**20,
        generate_seconds=generated,
        machine=dict(platform=platform.platform(),
                     processor=platform.processor() or platform.machine(),
                     cpus=os.cpu_count(), python=platform.python_version()),
        settings=dict(SETTINGS), load_before=list(os.getloadavg()),
        **run_child(folder, args.stage, args.timeout, settings))
    record['load_after'] = list(os.getloadavg())
    text = json.dumps(record, indent=2)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')


if __name__ == '__main__':
    main()
