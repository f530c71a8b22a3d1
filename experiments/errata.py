"""Before/after figures for docs/ERRATA.md, on the real MovieLens-100K.

Trains the chapter's setup (book protocol) and the corrected one, each
with the chapter's hyper-parameters, 10 epochs, then scores each trained
net with both evaluators, so every defect's effect is measured apart:

    python experiments/errata.py --out docs/results/errata.json
"""
import argparse
import json
import os
import sys

from d2l_ncf import load_chapter_data
from d2l_ncf.runs.builders import resolve_devices, seed_everything
from d2l_ncf.runs.config import TrainConfig
from d2l_ncf.evaluation import RankingEvaluator
from d2l_ncf.runs.records import versions
from d2l_ncf.runs.run import fit, quietly


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-dir', default=None)
    parser.add_argument('--devices', default='cpu')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default=None, help='JSON file to write')
    args = parser.parse_args(argv)
    data = load_chapter_data(args.data_dir)
    evaluators = {
        'book evaluator (items < num_users, Hit@50)':
            RankingEvaluator('book'),
        'corrected evaluator (all items, Hit@50)':
            RankingEvaluator('corrected', k=50),
    }
    results = {}
    for protocol in ('book', 'corrected'):
        config = TrainConfig(protocol=protocol, devices=args.devices,
                             seed=args.seed).validate()
        seed_everything(args.seed)
        (net, result), printed = quietly(fit, config, data,
                                         resolve_devices(config))
        row = {'printed': printed,
               'loss_reported': result['loss'],
               'examples_per_sec_reported': result['examples_per_sec'],
               'examples_per_sec_measured': (
                   result['examples'] / result['train_seconds']),
               'train_seconds': result['train_seconds'],
               'history': result['history']}
        for name, evaluator in evaluators.items():
            row[name] = evaluator(net, data.test_iter, None,
                                  data.candidates, data.num_users,
                                  data.num_items, resolve_devices(config))
        results[protocol] = row
        print(json.dumps({protocol: {k: v for k, v in row.items()
                                     if k != 'history'}}, indent=1),
              flush=True)
    beyond = sum(1 for (i,) in data.test_iter.values()
                 if i >= data.num_users)
    results['test_items_beyond_num_users'] = beyond
    print('test items with id >= num_users:', beyond)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)),
                    exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump({'command': ' '.join(sys.argv), 'seed': args.seed,
                       'versions': versions(), 'results': results}, f,
                      indent=2)


if __name__ == '__main__':
    main()
