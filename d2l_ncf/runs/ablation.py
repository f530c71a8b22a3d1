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

import numpy

from ..callbacks import Callback
from ..data import build_chapter_data, locate_ratings
from ..datasets.interactions import index_interactions, split_seq_aware
from ..datasets.formats import read_interactions
from ..protocol import EVALS
from ..runtime import numerics
from ..runtime.progress import bar
from .ablation_report import markdown, report_files, summarise
from .builders import (Pretrained, build, build_evaluator, load_data,
                       resolve_devices, seed_everything)
from .config import (MODELS, UsageError, check_fits_data, check_memory,
                     config_dict)
from .questions import CHOSEN_BY, RECIPES, check_models, model_config
from .records import check_out_dir, release_out, versions
from ..runtime.stopping import RunStopped
from .sweep import SweepFailed, check_out, check_seeds, fit_one, write_report

OUTPUTS = ('ablation.json', 'ablation.md', 'ablation.csv', 'ablation.png')


def needed(models):
    """The models to train: `models`, and gmf and mlp for neumf-pre."""
    extra = ['gmf', 'mlp'] if 'neumf-pre' in models else []
    return [m for m in MODELS if m in models or m in extra]


def run_ablation(models=MODELS, seeds=(0, 1, 2), out=None, progress=True,
                 overwrite=False, evals=EVALS, data=None, **settings):
    """Train and evaluate `models` once per seed; return the rows.

    `settings` are `TrainConfig` fields applied to every model over its
    recipe (e.g. ``num_epochs=2, devices='cpu', data_dir=...``); `data`
    is a CSV/TSV file of interactions (as ``--data``) or data as
    `builders.load_data` gives it. With `out`, the report is written
    there after every seed. Each row: ``model``, ``eval``, ``seed``,
    ``k``, the metrics as metrics.json names them, ``tie_share``, the
    final training ``loss`` and seconds.
    """
    tic = time.perf_counter()
    models, seeds = check_models(models), check_seeds(seeds)
    evals = [evals] if isinstance(evals, str) else list(evals)
    if not evals or any(e not in EVALS for e in evals):
        raise UsageError(f'--evals {evals!r}: expected some of '
                         f'{", ".join(EVALS)}')
    evals = [e for e in EVALS if e in evals]
    if isinstance(data, (str, bytes)) or hasattr(data, '__fspath__'):
        data, settings = None, dict(settings, data=str(data))
    elif data is not None and not hasattr(data, 'num_users'):
        raise UsageError(f'data: expected a file of interactions (a path) '
                         f'or data from builders.load_data, got '
                         f'{type(data).__name__}')
    check_out(out)
    check_out_dir(out, overwrite, OUTPUTS)
    configs = {m: model_config(m, settings) for m in needed(models)}
    devices = resolve_devices(configs[models[0]])
    data = data if data is not None else load_data(configs[models[0]])
    for model in configs:
        check_fits(configs[model], data, evals)
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
                write_report(out, report_files(rows, info), rows,
                             f'rows of seeds {" ".join(map(str, done))}')
    except KeyboardInterrupt as err:  # SIGINT, SIGTERM
        signum = getattr(err, 'signum', signal.SIGINT)
        kept = (f'the finished seeds are in {out}' if rows and out
                else 'no seed had finished' if not rows else
                'no --out was given')
        raise RunStopped(f'stopped by {signal.Signals(signum).name}; '
                         f'{kept}', signum) from None
    finally:
        epoch_bar.close()
        release_out(out)  # another run may have the folder now
    return rows


def check_fits(config, data, evals):
    """Refuse a model whose settings this data cannot take, before any
    work, saying what would help: an evaluation left out only when that
    is what fails, else that the data is too small, else the refusal."""
    check_memory(config, data.num_users, data.num_items)
    errors = {}
    for e in EVALS:
        try:
            check_fits_data(dataclasses.replace(config, eval=e), data, False)
        except UsageError as err:
            errors[e] = str(err)
    failed = [e for e in evals if e in errors]
    if not failed:
        return
    message = errors[failed[0]]
    if len(set(errors.values())) == 1 and len(errors) == len(EVALS):
        raise UsageError(message)  # not the evaluation's: the batch size
    works = [e for e in evals if e not in errors]
    if works:
        raise UsageError(
            f'{message}. The ablation keeps each evaluation\'s cut-off (k '
            f'= {dataclasses.replace(config, eval=failed[0]).cutoff} for '
            f'{failed[0]}); on this data leave that evaluation out: '
            f'--evals {" ".join(works)}')
    raise UsageError(
        f'{message}. This data is too small for the ablation\'s '
        f'evaluations ({data.num_items} items; each keeps its cut-off: '
        + ', '.join(f'k = {dataclasses.replace(config, eval=e).cutoff} '
                    f'{e}' for e in failed) + '): use a larger data set')


