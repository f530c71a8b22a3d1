"""The chapter's main job: data, NeuMF, training; a record of the run."""
import dataclasses
import functools
import json
import os
import platform
import sys

import mxnet as mx
import numpy
from mxnet import gluon

from .config import TrainConfig, seed_everything
from .data import load_chapter_data, make_train_iter, ml100k_dir
from .devices import parse_devices
from .losses import LOSSES
from .metrics import evaluate_ranking
from .model import NeuMF
from .plotting import save_curves
from .protocol import get_protocol
from .ranking import RankingEvaluator
from .sampling import NegativeSampler, TripleBatches
from .training import train_ranking

OUTPUT_FILES = ('metrics.json', 'curves.png')


class OutputExistsError(FileExistsError):
    """The output folder already holds a run's files."""


def check_out_dir(out, overwrite=False, files=OUTPUT_FILES):
    """Refuse to write over an earlier run's `files` unless told to."""
    if out is None or overwrite:
        return
    taken = [f for f in files if os.path.exists(os.path.join(out, f))]
    if taken:
        raise OutputExistsError(
            f'{out} already holds {", ".join(taken)} from an earlier run; '
            f'choose another folder or pass --overwrite')


def resolve_devices(config):
    """The contexts to use, checked against the batch size."""
    devices = parse_devices(config.devices)
    if config.batch_size % len(devices):
        raise ValueError(
            f'batch_size {config.batch_size} does not split evenly over '
            f'{len(devices)} devices, as the chapter\'s split_and_load '
            f'needs; use a multiple of {len(devices)}')
    return devices


def versions():
    """Library versions that can move the numbers."""
    import d2l
    import pandas
    return {'python': platform.python_version(), 'mxnet': mx.__version__,
            'd2l': d2l.__version__, 'numpy': numpy.__version__,
            'pandas': pandas.__version__, 'platform': platform.platform()}


def train(config=None, out=None, progress=True, overwrite=False):
    """Run the chapter's job with `config`; write `out`/metrics.json.

    Returns the run's record (what metrics.json holds).
    """
    config = (config or TrainConfig()).validate()
    check_out_dir(out, overwrite)
    devices = resolve_devices(config)
    data_dir = ml100k_dir(config.data_dir)
    seed_everything(config.seed)
    data = load_chapter_data(data_dir)
    net, result = fit(config, data, devices, progress)
    record = {
        'config': dict(dataclasses.asdict(config),
                       nums_hiddens=list(config.nums_hiddens),
                       resolved_devices=[str(d) for d in devices],
                       resolved_data_dir=os.path.abspath(data_dir),
                       num_users=data.num_users, num_items=data.num_items,
                       num_train=len(data.users_train),
                       command=sys.argv),
        'versions': versions(),
        'history': result['history'],
        'final': {k: v for k, v in result.items() if k != 'history'},
    }
    if out is not None:
        write_outputs(record, out)
    return record


def fit(config, data, devices, progress=False):
    """Build NeuMF, its loss and trainer from `config`; train on `data`.

    Returns ``(net, result)`` with `result` as `train_ranking` returns it.
    Seed the generators first (`seed_everything`) for a repeatable run.
    """
    if config.k is not None and config.k > data.num_items:
        raise ValueError(f'k = {config.k} is larger than the '
                         f'{data.num_items} items of the data')
    protocol = get_protocol(config.protocol)
    train_iter, evaluator = build_iterators(config, data, progress)
    net = NeuMF(config.num_factors, data.num_users, data.num_items,
                nums_hiddens=list(config.nums_hiddens),
                sigmoid_output=protocol.sigmoid_output)
    net.initialize(ctx=devices, force_reinit=True,
                   init=mx.init.Normal(config.init_sigma))
    if not config.reference:
        net.hybridize()  # the same graph, compiled: about 1.7x faster
    loss = LOSSES[config.loss]()
    trainer = gluon.Trainer(net.collect_params(), config.optimizer,
                            {'learning_rate': config.lr, 'wd': config.wd})
    result = train_ranking(
        net, train_iter, data.test_iter, loss, trainer, None,
        data.num_users, data.num_items, config.num_epochs, devices,
        evaluator, data.candidates, eval_step=config.eval_step,
        protocol=protocol, progress=progress, plot=False)
    return net, result


def build_iterators(config, data, progress=False):
    """The training batches and the evaluator: fast, or the chapter's."""
    if config.reference:
        train_iter = make_train_iter(data, config.batch_size,
                                     config.num_workers)
        evaluator = functools.partial(
            evaluate_ranking, protocol=config.protocol, k=config.cutoff,
            progress=progress)
        evaluator.k = config.cutoff
        return train_iter, evaluator
    # One generator for the batches, seeded from the run's seed.
    rng = numpy.random.RandomState(config.seed)
    sampler = NegativeSampler(data.candidates, data.num_users,
                              data.num_items)
    train_iter = TripleBatches(data.users_train, data.items_train, sampler,
                               config.batch_size, rng, config.num_neg)
    evaluator = RankingEvaluator(config.protocol, config.k, config.eval,
                                 config.eval_negatives, seed=config.seed)
    return train_iter, evaluator


def write_outputs(record, out):
    """metrics.json and curves.png into folder `out`."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, 'metrics.json')
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(record, f, indent=2)
        f.write('\n')
    os.replace(tmp, path)
    config = record['config']
    save_curves(record['history'], os.path.join(out, 'curves.png'),
                title=f"NeuMF, {config['protocol']} protocol, on "
                      f"{', '.join(config['resolved_devices'])}, "
                      f"seed {config['seed']}")
