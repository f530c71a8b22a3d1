"""Training throughput of `d2l-ncf train`'s loop, corrected protocol.

Two settings on the real MovieLens-100K, one CPU context: the chapter's
(10 factors, MLP 10-10-10, batch 1024, BPR, one negative) and the NCF
paper's usual ones (log loss, 4 negatives, batch 256, 8 factors, MLP
32-16-8, lr 0.001, no weight decay). Each trains a few epochs with no
evaluation and reports the loop's own figure (examples over the seconds
of training batches) and the fastest and median epoch after the first
(which compiles the graph): the machine may be shared, and the fastest
epoch is the least disturbed. Beside them, in the same process, one epoch
of the chapter's stock code (bench_chapter.stock), the yardstick of the
issue's "18x the stock chapter epoch".

With ``--sparse both`` each setting also runs with ``--sparse`` (row-
sparse embedding gradients, lazy Adam: d2l_ncf/engine/sparse.py), dense and
sparse alternating in one process, and the record holds ``NAME_sparse``
beside ``NAME`` and their ratio:

    python benchmarks/bench_train.py --out benchmarks/train.json
    python benchmarks/bench_train.py --sparse both --skip-stock \
        --out benchmarks/train_sparse.json

``--dataset ml-20m --data-dir DIR`` trains on DIR/ratings.csv instead
(e.g. a large catalogue written by bench_scale.py's `generate`), where
the tables are large and a dense step updates every row of them.
"""
import argparse
import json
import os
import platform
import sys
import time

import d2l_ncf  # noqa: F401 (first: it sets MXNet's numerics)
import mxnet as mx
import numpy

from mxnet import autograd

from d2l_ncf import load_chapter_data
from d2l_ncf.runs.builders import build, load_data, seed_everything
from d2l_ncf.callbacks import Callback, penalty_of
from d2l_ncf.runs.config import TrainConfig
from d2l_ncf.runtime.numerics import cpu_info
from d2l_ncf.runs.records import versions
from d2l_ncf.runs.run import quietly
from d2l_ncf.corrected import train_ranking

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SETTINGS = {
    'chapter': dict(protocol='corrected', devices='cpu'),
    'paper': dict(protocol='corrected', devices='cpu', eval='sampled',
                  loss='log', num_neg=4, batch_size=256, num_factors=8,
                  nums_hiddens=(32, 16, 8), lr=0.001, wd=0.0),
}


def run(name, data, data_dir, epochs, use_sparse=False, between=None,
        evaluate=False):
    """Train `epochs` epochs of setting `name` as `d2l-ncf train` does
    (no evaluation); seconds of each epoch and the run's result.

    `between()`, if given, runs after each epoch, outside its seconds
    (bench_torch.py trains PyTorch epochs there). `evaluate`: once
    trained, evaluate as the setting says (untimed) into the result.
    """
    config = TrainConfig(num_epochs=epochs, eval_step=epochs + 1,
                         data_dir=data_dir, sparse=use_sparse,
                         **SETTINGS[name]).validate()
    devices = [mx.cpu()]
    seed_everything(0)
    setup = build(config, data, devices)
    starts, ends = [time.perf_counter()], []

    class Stamps(Callback):  # `between` runs outside the epochs' timing
        def on_epoch_end(self, epoch, history):
            ends.append(time.perf_counter())
            if between is not None:
                between()
            starts.append(time.perf_counter())

    (result, _) = quietly(
        train_ranking, setup.net, setup.train_iter, data.test_iter,
        setup.loss, setup.trainer, None, data.num_users, data.num_items,
        epochs, devices, setup.evaluator, data.candidates,
        eval_step=config.eval_step,
        callbacks=[c for c in setup.callbacks if not hasattr(c, 'penalty')]
        + [Stamps()], penalty=penalty_of(setup.callbacks))
    if evaluate:
        with autograd.predict_mode():
            result.update(setup.evaluator(
                setup.net, data.test_iter, None, data.candidates,
                data.num_users, data.num_items, devices))
    return numpy.array(ends) - numpy.array(starts[:-1]), result


