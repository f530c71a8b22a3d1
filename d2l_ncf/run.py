"""The chapter's main job: data, NeuMF, training; a record of the run."""
import contextlib
import dataclasses
import functools
import json
import os
import platform
import signal
import sys

import mxnet as mx
import numpy
from mxnet import gluon

from . import numerics, sparse
from .config import TrainConfig, option, seed_everything
from .checkpoint import (CheckpointError, SaveLock, check_same_data,
                         data_record, deferred_signals, is_checkpoint,
                         load_checkpoint, other_files,
                         restore, save_checkpoint)
from .data import load_dataset, make_train_iter
from .datasets import summary_line
from .devices import parse_devices
from .distributed import (DEFAULT_KVSTORE, Cluster, connect,
                          trainer_options)
from .losses import LOSSES
from .metrics import evaluate_ranking
from .averaging import WeightAverage
from .model import NeuMF, NonFiniteModelError, embedding_l2
from .plotting import save_curves
from .protocol import get_protocol
from .ranking import (RankingEvaluator, ranked_list_lengths,
                      undefined_metrics)
from .sampling import NegativeSampler, TripleBatches, recency_weights
from .training import NonFiniteLossError, train_ranking

OUTPUT_FILES = ('metrics.json', 'curves.png')


class OutputExistsError(FileExistsError):
    """The output folder already holds a run's files."""


class UsageError(ValueError):
    """Settings that cannot work with this data; found before training."""


def check_out_dir(out, overwrite=False, files=OUTPUT_FILES,
                  option='--out'):
    """Check that folder `out` can be written, before any work; refuse
    to write over an earlier run's `files` unless told to."""
    if out is None:
        return
    check_writable_folder(out, option)
    if overwrite:
        return
    taken = [f for f in files if os.path.exists(os.path.join(out, f))]
    if taken:
        raise OutputExistsError(
            f'{out} already holds {", ".join(taken)} from an earlier run; '
            f'choose another folder or pass --overwrite')


def check_writable_folder(path, option):
    """`path` is a folder, or can be made one, that we may write in."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f'{option} {path} is a file, not a folder; '
                         f'choose a folder (the file was not changed)')
    parent = os.path.abspath(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UsageError(f'{option} {path}: {parent} is a file, so no '
                         f'folder can be made there')
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f'{option} {path}: {parent} is not writable '
                         f'(permissions or a read-only file system)')


def check_save_dir(save, resume=None, overwrite=False):
    """Refuse, before any work, a --save folder that is a file, that
    holds anything but a checkpoint (whatever --overwrite says), or that
    holds another checkpoint without --overwrite."""
    if save is None:
        return
    if os.path.exists(save) and not os.path.isdir(save):
        raise UsageError(
            f'--save {save} is a file; a checkpoint is a folder: choose a '
            f'new or empty folder (the file was not changed)')
    check_writable_folder(save, '--save')
    try:
        others = other_files(save)
    except CheckpointError as err:  # a newer format version
        raise UsageError(f'--save {save}: {err}') from None
    if others:
        shown = ', '.join(others[:5]) + (', ...' if len(others) > 5 else '')
        raise UsageError(
            f'--save {save} holds files that are not a d2l_ncf checkpoint '
            f'({shown}); a checkpoint is written only into a new or empty '
            f'folder or over an earlier checkpoint, even with --overwrite: '
            f'choose another folder')
    if not overwrite and is_checkpoint(save) and (
            resume is None
            or os.path.abspath(save) != os.path.abspath(resume)):
        raise OutputExistsError(
            f'{save} already holds a checkpoint; resume from it '
            f'(--resume {save}), choose another folder or pass --overwrite')


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


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM, as the command line raises them."""

    def __init__(self, signum=signal.SIGINT):
        super().__init__(signum)
        self.signum = signum


class RunStopped(Exception):
    """A run stopped by a signal; the message says where and what is
    saved, `exit_code` is 128 + the signal number."""

    def __init__(self, message, signum):
        super().__init__(message)
        self.signum, self.exit_code = signum, 128 + signum


