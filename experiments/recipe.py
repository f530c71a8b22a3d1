"""The sampled-evaluation recipe of README.md, over several seeds.

Runs ``d2l-ncf train`` with the recipe's options once per seed, in this
process, and writes each run's history with the mean and standard
deviation of the final and the best epoch:

    python experiments/recipe.py --seeds 0 1 2 \\
        --out docs/results/recipe.json
"""
import argparse
import json
import sys

from d2l_ncf import cli

from d2l_ncf.runtime import numerics
from d2l_ncf.runs.records import versions
from d2l_ncf.runs.run import quietly
from d2l_ncf.runs.sweep import mean_sd

RECIPE = ['--protocol', 'corrected', '--eval', 'sampled', '--loss', 'log',
          '--num-neg', '16', '--num-factors', '64', '--hiddens', '64', '32',
          '16', '--lr', '0.002', '--batch-size', '1024', '--wd', '0',
          '--reg', '0.001', '--recency', '5', '--recency-tau', '10',
          '--epochs', '14', '--devices', 'cpu']


def summary(values):
    """The package's one summary (`sweep.mean_sd`): one seed has no sd."""
    mean, sd = mean_sd(values)
    return {'mean': mean, 'sd': sd, 'values': values}


def run_quietly(options, seed, out, data_dir=None):
    """`d2l-ncf train` with `options` and `seed` into `out`, its printed
    lines kept; returns them and (HR@10, NDCG@10) after each epoch."""
    argv = ['train'] + options + ['--seed', str(seed), '--out', out,
                                  '--overwrite', '--no-progress']
    if data_dir:
        argv += ['--data-dir', data_dir]
    code, printed = quietly(cli.main, argv)
    if code:
        sys.exit(code)
    with open(f'{out}/metrics.json') as f:
        record = json.load(f)
    history = [(r['hit_rate'], r['ndcg']) for r in record['history']]
    return printed, history


def write_json(result, path):
    with open(path, 'w') as f:
        json.dump(result, f, indent=2)
        f.write('\n')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--data-dir', default=None)
    parser.add_argument('--workdir', default='runs/recipe')
    parser.add_argument('--out', default=None, help='JSON file to write')
    args = parser.parse_args(argv)
    runs = {}
    for seed in args.seeds:
        lines, history = run_quietly(
            RECIPE, seed, f'{args.workdir}/seed{seed}', args.data_dir)
        best = max(range(len(history)), key=lambda e: history[e])
        runs[seed] = {'lines': lines,
                      'history': history, 'best_epoch': best + 1}
        print(f'seed {seed}: final HR@10 {history[-1][0]:.4f} NDCG@10 '
              f'{history[-1][1]:.4f}; best epoch {best + 1}: '
              f'{history[best][0]:.4f} / {history[best][1]:.4f}')
    result = {
        'command': 'd2l-ncf train ' + ' '.join(RECIPE) + ' --seed SEED',
        'runs': runs,
        'final': {m: summary([r['history'][-1][j] for r in runs.values()])
                  for j, m in enumerate(('hit_rate', 'ndcg'))},
        'best_epoch': {
            m: summary([r['history'][r['best_epoch'] - 1][j]
                        for r in runs.values()])
            for j, m in enumerate(('hit_rate', 'ndcg'))},
        'versions': versions(),
        'numerics': numerics.record(),
    }
    for part in ('final', 'best_epoch'):
        print(f'{part}: ' + ', '.join(
            f"{name} {result[part][m]['mean']:.3f}" + (
                f" ± {result[part][m]['sd']:.3f}"
                if result[part][m]['sd'] is not None else ' (n=1)')
            for name, m in (('HR@10', 'hit_rate'), ('NDCG@10', 'ndcg'))))
    if args.out:
        write_json(result, args.out)


if __name__ == '__main__':
    main()
