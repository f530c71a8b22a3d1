"""The corrected protocol's epoch, before and after engine/step.FastStep,
beside the stock chapter epoch, in one process (issue 34).

The chapter's settings on the real MovieLens-100K, one CPU context: BPR,
one negative, batch 1024, 10 factors, MLP 10-10-10, Adam lr 0.01 wd 1e-5,
logits (the corrected protocol); or with ``--setting paper`` the NCF
paper's (log loss, 4 negatives, batch 256, 8 factors, MLP 32-16-8, Adam
lr 0.001, no decay), where the stock chapter epoch is only a yardstick.
Three epoch loops, taking turns in each round (their epochs alternate)
so that a busy machine slows them alike:

- stock: the chapter's own code, one epoch (bench_chapter.stock);
- before: the package's step of issue 15, as its loop ran it: batches
  sampled one at a time on the host and copied, the compiled
  `PairwiseObjective` (static memory), the loss read back every batch,
  ``trainer.step`` (one Adam update per parameter);
- after: `FastStep` on the batches `epoch_batches` prepared for the
  epoch, the batches' losses read once an epoch (`FastStep.finish`).

Each round records the load average, the fastest of `--epochs` epochs of
each loop (after a first one that compiles), and the ratios to the stock
epoch of the same round. A profile of one batch (`profile`: where its
time goes, each phase waited for, median over an epoch) goes beside.

    python benchmarks/bench_step.py --out benchmarks/step.json
    python benchmarks/bench_step.py --setting paper \
        --out benchmarks/step_paper.json
    MXNET_EXEC_BULK_EXEC_TRAIN=0 python benchmarks/bench_step.py \
        --rounds 0 --operators benchmarks/step_operators.json
"""
import argparse
import json
import os
import statistics
import sys
import time

import d2l_ncf  # noqa: F401 (first: it sets MXNet's numerics)
import mxnet as mx
import numpy
from mxnet import autograd, gluon

from d2l_ncf import load_chapter_data
from d2l_ncf.engine.sampling import NegativeSampler, TripleBatches
from d2l_ncf.engine.step import FastStep, epoch_batches
from d2l_ncf.losses import LOSSES, fused_objective
from d2l_ncf.model import NeuMF

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine  # noqa: E402

# name: (loss, negatives, batch, factors, hiddens, lr, wd)
SETTINGS = {'chapter': ('bpr', 1, 1024, 10, [10, 10, 10], 0.01, 1e-5),
            'paper': ('log', 4, 256, 8, [32, 16, 8], 0.001, 0.0)}


def setup(data, device, setting='chapter', seed=0):
    """The corrected protocol at `setting`: net, loss, trainer and the
    batches."""
    loss, num_neg, batch, factors, hiddens, lr, wd = SETTINGS[setting]
    mx.random.seed(seed)
    net = NeuMF(factors, data.num_users, data.num_items, hiddens,
                sigmoid_output=False)
    net.initialize(ctx=device, init=mx.init.Normal(0.01))
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': lr, 'wd': wd})
    sampler = NegativeSampler(data.candidates, data.num_users,
                              data.num_items)
    batches = TripleBatches(data.users_train, data.items_train, sampler,
                            batch, numpy.random.RandomState(seed), num_neg)
    return net, LOSSES[loss](), trainer, batches


class Before:
    """The step of issue 15 as its loop ran it, one epoch a call."""

    def __init__(self, data, device, setting):
        self.device = [device]
        self.net, self.loss, self.trainer, self.batches = setup(
            data, device, setting)
        self.graph = None

    def epoch(self, phases=None):
        total = 0.0
        tic = time.perf_counter()
        for values in self.batches:
            tic = mark(phases, 'sample', tic)
            parts = [gluon.utils.split_and_load(v, self.device)
                     for v in values]
            tic = mark(phases, 'copy to device', tic, wait=True)
            if self.graph is None:
                self.graph = fused_objective(self.net, self.loss, values[2])
            with autograd.record():
                ls = [self.graph(*t) for t in zip(*parts)]
            for l in ls:
                l.backward()
            tic = mark(phases, 'forward and backward', tic, wait=True)
            batch_loss = sum(l.asnumpy() for l in ls)
            if not numpy.isfinite(batch_loss).all():
                raise FloatingPointError('the loss is not finite')
            total = float(batch_loss.sum())
            tic = mark(phases, 'read the loss', tic)
            self.trainer.step(values[0].shape[0])
            tic = mark(phases, 'update', tic, wait=True)
        return total


