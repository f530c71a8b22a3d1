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

from . import numerics
from .config import TrainConfig, option, seed_everything
from .checkpoint import (CheckpointError, check_same_data, data_record,
                         holds_other_files, is_checkpoint, load_checkpoint,
                         restore, save_checkpoint)
from .data import load_dataset, make_train_iter
from .datasets import summary_line
from .devices import parse_devices
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


class UsageError(ValueError):
    """Settings that cannot work with this data; found before training."""


def train(config=None, out=None, progress=True, overwrite=False, save=None,
          resume=None):
    """Run the chapter's job with `config`; write `out`/metrics.json.

    With `save`, a checkpoint folder is written after every epoch
    (`checkpoint`); with `resume`, training continues from one (its
    settings must equal `config`'s but for the number of epochs).
    Returns the run's record (what metrics.json holds).
    """
    config = (config or TrainConfig()).validate()
    check_out_dir(out, overwrite)
    checkpoint = None
    if resume is not None:
        checkpoint = load_checkpoint(resume)
        check_resumable(checkpoint, config)
    if save is not None and holds_other_files(save):
        raise OutputExistsError(
            f'{save} holds files that are not a checkpoint; a checkpoint '
            f'replaces its whole folder, so choose an empty or new folder')
    if save is not None and not overwrite and is_checkpoint(save) and (
            resume is None
            or os.path.abspath(save) != os.path.abspath(resume)):
        raise OutputExistsError(
            f'{save} already holds a checkpoint; resume from it '
            f'(--resume {save}), choose another folder or pass --overwrite')
    devices = resolve_devices(config)
    data = load_data(config)
    print(summary_line(data.summary), file=sys.stderr)
    seed_everything(config.seed)
    # fit checks the settings against the data before any work
    net, result = fit(config, data, devices, progress, save=save,
                      checkpoint=checkpoint)
    record = {
        'config': dict(config_dict(config),
                       resolved_devices=[str(d) for d in devices],
                       resolved_data_dir=data.titles_dir and
                       os.path.abspath(data.titles_dir),
                       num_users=data.num_users, num_items=data.num_items,
                       num_train=len(data.users_train),
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
        write_outputs(record, out)
    return record


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


def fit(config, data, devices, progress=False, save=None, checkpoint=None):
    """Build NeuMF, its loss and trainer from `config`; train on `data`.

    Returns ``(net, result)`` with `result` as `train_ranking` returns it.
    Seed the generators first (`seed_everything`) for a repeatable run.
    `checkpoint` (as `load_checkpoint` returns it) continues a run; `save`
    names the folder for a checkpoint after every epoch.
    """
    check_fits_data(config, data)
    protocol = get_protocol(config.protocol)
    train_iter, evaluator = build_iterators(config, data, progress)
    net = build_net(config, data.num_users, data.num_items, devices)
    loss = LOSSES[config.loss]()
    trainer = gluon.Trainer(net.collect_params(), config.optimizer,
                            {'learning_rate': config.lr, 'wd': config.wd})
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
            save_checkpoint(save, net, trainer, saved_config, saved_data, {
                'epoch': epoch, 'history': history,
                'source': data.summary['source'],
                'sampler': (train_iter.get_state()
                            if hasattr(train_iter, 'get_state') else None)},
                average=averager.state() if averager else None)
    try:
        result = train_ranking(
            net, train_iter, data.test_iter, loss, trainer, None,
            data.num_users, data.num_items, config.num_epochs, devices,
            evaluator, data.candidates, eval_step=config.eval_step,
            protocol=protocol, progress=progress, plot=False,
            start_epoch=start_epoch, history=history, epoch_end=epoch_end,
            penalty=embedding_l2(config.reg) if config.reg else None,
            averager=averager)
    except (NonFiniteLossError, NonFiniteModelError) as err:
        raise type(err)(f'{err}. Settings that can make a run diverge: '
                        f'{divergence_settings(config)}') from None
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
