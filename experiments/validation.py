"""The recipe's --recency settings, judged on a validation item instead.

The recipe's settings were chosen on the test users. This script holds
out each user's test interaction (their latest) entirely, so the split of
what is left holds out each user's second-latest interaction: a
validation item the test never sees. It writes that data as a u.data
file and runs the recipe on it with several --recency settings:

    python experiments/validation.py --seed 0 \\
        --out docs/results/validation.json
"""
import argparse
import os

import numpy

from d2l_ncf.datasets.interactions import index_interactions, split_seq_aware
from d2l_ncf.datasets.movielens import DATASETS, UDATA, movielens_dir
from d2l_ncf.datasets.formats import read_interactions
from d2l_ncf.runs.records import versions

from recipe import RECIPE, run_quietly, write_json

# (--recency, --recency-tau); (0, 20) is the recipe without it
VARIANTS = [(0, 20), (3, 20), (5, 20), (10, 20), (5, 10), (5, 40)]


def without_recency(argv):
    """`argv` with its --recency and --recency-tau options removed."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ('--recency', '--recency-tau'):
            skip = True
        else:
            out.append(arg)
    return out


def write_validation_data(data_dir, folder):
    """u.data without each user's test interaction, into `folder`."""
    inter = index_interactions(read_interactions(
        os.path.join(data_dir, 'u.data'), UDATA))
    _, test_rows = split_seq_aware(inter)
    keep = numpy.ones(len(inter.users), dtype=bool)
    keep[test_rows] = False
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'u.data'), 'w') as f:
        for u, i, r, t in zip(inter.user_ids[inter.users[keep]],
                              inter.item_ids[inter.items[keep]],
                              inter.ratings[keep], inter.timestamps[keep]):
            f.write(f'{u}\t{i}\t{r:g}\t{t}\n')
    return int(keep.sum())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--data-dir', default=None)
    parser.add_argument('--workdir', default='runs/validation')
    parser.add_argument('--out', default=None, help='JSON file to write')
    args = parser.parse_args(argv)
    source = movielens_dir(DATASETS['ml-100k'], args.data_dir)
    folder = os.path.join(args.workdir, 'data')
    kept = write_validation_data(source, folder)
    print(f'{kept} interactions without the test items, in {folder}')
    base = without_recency(RECIPE)
    runs = []
    for strength, tau in VARIANTS:
        options = base + ['--recency', str(strength), '--recency-tau',
                          str(tau)]
        _, history = run_quietly(
            options, args.seed, f'{args.workdir}/recency{strength}-tau{tau}',
            folder)
        runs.append({'recency': strength, 'recency_tau': tau,
                     'history': history})
        print(f'--recency {strength} --recency-tau {tau}: validation '
              f'HR@10 {history[-1][0]:.4f} NDCG@10 {history[-1][1]:.4f}'
              f' after {len(history)} epochs')
    result = {'command': 'd2l-ncf train ' + ' '.join(base) + ' --recency A'
                         ' --recency-tau T --seed ' + str(args.seed),
              'data': f'{source}/u.data without each user\'s latest '
                      f'interaction ({kept} interactions)',
              'runs': runs, 'versions': versions()}
    if args.out:
        write_json(result, args.out)


if __name__ == '__main__':
    main()
