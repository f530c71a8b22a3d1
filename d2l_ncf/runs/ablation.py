"""What each part of NeuMF buys: ``d2l-ncf ablation`` (issue 25).

Trains each model of `MODELS` once per seed with its family's recipe
(`RECIPES`), evaluates it with the full ranking (Hit@50, AUC, NDCG@50)
and the sampled one (HR@10, NDCG@10 among 99 negatives), both under the
corrected protocol, and writes ablation.json (a row per model x
evaluation x seed), ablation.md, ablation.csv (mean and sd over the
seeds) and ablation.png to ``--out`` (`ablation_report`).

Each model is trained from its seed alone (the generators are seeded
before each), so its rows do not depend on which other models ran; the
models of a seed are ranked against the same sampled negatives.
"""
import dataclasses
import signal
import sys
import time

from ..runtime import _mxnet  # noqa: F401  (first: MXNet's NumPy interface)
import mxnet as mx
import numpy
from mxnet import autograd

from ..baselines import GMF, MF, MLP, Popularity, load_pretrained, row_l2
from ..callbacks import Averaging, Callback, penalty_of, Penalty
from ..data import build_chapter_data, locate_ratings
from ..datasets.interactions import index_interactions, split_seq_aware
from ..datasets.formats import read_interactions
from ..engine.averaging import WeightAverage
from ..evaluation import RankingEvaluator
from ..losses import LOSSES
from ..model import NeuMF
from ..protocol import CORRECTED, EVALS
from ..runtime import numerics
from ..runtime.progress import bar
from ..corrected import train_ranking
from .ablation_report import summarise, write_report
from .builders import (build_iterators, build_trainer, load_data,
                       resolve_devices, seed_everything)
from .checks import UsageError, check_fits_data
from .config import TrainConfig, config_dict, option
from .exercises import distinct_seeds
from .questions import ABLATION_MODELS as MODELS
from .questions import CHOSEN_BY, RECIPES, REFUSED
from .records import check_out_dir, versions
from .run import RunStopped, quietly

OUTPUTS = ('ablation.json', 'ablation.md', 'ablation.csv', 'ablation.png')


def check_models(models):
    """`models` in `MODELS`' order, each once; an unknown name is a
    usage error naming the choices."""
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise UsageError(f'unknown model {unknown[0]!r}: expected one of '
                         f'{", ".join(MODELS)}')
    repeated = sorted({m for m in models if list(models).count(m) > 1})
    if repeated:
        print(f'note: model(s) {", ".join(repeated)} given more than once; '
              f'each model is trained once per seed', file=sys.stderr)
    return [m for m in MODELS if m in models]


def model_config(model, settings=None):
    """The `TrainConfig` of `model`: the corrected protocol, its family's
    recipe, then `settings` (config fields a user gave) on top."""
    settings = dict(settings or {})
    for name in settings:
        if name in REFUSED and settings[name] != getattr(
                TrainConfig(protocol=CORRECTED.name), name):
            raise UsageError(f'{option(name)}: {REFUSED[name]}')
    config = dataclasses.replace(TrainConfig(protocol=CORRECTED.name),
                                 **RECIPES[model])
    return dataclasses.replace(config, **settings).validate()


def needed(models):
    """The models to train: `models`, and gmf and mlp for neumf-pre."""
    extra = ['gmf', 'mlp'] if 'neumf-pre' in models else []
    return [m for m in MODELS if m in models or m in extra]