def train(config=None, out=None, progress=True, overwrite=False, save=None,
          resume=None, kvstore=DEFAULT_KVSTORE):
    """Run the chapter's job with `config`; write `out`/metrics.json.

    With `save`, a checkpoint folder is written after every epoch
    (`checkpoint`); with `resume`, training continues from one (its
    settings must equal `config`'s but for the number of epochs).
    Returns the run's record (what metrics.json holds). `kvstore` is
    gluon.Trainer's; with ``dist_*`` this process is one worker of a
    launched job (`distributed`), and only worker 0 writes files.
    """
    config = (config or TrainConfig()).validate()
    kvstore = connect(kvstore)  # dist_*: a Cluster, once the job is up
    if getattr(kvstore, 'rank', 0):
        out, save, progress = None, None, False
    check_out_dir(out, overwrite)
    check_save_dir(save, resume, overwrite)
    position = Position(save, resume)
    try:
        with (SaveLock(save) if save is not None
              else contextlib.nullcontext()):
            # again under the lock: a run that just finished may have
            # saved there since the first look
            check_save_dir(save, resume, overwrite)
            return _train(config, out, progress, save, resume, position,
                          kvstore)
    except KeyboardInterrupt as err:
        signum = getattr(err, 'signum', signal.SIGINT)
        raise RunStopped(position.describe(signum), signum) from None


def _train(config, out, progress, save, resume, position,
           kvstore=DEFAULT_KVSTORE):
    checkpoint = None
    if resume is not None:
        checkpoint = load_checkpoint(resume)
        check_resumable(checkpoint, config)
        position.saved = (resume, checkpoint['state']['epoch'])
    devices = resolve_devices(config)
    data = load_data(config)
    print(summary_line(data.summary), file=sys.stderr)
    seed_everything(config.seed)
    # fit checks the settings against the data before any work
    net, result = fit(config, data, devices, progress, save=save,
                      checkpoint=checkpoint, position=position,
                      kvstore=kvstore)
    record = {
        'config': dict(config_dict(config),
                       resolved_devices=[str(d) for d in devices],
                       resolved_data_dir=data.titles_dir and
                       os.path.abspath(data.titles_dir),
                       num_users=data.num_users, num_items=data.num_items,
                       num_train=len(data.users_train),
                       kvstore=str(kvstore),
                       workers=getattr(kvstore, 'num_workers', 1),
                       command=sys.argv),
        'data': data.summary,
        'versions': versions(),
        'numerics': numerics.record(),
        'history': result['history'],
        'final': {k: v for k, v in result.items() if k != 'history'},
    }
    if resume is not None:
        record['resumed_from'] = {'checkpoint': os.path.abspath(resume),
                                  'epoch': checkpoint['state']['epoch']}
    if out is not None:
        position.stage = 'writing --out'
        with deferred_signals():
            write_outputs(record, out)
    return record


class Position:
    """Where a run is (epoch, batch) and which checkpoint holds its last
    finished epoch: what a stopped run reports."""

    def __init__(self, save=None, resume=None):
        self.save, self.epoch, self.batch, self.batches = save, 0, 0, 0
        self.stage, self.saved = 'before training', None

    def describe(self, signum):
        name = signal.Signals(signum).name
        if self.stage == 'training':
            where = (f'in epoch {self.epoch}, batch {self.batch} of '
                     f'{self.batches}')
        elif self.stage == 'evaluating':
            where = f'in epoch {self.epoch}, after its batches'
        else:
            where = self.stage
        if self.saved is not None:
            folder, epoch = self.saved
            kept = (f'checkpoint {folder} holds epoch {epoch}; continue '
                    f'with --resume {folder}')
        elif self.save is not None:
            kept = f'no epoch finished, so {self.save} holds no checkpoint'
        else:
            kept = 'no checkpoint holds the finished epochs (no --save)'
        return f'stopped by {name} {where}; {kept}'


class _Counted:
    """Batches that tell a `Position` which epoch and batch is running."""

    def __init__(self, batches, position, start_epoch):
        self.batches, self.position = batches, position
        position.epoch = start_epoch

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        p = self.position
        p.epoch, p.batch, p.batches = p.epoch + 1, 0, len(self.batches)
        p.stage = 'training'
        for values in self.batches:
            p.batch += 1
            yield values
        p.stage = 'evaluating'


def load_data(config):
    """The data `config` names: MovieLens-100K, -1M or a CSV/TSV file."""
    return load_dataset(config.dataset, config.data_dir, config.data,
                        config.sep, config.columns)


def config_dict(config):
    """`config` as JSON types."""
    return dict(dataclasses.asdict(config),
                nums_hiddens=list(config.nums_hiddens),
                columns=list(config.columns))


