"""The chapter's stock code against d2l_ncf's fast path, in one process.

Stock: the chapter's `PRDataset` in a DataLoader (its settings, 4
workers), the chapter's NeuMF, `d2l.train_ranking` and
`d2l.evaluate_ranking` from d2l 1.0.3. Fast: d2l_ncf's vectorised sampler
and evaluator with the NeuMF hybridized, as `d2l-ncf train` runs them.
Both on the real MovieLens-100K, book protocol, the chapter's settings.

    python benchmarks/bench_chapter.py --out benchmarks/results.json

The stock 10-epoch job is not run whole (about 20 minutes): its time is
10 x (one epoch + one evaluation), both measured here.
"""
import argparse
import contextlib
import io
import json
import statistics
import time

import d2l_ncf  # noqa: F401 (first: it sets MXNet's numerics)
import mxnet as mx
from d2l import mxnet as d2l
from mxnet import gluon

from d2l_ncf import NeuMF, PRDataset, load_chapter_data
from d2l_ncf.runs.builders import build_iterators, seed_everything
from d2l_ncf.runs.config import TrainConfig
from d2l_ncf.evaluation import RankingEvaluator
from d2l_ncf.runs.records import versions
from d2l_ncf.runs.run import train

from common import machine


def chapter_net(data, devices):
    net = NeuMF(10, data.num_users, data.num_items, nums_hiddens=[10] * 3)
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    return net


def stock(data, devices, evaluate=True):
    """One epoch of d2l.train_ranking and (if `evaluate`) one
    d2l.evaluate_ranking."""
    seed_everything(0)
    train_iter = gluon.data.DataLoader(
        PRDataset(data.users_train, data.items_train, data.candidates,
                  data.num_items), 1024, True, last_batch='rollover',
        num_workers=d2l.get_dataloader_workers())
    net = chapter_net(data, devices)
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': 0.01, 'wd': 1e-5})
    examples = len(train_iter) * 1024
    tic = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # its Animator prints
        d2l.train_ranking(net, train_iter, data.test_iter, d2l.BPRLoss(),
                          trainer, None, data.num_users, data.num_items, 1,
                          devices, lambda *a: (0, 0), data.candidates)
    epoch = time.perf_counter() - tic
    if not evaluate:
        return {'examples_per_sec': examples / epoch, 'epoch_seconds': epoch}
    tic = time.perf_counter()
    d2l.evaluate_ranking(net, data.test_iter, None, data.candidates,
                         data.num_users, data.num_items, devices)
    evaluation = time.perf_counter() - tic
    return {'examples_per_sec': examples / epoch, 'epoch_seconds': epoch,
            'eval_seconds': evaluation,
            'job_seconds': 10 * (epoch + evaluation),
            'job_seconds_is': '10 x (epoch + evaluation), not run whole'}


def fast(data, devices, data_dir, repeats=5):
    config = TrainConfig(devices='cpu' if len(devices) == 1 else
                         f'cpu:{len(devices)}', data_dir=data_dir)
    seed_everything(0)
    train_iter, _ = build_iterators(config, data)
    net = chapter_net(data, devices)
    net.hybridize()
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': 0.01, 'wd': 1e-5})
    epochs = []
    for _ in range(3):  # the first epoch compiles the graph
        examples = len(train_iter) * 1024
        tic = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            d2l.train_ranking(net, train_iter, data.test_iter,
                              d2l.BPRLoss(), trainer, None, data.num_users,
                              data.num_items, 1, devices,
                              lambda *a: (0, 0), data.candidates)
        epochs.append((examples, time.perf_counter() - tic))
    evaluator = RankingEvaluator('book')
    args = (net, data.test_iter, None, data.candidates, data.num_users,
            data.num_items, devices)
    evaluator(*args)
    evals = []
    for _ in range(repeats):
        tic = time.perf_counter()
        evaluator(*args)
        evals.append(time.perf_counter() - tic)
    tic = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        train(config, progress=False)
    job = time.perf_counter() - tic
    best = min(epochs[1:], key=lambda e: e[1])
    return {'examples_per_sec': best[0] / best[1], 'epoch_seconds': best[1],
            'eval_seconds': statistics.median(evals),
            'job_seconds': job,
            'job_printed': printed.getvalue().strip().splitlines()[-2],
            'job_seconds_is': 'd2l-ncf train, data loading included, '
                              'after imports'}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-dir', default=None)
    parser.add_argument('--devices', type=int, default=1,
                        help='CPU contexts (default 1)')
    parser.add_argument('--skip-stock', action='store_true')
    parser.add_argument('--out', default=None, help='JSON file to write')
    args = parser.parse_args(argv)
    devices = [mx.cpu(i) for i in range(args.devices)]
    data = load_chapter_data(args.data_dir)
    results = {'fast': fast(data, devices, args.data_dir)}
    if not args.skip_stock:
        results['stock'] = stock(data, devices)
    print(f'{"":22}{"stock":>12}{"fast":>12}{"ratio":>10}')
    for key in ('examples_per_sec', 'epoch_seconds', 'eval_seconds',
                'job_seconds'):
        f = results['fast'][key]
        s = results.get('stock', {}).get(key, float('nan'))
        ratio = f / s if key == 'examples_per_sec' else s / f
        print(f'{key:22}{s:12.3f}{f:12.3f}{ratio:9.1f}x')
    print('fast job printed:', results['fast']['job_printed'])
    record = {'results': results, 'devices': [str(d) for d in devices],
              'versions': versions(), 'machine': machine()}
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(record, f, indent=2)


if __name__ == '__main__':
    main()
