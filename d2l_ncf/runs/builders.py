"""From a config to the things a run trains: devices, data, the model
`config.model` names (NeuMF or a baseline), loss, trainer, batches,
evaluator and the loop's callbacks, each consistent with the config's
protocol (`build`)."""
import dataclasses
import random

from ..runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
import mxnet as mx
import numpy
from mxnet import gluon

from .. import chapter
from ..baselines import GMF, MF, MLP, Popularity, load_pretrained, row_l2
from ..callbacks import Averaging, Callback, Penalty
from ..data import load_dataset
from ..engine import sparse
from ..engine.averaging import WeightAverage
from ..engine.distributed import trainer_options
from ..engine.sampling import NegativeSampler, TripleBatches, recency_weights
from ..evaluation import RankingEvaluator, evaluate_ranking
from ..losses import LOSSES
from ..model import NeuMF, embedding_l2
from ..protocol import get_protocol
from ..runtime.devices import parse_devices


def seed_everything(seed):
    """Seed Python's, NumPy's and MXNet's generators (all contexts).

    Python's `random` draws the chapter's negatives, NumPy's shuffles the
    DataLoader, MXNet's initialises the parameters.
    """
    random.seed(seed)
    numpy.random.seed(seed)
    mx.random.seed(seed)


def resolve_devices(config):
    """The contexts to use, checked against the batch size."""
    devices = parse_devices(config.devices)
    if config.batch_size % len(devices):
        raise ValueError(
            f'batch_size {config.batch_size} does not split evenly over '
            f'{len(devices)} devices, as the chapter\'s split_and_load '
            f'needs; use a multiple of {len(devices)}')
    return devices


def load_data(config):
    """The data `config` names: MovieLens-100K, -1M, -20M, -25M or a
    CSV/TSV file."""
    return load_dataset(config.dataset, config.data_dir, config.data,
                        config.sep, config.columns)


def build_net(config, num_users, num_items, devices):
    """The model `config.model` names, initialised on `devices` (and
    hybridized): the chapter's NeuMF, or a baseline of `baselines`
    (neumf-pre is a NeuMF that `Pretrained` starts from its parts;
    popularity still needs its counts: `build` fits it). Under the book
    protocol NeuMF is the chapter's own class, an nn.Block as printed."""
    f, hiddens = config.num_factors, list(config.nums_hiddens)
    if config.protocol == 'book' and config.model == 'neumf':
        net = chapter.NeuMF(f, num_users, num_items, nums_hiddens=hiddens)
        net.initialize(ctx=devices, force_reinit=True,
                       init=mx.init.Normal(config.init_sigma))
        return net
    net = {'popularity': lambda: Popularity(num_items),
           'mf': lambda: MF(f, num_users, num_items),
           'gmf': lambda: GMF(f, num_users, num_items),
           'mlp': lambda: MLP(f, num_users, num_items, hiddens)}.get(
        config.model, lambda: NeuMF(
            f, num_users, num_items, nums_hiddens=hiddens,
            sigmoid_output=get_protocol(config.protocol).sigmoid_output))()
    if config.sparse:  # row-sparse gradients for P, Q, U and V
        sparse.use_row_sparse_grads(net)
    net.initialize(ctx=devices, force_reinit=True,
                   init=mx.init.Normal(config.init_sigma))
    if not config.reference and config.model != 'popularity':
        net.hybridize()  # the same graph, compiled: about 1.7x faster
    return net


class Pretrained(Callback):
    """Starts a NeuMF (neumf-pre) from a trained `gmf` and `mlp` as the
    loop begins (`baselines.load_pretrained`; NCF paper, 3.4.1)."""

    def __init__(self, gmf, mlp):
        self.gmf, self.mlp = gmf, mlp

    def on_train_begin(self, net, trainer, batches_per_epoch,
                       total_batches):
        load_pretrained(net, self.gmf, self.mlp)


def build_trainer(config, net, kvstore='device', global_rows=None):
    """gluon.Trainer with the config's optimizer; `kvstore` a name or a
    `distributed.Cluster`. With --sparse, the lazy trainer of `sparse`,
    told the rows of each global batch by `global_rows`."""
    params = {'learning_rate': config.lr, 'wd': config.wd}
    if config.sparse:
        return sparse.make_trainer(net, config.optimizer, params, kvstore,
                                   global_rows)
    return gluon.Trainer(net.collect_params(), config.optimizer, params,
                         **trainer_options(kvstore))


def build_iterators(config, data, progress=False):
    """The training batches and the evaluator: fast, or the chapter's."""
    if config.reference:  # the chapter's PRDataset, in its DataLoader
        train_iter = gluon.data.DataLoader(
            chapter.PRDataset(data.users_train, data.items_train,
                              data.candidates, data.num_items),
            config.batch_size, True, last_batch='rollover',
            num_workers=config.num_workers)
        return train_iter, build_evaluator(config, progress)
    # One generator for the batches, seeded from the run's seed.
    rng = numpy.random.RandomState(config.seed)
    sampler = NegativeSampler(data.candidates, data.num_users,
                              data.num_items)
    weights = (recency_weights(data.users_train, config.recency,
                               config.recency_tau)
               if config.recency else None)
    train_iter = TripleBatches(data.users_train, data.items_train, sampler,
                               config.batch_size, rng, config.num_neg,
                               weights)
    return train_iter, build_evaluator(config, progress)


def build_evaluator(config, progress=False):
    """The evaluator: `evaluation.RankingEvaluator`, or the chapter's
    `evaluate_ranking` (--reference), at the protocol's cut-off."""
    if config.reference and config.protocol == 'book':
        return chapter.evaluate_ranking
    if config.reference:
        def evaluator(*args):
            return evaluate_ranking(*args, protocol=config.protocol,
                                    k=config.k, progress=progress)
        return evaluator
    return RankingEvaluator(config.protocol, config.k, config.eval,
                            config.eval_negatives, seed=config.seed,
                            chunk_size=config.eval_chunk)


@dataclasses.dataclass
class Setup:
    """What one run trains with, built by `build`."""
    protocol: object
    net: object
    loss: object
    trainer: object
    train_iter: object
    evaluator: object
    averager: object  # a WeightAverage, or None
    callbacks: list  # for the loop, averager and penalty included


def build(config, data, devices, kvstore='device', progress=False):
    """The model `config.model` names, its loss, trainer, batches,
    evaluator and callbacks for `config` on `data`, consistent with
    `config.protocol`. Seed the generators first (`seed_everything`) for
    a repeatable run. Popularity comes fitted (it has nothing to train:
    no trainer)."""
    train_iter, evaluator = build_iterators(config, data, progress)
    global_rows = None
    if config.sparse:  # the global batches: which rows a step changes
        train_iter = global_rows = sparse.GlobalRows(train_iter)
    net = build_net(config, data.num_users, data.num_items, devices)
    if config.model == 'popularity':
        net.fit(data.items_train)
    averager = WeightAverage(net, config.ema) if config.ema else None
    l2 = embedding_l2 if isinstance(net, NeuMF) else row_l2
    callbacks = [Penalty(l2(config.reg)) if config.reg else None,
                 Averaging(averager) if averager is not None else None]
    trainer = (None if config.model == 'popularity' else
               build_trainer(config, net, kvstore, global_rows))
    return Setup(get_protocol(config.protocol), net, LOSSES[config.loss](),
                 trainer, train_iter, evaluator, averager,
                 [c for c in callbacks if c is not None])
