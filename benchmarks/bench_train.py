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

    python benchmarks/bench_train.py --out benchmarks/train.json
"""
import argparse
import contextlib
import io
import json
import os
import platform
import sys
import time

import d2l_ncf  # noqa: F401 (first: it sets MXNet's numerics)
import mxnet as mx
import numpy
from mxnet import autograd, gluon

from d2l_ncf import load_chapter_data
from d2l_ncf.config import TrainConfig, seed_everything
from d2l_ncf.losses import LOSSES
from d2l_ncf.numerics import cpu_info
from d2l_ncf.run import build_iterators, build_net, versions
from d2l_ncf.training import train_ranking

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SETTINGS = {
    'chapter': dict(protocol='corrected', devices='cpu'),
    'paper': dict(protocol='corrected', devices='cpu', eval='sampled',
                  loss='log', num_neg=4, batch_size=256, num_factors=8,
                  nums_hiddens=(32, 16, 8), lr=0.001, wd=0.0),
}


def run(name, data, data_dir, epochs, between=None, evaluate=False):
    """Train `epochs` epochs of setting `name` as `d2l-ncf train` does
    (no evaluation); seconds of each epoch and the run's result.

    `between()`, if given, runs after each epoch, outside its seconds
    (bench_torch.py trains PyTorch epochs there). `evaluate`: once
    trained, evaluate as the setting says (untimed) into the result.
    """
    config = TrainConfig(num_epochs=epochs, eval_step=epochs + 1,
                         data_dir=data_dir, **SETTINGS[name]).validate()
    devices = [mx.cpu()]
    seed_everything(0)
    train_iter, evaluator = build_iterators(config, data)
    net = build_net(config, data.num_users, data.num_items, devices)
    trainer = gluon.Trainer(net.collect_params(), config.optimizer,
                            {'learning_rate': config.lr, 'wd': config.wd})
    starts, ends = [time.perf_counter()], []

    def epoch_end(*_):
        ends.append(time.perf_counter())
        if between is not None:
            between()
        starts.append(time.perf_counter())
    with contextlib.redirect_stdout(io.StringIO()):
        result = train_ranking(
            net, train_iter, data.test_iter, LOSSES[config.loss](), trainer,
            None, data.num_users, data.num_items, epochs, devices,
            evaluator, data.candidates, eval_step=config.eval_step,
            protocol=config.protocol, plot=False, epoch_end=epoch_end)
    if evaluate:
        with autograd.predict_mode():
            result.update(evaluator(
                net, data.test_iter, None, data.candidates, data.num_users,
                data.num_items, devices))
    return numpy.array(ends) - numpy.array(starts[:-1]), result


def machine():
    """The CPU this runs on, as the JSON records it."""
    return {'cpus': os.cpu_count(), 'processor': platform.processor(),
            'machine': platform.machine(), 'model': cpu_info()[0]}


def per_epoch(data, data_dir, name, epochs):
    """Examples/s and seconds of the fastest and the median epoch after
    the first (which compiles the graph)."""
    seconds, result = run(name, data, data_dir, epochs)
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
    parser.add_argument('--epochs', type=int, default=6)
    parser.add_argument('--repeats', type=int, default=1)
    parser.add_argument('--settings', nargs='+', default=list(SETTINGS),
                        choices=list(SETTINGS))
    parser.add_argument('--skip-stock', action='store_true')
    parser.add_argument('--out', default=None, help='JSON file to write')
    args = parser.parse_args(argv)
    data = load_chapter_data(args.data_dir)
    results = {}
    for name in args.settings:
        runs = [per_epoch(data, args.data_dir, name, args.epochs)
                for _ in range(args.repeats)]
        best = max(runs, key=lambda r: r['examples_per_sec'])
        results[name] = dict(best, runs=runs)
        print(f'{name:8} {best["examples_per_sec"]:12.0f} examples/s (median {best["median_examples_per_sec"]:.0f}) '
              f'{best["epoch_seconds"]:8.3f} s/epoch (best of '
              f'{len(runs)})')
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
    record = {'results': results, 'settings': {
        k: {f: list(v) if isinstance(v, tuple) else v
            for f, v in s.items()} for k, s in SETTINGS.items()},
        'versions': versions(), 'machine': machine()}
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(record, f, indent=2)


if __name__ == '__main__':
    main()