class After:
    """FastStep on an epoch's batches prepared at once, one epoch a
    call."""

    def __init__(self, data, device, setting):
        self.device = device
        net, loss, trainer, self.batches = setup(data, device, setting)
        self.step = FastStep(net, loss, trainer, [device])

    def epoch(self, phases=None):
        tic = time.perf_counter()
        batches = epoch_batches(self.batches, self.device)
        if phases is not None:  # the epoch's sampling, per batch
            seconds = (time.perf_counter() - tic) / len(batches)
            phases.setdefault('sample and copy (whole epoch)', []).extend(
                [seconds] * len(batches))
        step = self.step
        for values in batches:
            if phases is None:
                step(values)
            else:  # FastStep's phases, each waited for
                step.losses.append(self.profiled(values, phases))
        tic = time.perf_counter()
        total = 0.0
        for loss in step.finish():  # read once an epoch
            total += loss
        if phases is not None:
            phases.setdefault('read the loss', []).extend(
                [(time.perf_counter() - tic) / len(batches)] * len(batches))
        return total

    def profiled(self, values, phases):
        step = self.step
        if step.update is None:
            return step(values)
        tic = time.perf_counter()
        with autograd.record():
            loss = step.graph(*values)
        loss.backward()
        tic = mark(phases, 'forward and backward', tic, wait=True)
        assert step.update.ready(step.trainer)
        step.update(step.trainer, values[0].shape[0])
        mark(phases, 'update', tic, wait=True)
        return loss


def mark(phases, name, tic=None, wait=None):
    """Add the seconds since `tic` to `phases[name]` (after waiting for
    MXNet's queue when `wait`); the time now."""
    if phases is None:
        return None
    if wait is not None:
        mx.nd.waitall()
    now = time.perf_counter()
    if tic is not None:
        phases.setdefault(name, []).append(now - tic)
    return now


def timed_epochs(loop, epochs):
    """Seconds of each of `epochs` epochs (the loss read back included)."""
    seconds = []
    for _ in range(epochs):
        mx.nd.waitall()
        tic = time.perf_counter()
        loop.epoch()
        seconds.append(time.perf_counter() - tic)
    return seconds


def profile(loop):
    """Median milliseconds of each phase of a batch over one epoch."""
    phases = {}
    loop.epoch(phases)
    return {name: 1e3 * statistics.median(s) for name, s in phases.items()}