def run_seed(models, seed, configs, data, devices, evals, epoch_bar):
    """The rows of one seed: each model trained (`sweep.fit_one`), and
    evaluated by each of `evals` after its last epoch."""
    trained, rows = {}, []
    for model in needed(models):
        config = dataclasses.replace(configs[model], seed=seed,
                                     eval=evals[0])
        config = dataclasses.replace(config, eval_step=config.num_epochs)
        evaluations = Evaluations(
            {e: build_evaluator(dataclasses.replace(config, eval=e))
             for e in evals}, data, devices)
        if model == 'popularity':  # nothing to train
            seed_everything(seed)
            net, result = build(config, data, devices).net, {}
            evaluations.net = net
            evaluations.on_evaluate(None, None)
        else:
            net, result = train_model(
                model, config, data, devices, trained,
                [EpochLabel(epoch_bar, model, seed), evaluations])
            evaluations.keep_evaluated_weights()
        trained[model] = net
        if model in models:
            rows += [dict({'model': model, 'eval': e, 'seed': seed},
                          **evaluations.rows[e], loss=result.get('loss'),
                          train_seconds=result.get('train_seconds', 0.0))
                     for e in evals]
    return rows


def train_model(model, config, data, devices, trained=None, callbacks=()):
    """`model` trained for `config` (`sweep.fit_one`): ``(net, result)``;
    neumf-pre starts from ``trained['gmf']`` and ``trained['mlp']``."""
    config = dataclasses.replace(config, model=model)
    if model == 'neumf-pre':
        callbacks = [Pretrained(trained['gmf'], trained['mlp'])] + list(
            callbacks)
    return fit_one(config, data, devices, callbacks,
                   f'{model}, seed {config.seed}')


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


class Evaluations(Callback):
    """Each evaluator's row for the net at the loop's evaluation, with
    the weights it evaluates (e.g. the moving average): its k, metrics,
    the share of test items tied (in expectation), their number, seconds;
    the sampled one notes its negatives."""

    def __init__(self, evaluators, data, devices):
        self.evaluators, self.data, self.devices = evaluators, data, devices
        self.rows, self.kept = {}, None

    def on_train_begin(self, net, trainer, batches_per_epoch,
                       total_batches):
        self.net = net

    def on_evaluate(self, epoch, metrics):
        from mxnet import autograd
        d = self.data
        for e, evaluator in self.evaluators.items():
            tic = time.perf_counter()
            with autograd.predict_mode():
                m = evaluator(self.net, d.test_iter, None, d.candidates,
                              d.num_users, d.num_items, self.devices)
            self.rows[e] = dict(
                {'k': evaluator.k}, **{n: float(v) for n, v in m.items()},
                tie_share=m.tie_share,
                num_test=m.ties[1] if m.ties else None,
                eval_seconds=time.perf_counter() - tic,
                **({'negatives': evaluator.num_neg} if e == 'sampled'
                   else {}))
        self.kept = [p.data().copy()
                        for p in self.net.collect_params().values()]

    def keep_evaluated_weights(self):
        """The weights evaluated become the net's (an average, if any), as
        `train` evaluates and saves them: neumf-pre starts from them."""
        for p, w in zip(self.net.collect_params().values(), self.kept):
            p.set_data(w)


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
    """``d2l-ncf ablation``: the job, then its table on stdout (the
    finished seeds' table too when the report cannot be written)."""
    try:
        rows = run_ablation(args.models, args.seeds, args.out,
                            not args.no_progress, args.overwrite, args.evals,
                            **settings)
    except SweepFailed as err:
        if err.rows:
            print(markdown(summarise(err.rows)), end='')
        raise
    print(markdown(summarise(rows)), end='')
