"""The ablation's recipes, chosen on a validation item per user.

Each user's test interaction is removed first (`ablation.
validation_data`), so the split of what is left holds out each user's
latest training interaction: the test item is never seen. Per family, a
small grid of learning rate and weight decay (and the initial scale for
the families with an MLP) is trained once (seed 0) for up to --epochs
epochs, with the full ranking of the validation items after every
epoch; the best (setting, epoch) by validation Hit@50 (then AUC) is the
family's recipe. neumf-pre then fine-tunes the chosen gmf and mlp with
plain SGD over a grid of learning rates:

    D2L_NCF_DATA_DIR=/work/shared/data/ml-100k python \\
        experiments/ablation_search.py --out docs/results/ablation_search.json
"""
import argparse
import dataclasses
import itertools
import json
import time

import d2l_ncf  # noqa: F401  (first: it fixes MXNet's CPU arithmetic)
from mxnet import autograd

from d2l_ncf.runs.ablation import model_config, train_model, validation_data
from d2l_ncf.runs.builders import resolve_devices, seed_everything
from d2l_ncf.callbacks import Callback
from d2l_ncf.evaluation import RankingEvaluator
from d2l_ncf.runs.records import versions

LRS, WDS, SIGMAS = (0.003, 0.01, 0.03), (0.0, 1e-5), (0.01, 0.1)
COLUMNS = ['epoch', 'hit_rate', 'auc', 'ndcg']  # of each run's curve
GRIDS = {
    'mf': [dict(lr=lr, wd=wd) for lr, wd in itertools.product(LRS, WDS)],
    'gmf': [dict(lr=lr, wd=wd) for lr, wd in itertools.product(LRS, WDS)],
    'mlp': [dict(lr=lr, wd=wd, init_sigma=s) for lr, wd, s in
            itertools.product(LRS, WDS, SIGMAS)],
    'neumf': [dict(lr=lr, wd=wd, init_sigma=s) for lr, wd, s in
              itertools.product(LRS, WDS, SIGMAS)],
    'neumf-pre': [dict(optimizer='sgd', lr=lr, wd=0.0)
                  for lr in (0.03, 0.1, 0.3, 1.0)],
}


class Validate(Callback):
    """Full-ranking Hit@50, AUC, NDCG@50 on the validation items after
    every epoch."""

    def __init__(self, data, devices):
        self.data, self.devices, self.curve = data, devices, []
        self.evaluator = RankingEvaluator('corrected', None, 'full')

    def on_train_begin(self, net, trainer, batches_per_epoch,
                       total_batches):
        self.net = net

    def on_epoch_end(self, epoch, history):
        d = self.data
        with autograd.predict_mode():
            m = self.evaluator(self.net, d.test_iter, None, d.candidates,
                               d.num_users, d.num_items, self.devices)
        self.curve.append(dict(m, epoch=epoch))


def best(curve):
    return max(curve, key=lambda r: (r['hit_rate'], r['auc']))


def search(model, data, devices, epochs, trained):
    runs = []
    for change in GRIDS[model]:
        config = dataclasses.replace(model_config(model, dict(
            change, num_epochs=epochs, devices=devices)), seed=0)
        seed_everything(0)
        check = Validate(data, resolve_devices(config))
        tic = time.perf_counter()
        net, _ = train_model(model, config, data, resolve_devices(config),
                             trained, [check])
        top = best(check.curve)
        runs.append({'settings': change, 'best': {
                         m: round(v, 4) if isinstance(v, float) else v
                         for m, v in top.items()},
                     'curve': [[r['epoch']] + [round(r[m], 4) for m in
                                               COLUMNS[1:]]
                               for r in check.curve],
                     'seconds': round(time.perf_counter() - tic, 1)})
        print(f'{model} {change}: best epoch {top["epoch"]} Hit@50 '
              f'{top["hit_rate"]:.4f} AUC {top["auc"]:.4f}', flush=True)
    chosen = max(runs, key=lambda r: (r['best']['hit_rate'],
                                      r['best']['auc']))
    recipe = dict(chosen['settings'], num_epochs=chosen['best']['epoch'])
    return runs, recipe


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-dir', default=None)
    parser.add_argument('--epochs', type=int, default=20)
    parser.add_argument('--devices', default='cpu')
    parser.add_argument('--out', default=None, help='JSON file to write')
    args = parser.parse_args(argv)
    data = validation_data(model_config('mf', {'data_dir': args.data_dir}))
    result, trained = {'runs': {}, 'recipes': {}}, {}
    for model in ('mf', 'gmf', 'mlp', 'neumf', 'neumf-pre'):
        runs, recipe = search(model, data, args.devices, args.epochs,
                              trained)
        result['runs'][model], result['recipes'][model] = runs, recipe
        print(f'{model}: recipe {recipe}', flush=True)
        if model in ('gmf', 'mlp'):  # neumf-pre starts from these
            config = dataclasses.replace(model_config(model, dict(
                recipe, devices=args.devices)), seed=0)
            seed_everything(0)
            trained[model], _ = train_model(
                model, config, data, resolve_devices(config))
    result.update(data=data.summary, epochs=args.epochs, seed=0,
                  curve_columns=COLUMNS,
                  criterion='validation Hit@50 (full ranking), then AUC',
                  versions=versions())
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
            f.write('\n')


if __name__ == '__main__':
    main()