def operators(loop):
    """MXNet's profile of one epoch of `loop`: per operator (or bulked
    segment of operators) its count and total, min and mean ms, and the
    C API calls the host made. Run with MXNET_EXEC_BULK_EXEC_TRAIN=0 in
    the environment to see each operator apart."""
    mx.nd.waitall()
    mx.profiler.set_config(profile_all=True, aggregate_stats=True,
                           filename=os.devnull)
    mx.profiler.set_state('run')
    loop.epoch()
    mx.nd.waitall()
    mx.profiler.set_state('stop')
    table = json.loads(mx.profiler.dumps(reset=True, format='json'))['Time']
    return {kind: dict(sorted(table.get(kind, {}).items(),
                              key=lambda kv: -kv[1]['Total']))
            for kind in ('operator', 'MXNET_C_API')}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-dir', default=None)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--setting', choices=list(SETTINGS),
                        default='chapter',
                        help="the chapter's (default) or the NCF paper's "
                             "(log loss, 4 negatives, batch 256, 8 factors, "
                             "MLP 32-16-8, lr 0.001, no decay)")
    parser.add_argument('--epochs', type=int, default=4,
                        help='timed epochs of each loop a round')
    parser.add_argument('--out', default=None, help='JSON file to write')
    parser.add_argument('--operators', default=None, metavar='FILE',
                        help="also write MXNet's profile of one epoch of "
                             "each loop to FILE (JSON)")
    args = parser.parse_args(argv)
    from bench_chapter import stock
    data = load_chapter_data(args.data_dir)
    device = mx.cpu()
    loops = {'before': Before(data, device, args.setting),
             'after': After(data, device, args.setting)}
    for loop in loops.values():
        loop.epoch()  # compiles the graphs
    rounds = []
    for r in range(args.rounds):
        row = {'load_average_before': os.getloadavg()}
        row['stock_epoch_seconds'] = stock(data, [device],
                                           evaluate=False)['epoch_seconds']
        timings = {name: [] for name in loops}
        for _ in range(args.epochs):  # epochs of the loops alternate
            for name, loop in loops.items():
                timings[name] += timed_epochs(loop, 1)
        for name, loop in loops.items():
            seconds = timings[name]
            row[name] = {'epoch_seconds': min(seconds),
                         'median_epoch_seconds': statistics.median(seconds),
                         'all_epoch_seconds': seconds,
                         'examples_per_sec': len(loop.batches)
                         * loop.batches.batch_size
                         / min(seconds)}
            row[name]['x_stock_epoch'] = (row['stock_epoch_seconds']
                                          / min(seconds))
        row['after_x_before'] = (row['before']['epoch_seconds']
                                 / row['after']['epoch_seconds'])
        row['load_average_after'] = os.getloadavg()
        rounds.append(row)
        print(f'round {r + 1}: load {row["load_average_before"][0]:.2f}, '
              f'stock {row["stock_epoch_seconds"]:.3f} s, ' + ', '.join(
                  f'{n} {row[n]["epoch_seconds"]:.3f} s '
                  f'({row[n]["x_stock_epoch"]:.1f}x stock)' for n in loops)
              + f'; after {row["after_x_before"]:.2f}x before')
    profiles = {name: profile(loop) for name, loop in loops.items()}
    for name, phases in profiles.items():
        print(f'one batch, {name} (ms, median, each phase waited for): '
              + ', '.join(f'{k} {v:.3f}' for k, v in phases.items()))
    best = {n: max((r[n]['x_stock_epoch'] for r in rounds), default=None)
            for n in loops}
    if rounds:
        print('best ratio to the stock epoch of the same round: ' + ', '.join(
            f'{n} {v:.1f}x' for n, v in best.items()))
    record = {
        'command': 'python benchmarks/bench_step.py ' + ' '.join(
            argv if argv is not None else sys.argv[1:]),
        'setting': args.setting,
        'settings': dict(zip(('loss', 'num_neg', 'batch_size', 'factors',
                              'hiddens', 'lr', 'wd'),
                             SETTINGS[args.setting])),
        'protocol': 'corrected, Adam, one CPU context, MovieLens-100K',
        'rounds': rounds, 'best_x_stock_epoch': best,
        'median_after_x_before': statistics.median(
            [r['after_x_before'] for r in rounds] or [float('nan')]),
        'median_x_stock_epoch': {
            n: statistics.median([r[n]['x_stock_epoch'] for r in rounds]
                                 or [float('nan')]) for n in loops},
        'profile_ms_per_batch': profiles,
        'machine': machine(), 'mxnet': mx.__version__}
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(record, f, indent=2)
            f.write('\n')
    if args.operators:
        ops = {name: operators(loop) for name, loop in loops.items()}
        ops['bulked'] = os.environ.get('MXNET_EXEC_BULK_EXEC_TRAIN') != '0'
        ops['load_average'] = os.getloadavg()
        with open(args.operators, 'w') as f:
            json.dump(ops, f, indent=1)
            f.write('\n')
        for name in loops:
            top = list(ops[name]['operator'].items())[:8]
            print(f'{name}: ' + ', '.join(
                f'{k[:40]} {v["Total"]:.0f} ms (min {v["Min"]:.3f})'
                for k, v in top))


if __name__ == '__main__':
    main()