def run_ablation(models=MODELS, seeds=(0, 1, 2), out=None, progress=True,
                 overwrite=False, evals=EVALS, data=None, **settings):
    """Train and evaluate `models` once per seed; return the rows.

    `settings` are `TrainConfig` fields applied to every model over its
    recipe (e.g. ``num_epochs=2, devices='cpu', data_dir=...``); `data`
    (as `builders.load_data` gives it) replaces the data the settings
    name. With `out`, the report is written there after every seed.
    Each row: ``model``, ``eval``, ``seed``, ``k``, the metrics as
    metrics.json names them, ``tie_share``, the final training ``loss``
    and seconds.
    """
    tic = time.perf_counter()
    models, seeds = check_models(models), distinct_seeds(tuple(seeds))
    if not models:
        raise UsageError(f'no model: expected some of {", ".join(MODELS)}')
    evals = [e for e in EVALS if e in evals]
    if not evals:
        raise UsageError(f'--evals: expected some of {", ".join(EVALS)}')
    check_out_dir(out, overwrite, OUTPUTS)
    configs = {m: model_config(m, settings) for m in needed(models)}
    devices = resolve_devices(configs[models[0]])
    data = data if data is not None else load_data(configs[models[0]])
    for model, config in configs.items():
        for e in evals:  # popularity has no batches
            try:
                check_fits_data(dataclasses.replace(config, eval=e, **(
                    {'batch_size': 1} if model == 'popularity' else {})),
                    data)
            except UsageError as err:  # advice the ablation can take
                raise UsageError(
                    f'{err}. The ablation keeps each evaluation\'s cut-off '
                    f'(k = {dataclasses.replace(config, eval=e).cutoff} '
                    f'for {e}); on this data leave that evaluation out: '
                    f'--evals {" ".join(x for x in evals if x != e) or "..."}'
                    ) from None
    epochs = len(seeds) * sum(
        c.num_epochs for m, c in configs.items() if m != 'popularity')
    epoch_bar = bar(total=epochs, enabled=progress, desc='ablation',
                    unit='epoch')
    rows = []
    try:
        for seed in seeds:
            rows += run_seed(models, seed, configs, data, devices, evals,
                             epoch_bar)
            if out is not None:  # after each seed: a stop keeps them
                info = report_info(models, seeds, evals, configs, settings,
                                   data, devices, time.perf_counter() - tic)
                done = list(dict.fromkeys(r['seed'] for r in rows))
                info.update(finished_seeds=done,
                            complete=len(done) == len(seeds))
                write_report(out, rows, info)
    except KeyboardInterrupt as err:  # SIGINT, SIGTERM
        signum = getattr(err, 'signum', signal.SIGINT)
        kept = (f'the finished seeds are in {out}' if rows and out
                else 'no seed had finished' if not rows else
                'no --out was given')
        raise RunStopped(f'stopped by {signal.Signals(signum).name}; '
                         f'{kept}', signum) from None
    finally:
        epoch_bar.close()
    return rows


def run_seed(models, seed, configs, data, devices, evals, epoch_bar):
    """The rows of one seed: each model trained, then evaluated."""
    evaluators = {e: RankingEvaluator(
        CORRECTED, None, e, configs[models[0]].eval_negatives, seed=seed,
        chunk_size=configs[models[0]].eval_chunk) for e in evals}
    trained, rows = {}, []
    for model in needed(models):
        config = dataclasses.replace(configs[model], seed=seed)
        seed_everything(seed)
        label = EpochLabel(epoch_bar, model, seed)
        net, result = train_model(model, config, data, devices, trained,
                                  [label])
        trained[model] = net
        if model not in models:
            continue
        for e, evaluator in evaluators.items():
            rows.append(dict({'model': model, 'eval': e, 'seed': seed},
                             **evaluate(net, evaluator, data, devices),
                             loss=result.get('loss'),
                             train_seconds=result.get('train_seconds', 0.0)))
    return rows


def evaluate(net, evaluator, data, devices):
    """`evaluator`'s metrics of `net` on the test items, with its k, the
    share of test items tied with another listed item (counted in
    expectation) and the seconds it took."""
    tic = time.perf_counter()
    with autograd.predict_mode():
        metrics = evaluator(net, data.test_iter, None, data.candidates,
                            data.num_users, data.num_items, devices)
    return dict({'k': evaluator.k}, **{m: float(v) for m, v in
                                       metrics.items()},
                tie_share=metrics.tie_share,
                num_test=metrics.ties[1] if metrics.ties else None,
                eval_seconds=time.perf_counter() - tic)