def machine():
    """The CPU this runs on, as the JSON records it."""
    return {'cpus': os.cpu_count(), 'processor': platform.processor(),
            'machine': platform.machine(), 'model': cpu_info()[0]}


def per_epoch(data, data_dir, name, epochs, use_sparse=False):
    """Examples/s and seconds of the fastest and the median epoch after
    the first (which compiles the graph)."""
    seconds, result = run(name, data, data_dir, epochs, use_sparse)
    examples = result['examples'] / epochs
    return {'examples_per_sec': examples / seconds[1:].min(),
            'median_examples_per_sec': examples / numpy.median(seconds[1:]),
            'epoch_seconds': float(seconds[1:].min()),
            'all_epoch_seconds': seconds.tolist(),
            'printed_examples_per_sec': result['examples_per_sec'],
            'loss': result['loss'], 'epochs': epochs}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-dir', default=None)
    parser.add_argument('--dataset', default='ml-100k',
                        help="ml-20m: DIR/ratings.csv (no stock epoch)")
    parser.add_argument('--epochs', type=int, default=6)
    parser.add_argument('--repeats', type=int, default=1)
    parser.add_argument('--settings', nargs='+', default=list(SETTINGS),
                        choices=list(SETTINGS))
    parser.add_argument('--sparse', choices=('no', 'both'), default='no',
                        help="'both': each setting dense and --sparse, "
                             "alternating")
    parser.add_argument('--skip-stock', action='store_true')
    parser.add_argument('--out', default=None, help='JSON file to write')
    args = parser.parse_args(argv)
    if args.dataset == 'ml-100k':
        data = load_chapter_data(args.data_dir)
    else:
        data = load_data(TrainConfig(dataset=args.dataset,
                                     data_dir=args.data_dir))
        args.skip_stock = True  # the chapter's code reads ML-100K only
    results = {}
    kinds = [False, True] if args.sparse == 'both' else [False]
    for name in args.settings:
        runs = {k: [] for k in kinds}
        for _ in range(args.repeats):  # dense and sparse take turns
            for k in kinds:
                runs[k].append(per_epoch(data, args.data_dir, name,
                                         args.epochs, k))
        for k in kinds:
            label = name + ('_sparse' if k else '')
            best = max(runs[k], key=lambda r: r['examples_per_sec'])
            results[label] = dict(best, runs=runs[k])
            print(f'{label:15} {best["examples_per_sec"]:12.0f} examples/s '
                  f'(median {best["median_examples_per_sec"]:.0f}) '
                  f'{best["epoch_seconds"]:8.3f} s/epoch (best of '
                  f'{len(runs[k])})')
        if True in runs:
            ratio = (results[name + '_sparse']['examples_per_sec']
                     / results[name]['examples_per_sec'])
            results[name + '_sparse']['x_dense'] = ratio
            print(f'{name}: --sparse {ratio:.2f}x the dense examples/s')
    if not args.skip_stock:
        from bench_chapter import stock
        results['stock'] = stock(data, [mx.cpu()])
        print(f'{"stock":8} {results["stock"]["examples_per_sec"]:12.0f} '
              f'examples/s {results["stock"]["epoch_seconds"]:8.3f} '
              f's/epoch')
        if 'chapter' in results:
            ratio = (results['stock']['epoch_seconds']
                     / results['chapter']['epoch_seconds'])
            results['chapter']['x_stock_epoch'] = ratio
            print(f'chapter epoch: {ratio:.1f}x faster than stock')
    record = {'dataset': args.dataset, 'num_users': data.num_users,
              'num_items': data.num_items, 'results': results, 'settings': {
        k: {f: list(v) if isinstance(v, tuple) else v
            for f, v in s.items()} for k, s in SETTINGS.items()},
        'versions': versions(), 'machine': machine()}
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(record, f, indent=2)


if __name__ == '__main__':
    main()