def config_from_dict(saved):
    """The `TrainConfig` a checkpoint's config.json holds."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {k: v for k, v in saved.items() if k in names}
    values['nums_hiddens'] = tuple(values.get('nums_hiddens', ()))
    if 'columns' in values:
        values['columns'] = tuple(values['columns'])
    return TrainConfig(**values)


# Settings a resumed run may change: they do not alter the training.
RESUMABLE = ('num_epochs', 'eval_step', 'data_dir', 'data', 'num_workers',
             'eval_chunk')


def check_resumable(checkpoint, config):
    """Refuse to continue a checkpoint with other settings."""
    # a setting added after the checkpoint was written gets its default
    saved = config_dict(config_from_dict(checkpoint['config']))
    mine = config_dict(config)
    differ = [f'{k} {mine[k]!r} (checkpoint: {saved.get(k)!r})'
              for k in mine if k not in RESUMABLE and mine[k] != saved.get(k)]
    if differ:
        raise CheckpointError(
            f"{checkpoint['folder']} was trained with other settings: "
            f"{'; '.join(differ)}. A resumed run keeps the saved settings "
            f"(see its config.json); only --epochs may grow")
    done = checkpoint['state']['epoch']
    if config.num_epochs <= done:
        raise UsageError(
            f"{checkpoint['folder']} has trained {done} epochs already; "
            f"pass --epochs larger than {done} to continue")


def check_fits_data(config, data):
    """Settings that depend on the data's size, checked before training."""
    if config.k is not None and config.k > data.num_items:
        raise UsageError(f'--k {config.k} is larger than the '
                         f'{data.num_items} items of the data')
    if config.batch_size > len(data.users_train):
        raise UsageError(
            f'--batch-size {config.batch_size} is larger than the '
            f'{len(data.users_train)} training interactions: an epoch would '
            f'hold no batch')
    if config.protocol == 'book' and data.num_users > data.num_items:
        raise UsageError(
            f"the book protocol ranks the item indices below the number of "
            f"users, as the chapter's code does; this data has "
            f"{data.num_users} users but {data.num_items} items, so that "
            f"would index past the item table: use --protocol corrected")
    if config.eval == 'sampled':
        fewest = data.num_items - max(
            len(set(c)) + 1 for c in data.candidates.values())
        if fewest < config.eval_negatives:
            raise UsageError(
                f'--eval sampled needs {config.eval_negatives} unseen items '
                f'per user; some user has only {fewest} of the '
                f'{data.num_items} items unseen: lower --eval-negatives')
        if config.cutoff > config.eval_negatives:
            raise UsageError(
                f'--k {config.cutoff}{default_note(config)} is at or above '
                f'the {config.eval_negatives + 1} items of each sampled '
                f'list (--eval-negatives {config.eval_negatives} and the '
                f'held-out item): every hit would be certain; use --k '
                f'{config.eval_negatives} or less, or more --eval-negatives')
    else:
        check_full_ranking(config, data)
    if config.recency:
        try:
            recency_weights(data.users_train, config.recency,
                            config.recency_tau)
        except ValueError as err:
            raise UsageError(
                f'--recency {config.recency:g} (--recency-tau '
                f'{config.recency_tau:g}) is too large for this data: '
                f'{err}') from None


def default_note(config):
    return ' (the default)' if config.k is None else ''


def check_full_ranking(config, data):
    """Refuse a full ranking whose metrics are undefined or certain; under
    the book protocol, whose k = 50 is the chapter's, say so instead."""
    protocol = get_protocol(config.protocol)
    user_ids = sorted(data.test_iter)
    num_ranked = (data.num_items if protocol.rank_all_items
                  else data.num_users)
    lengths, listed = ranked_list_lengths(user_ids, data.candidates,
                                          data.test_iter, num_ranked)
    name = ((lambda u: str(data.user_ids[u])) if data.user_ids is not None
            else (lambda u: f'index {u}'))
    why = undefined_metrics(lengths, listed, config.cutoff,
                            protocol.fixed_k, user_ids, name,
                            f'--k {config.cutoff}{default_note(config)}')
    if why:
        raise UsageError(why)
    certain = numpy.count_nonzero(listed & (lengths <= config.cutoff))
    if protocol.fixed_k and certain:
        print(f'note: under the book protocol {certain} of {len(user_ids)} '
              f'users rank at most {config.cutoff} items (item indices '
              f'below the {data.num_users} users, as the chapter does), so '
              f'their hit is certain whenever their test item is ranked: '
              f'the chapter\'s fixed k = {config.cutoff}; --protocol '
              f'corrected --k K measures it', file=sys.stderr)