def build_model(model, config, data, devices, trained=None):
    """`model`'s network for `config`, initialised on `devices` (and
    hybridized). neumf-pre takes its weights from ``trained['gmf']`` and
    ``trained['mlp']``; popularity counts the training items."""
    n_users, n_items = data.num_users, data.num_items
    factors, hiddens = config.num_factors, list(config.nums_hiddens)
    net = {'popularity': lambda: Popularity(n_items),
           'mf': lambda: MF(factors, n_users, n_items),
           'gmf': lambda: GMF(factors, n_users, n_items),
           'mlp': lambda: MLP(factors, n_users, n_items, hiddens)}.get(
        model, lambda: NeuMF(factors, n_users, n_items, hiddens,
                             sigmoid_output=False))()
    net.initialize(ctx=devices, force_reinit=True,
                   init=mx.init.Normal(config.init_sigma))
    if model == 'popularity':
        net.fit(data.items_train)
    if model == 'neumf-pre':
        load_pretrained(net, trained['gmf'], trained['mlp'])
    if model != 'popularity':  # it has nothing to compile
        net.hybridize()
    return net


def train_model(model, config, data, devices, trained=None, callbacks=()):
    """Build `model` and train it with the chapter's loop (corrected
    protocol) for `config.num_epochs`; returns ``(net, result)`` with
    `result` as `training.train_ranking` returns it ({} for popularity).
    The loop evaluates nothing: `evaluate` does, afterwards."""
    net = build_model(model, config, data, devices, trained)
    if model == 'popularity':
        return net, {}
    train_iter, _ = build_iterators(config, data)
    averager = WeightAverage(net, config.ema) if config.ema else None
    hooks = [Penalty(row_l2(config.reg)) if config.reg else None,
             Averaging(averager) if averager else None] + list(callbacks)
    hooks = [h for h in hooks if h is not None]
    result, _ = quietly(
        train_ranking, net, train_iter, data.test_iter,
        LOSSES[config.loss](), build_trainer(config, net), None,
        data.num_users, data.num_items, config.num_epochs, devices, None,
        data.candidates, eval_step=config.num_epochs + 1,
        callbacks=[h for h in hooks if not hasattr(h, 'penalty')],
        penalty=penalty_of(hooks))
    if averager is not None and averager.shadow is not None:
        # the average becomes the model, as train evaluates and saves it
        for average, param in zip(averager.shadow, averager.params):
            param.set_data(average)
    return net, result


def validation_data(config):
    """The data `config` names without each user's test interaction:
    split again, each user's latest training interaction becomes its
    held-out item. What the recipes were tuned on; the test item never
    enters it."""
    path, fmt, folder = locate_ratings(config.dataset, config.data_dir,
                                       config.data, config.sep,
                                       config.columns)
    inter = index_interactions(read_interactions(path, fmt))
    keep = numpy.ones(len(inter.users), dtype=bool)
    keep[split_seq_aware(inter)[1]] = False
    inter = dataclasses.replace(
        inter, users=inter.users[keep], items=inter.items[keep],
        ratings=inter.ratings[keep], timestamps=inter.timestamps[keep],
        summary=dict(inter.summary, interactions=int(keep.sum()),
                     validation='each user\'s test interaction removed'))
    return build_chapter_data(inter, folder)


class EpochLabel(Callback):
    """Moves the job's bar one step per epoch, naming model and seed."""

    def __init__(self, epoch_bar, model, seed):
        self.bar, self.model, self.seed = epoch_bar, model, seed

    def on_epoch_end(self, epoch, history):
        self.bar.update()
        self.bar.set_postfix(model=self.model, seed=self.seed, epoch=epoch,
                             loss=f'{history[-1]["loss"]:.3f}')


def report_info(models, seeds, evals, configs, settings, data, devices,
                seconds):
    """What ablation.json holds beside the rows."""
    return {
        'command': sys.argv, 'models': list(models), 'seeds': list(seeds),
        'evals': list(evals), 'recipes': RECIPES, 'chosen_by': CHOSEN_BY,
        'overrides': {k: (list(v) if isinstance(v, tuple) else v)
                      for k, v in settings.items()},
        'settings': {m: config_dict(c) for m, c in configs.items()},
        'pretraining': {'model': 'neumf-pre', 'from': ['gmf', 'mlp'],
                        'alpha': 0.5},
        'data': data.summary, 'devices': [str(d) for d in devices],
        'versions': versions(), 'numerics': numerics.record(),
        'wall_seconds': seconds}


def main_ablation(args, settings):
    """``d2l-ncf ablation``: the job, then its table on stdout."""
    from .ablation_report import markdown
    rows = run_ablation(args.models, args.seeds, args.out,
                        not args.no_progress, args.overwrite, args.evals,
                        **settings)
    print(markdown(summarise(rows)), end='')