def fit(config, data, devices, progress=False, save=None, checkpoint=None,
        position=None, kvstore=DEFAULT_KVSTORE):
    """Build NeuMF, its loss and trainer from `config`; train on `data`.

    Returns ``(net, result)`` with `result` as `train_ranking` returns it.
    Seed the generators first (`seed_everything`) for a repeatable run.
    `checkpoint` (as `load_checkpoint` returns it) continues a run; `save`
    names the folder for a checkpoint after every epoch; `position` (a
    `Position`) is kept up to date with the epoch, batch and checkpoint.
    `kvstore`: a gluon kvstore name or a `distributed.Cluster` (this
    worker's part).
    """
    check_fits_data(config, data)
    protocol = get_protocol(config.protocol)
    train_iter, evaluator = build_iterators(config, data, progress)
    if config.sparse:  # the global batches: which rows a step changes
        train_iter = global_rows = sparse.GlobalRows(train_iter)
    cluster = kvstore if isinstance(kvstore, Cluster) else None
    if cluster is not None:
        train_iter = cluster.join(train_iter, config_dict(config), data,
                                  devices, checkpoint)
    net = build_net(config, data.num_users, data.num_items, devices)
    loss = LOSSES[config.loss]()
    if config.sparse:
        trainer = sparse.make_trainer(
            net, config.optimizer, {'learning_rate': config.lr,
                                    'wd': config.wd}, kvstore, global_rows)
    else:
        trainer = gluon.Trainer(net.collect_params(), config.optimizer,
                                {'learning_rate': config.lr, 'wd': config.wd},
                                **trainer_options(kvstore))
    averager = WeightAverage(net, config.ema) if config.ema else None
    start_epoch, history = 0, []
    if checkpoint is not None:
        check_same_data(checkpoint, data)
        restore(checkpoint, net, devices, trainer)
        if averager is not None:
            averager.load(checkpoint['average'])
        state = checkpoint['state']
        start_epoch, history = state['epoch'], state['history']
        if state.get('sampler') and hasattr(train_iter, 'set_state'):
            train_iter.set_state(state['sampler'])
        else:
            print("note: the chapter's DataLoader (--reference) keeps its "
                  "random state inside; the resumed run's negatives differ "
                  "from an uninterrupted run's", file=sys.stderr)
    epoch_end = None
    if save is not None:
        saved_config, saved_data = config_dict(config), data_record(data)

        def epoch_end(epoch, history):
            with deferred_signals():  # the position says what is saved
                _save(epoch, history)
                if position is not None:
                    position.saved = (save, epoch)
                    position.stage = f'after epoch {epoch}'

        def _save(epoch, history):
            save_checkpoint(save, net, trainer, saved_config, saved_data, {
                'epoch': epoch, 'history': history,
                'source': data.summary['source'],
                'sampler': (train_iter.get_state()
                            if hasattr(train_iter, 'get_state') else None)},
                average=averager.state() if averager else None)
    batches = (train_iter if position is None
               else _Counted(train_iter, position, start_epoch))
    try:
        result = train_ranking(
            net, batches, data.test_iter, loss, trainer, None,
            data.num_users, data.num_items, config.num_epochs, devices,
            evaluator, data.candidates, eval_step=config.eval_step,
            protocol=protocol, progress=progress, plot=False,
            start_epoch=start_epoch, history=history, epoch_end=epoch_end,
            penalty=embedding_l2(config.reg) if config.reg else None,
            averager=averager, cluster=cluster)
    except (NonFiniteLossError, NonFiniteModelError) as err:
        raise type(err)(f'{err}. Settings that can make a run diverge: '
                        f'{divergence_settings(config)}') from None
    if cluster is not None:
        cluster.finish()
    return net, result


def divergence_settings(config):
    """The options that can drive a loss or a weight to NaN or inf."""
    named = [('lr', config.lr), ('optimizer', config.optimizer),
             ('wd', config.wd), ('init_sigma', config.init_sigma),
             ('loss', config.loss)]
    named += [(n, getattr(config, n)) for n in ('reg', 'recency')
              if getattr(config, n)]
    if config.recency:
        named.append(('recency_tau', config.recency_tau))
    return ', '.join(f'{option(n)} {v:g}' if isinstance(v, float)
                     else f'{option(n)} {v}' for n, v in named)


def build_net(config, num_users, num_items, devices):
    """NeuMF as `config` describes it, initialised (and hybridized)."""
    net = NeuMF(config.num_factors, num_users, num_items,
                nums_hiddens=list(config.nums_hiddens),
                sigmoid_output=get_protocol(config.protocol).sigmoid_output)
    if config.sparse:
        sparse.use_row_sparse_grads(net)
    net.initialize(ctx=devices, force_reinit=True,
                   init=mx.init.Normal(config.init_sigma))
    if not config.reference:
        net.hybridize()  # the same graph, compiled: about 1.7x faster
    return net


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
    weights = (recency_weights(data.users_train, config.recency,
                               config.recency_tau)
               if config.recency else None)
    train_iter = TripleBatches(data.users_train, data.items_train, sampler,
                               config.batch_size, rng, config.num_neg,
                               weights)
    evaluator = RankingEvaluator(config.protocol, config.k, config.eval,
                                 config.eval_negatives, seed=config.seed,
                                 chunk_size=config.eval_chunk)
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
