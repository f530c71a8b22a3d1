"""The full ranking's metrics with ties in expectation, against the rule
they replace (ties by item id), side by side in one process.

Issue 23 asked that counting ties in expectation leave the full ranking
at ML-100K and at MovieLens-20M's shape no slower than before by more
than 10%. Scoring the pairs is the same code either way, so this times
what changed: `metrics.full_ranking_metrics` on a chunk of scores, as
`RankingEvaluator` calls it, against the version before the change
(`by_id_before`, kept below as it was). Two shapes:

- ML-100K: all 943 users x 1,682 items, one chunk;
- ML-20M's shape: chunks of 156 users x 26,744 items (the evaluator's
  chunk of at most 1 << 22 pairs), 138,493 users in all: timed on
  `--chunks` chunks and scaled to the whole.

Each seen list and held-out item is drawn at random with the real data
sets' mean list lengths (106 and 144 training items per user); scores
are random floats (few ties: the common case) and, as a second case,
all equal (every item tied: the dead model). Alternating old and new
`--repeats` times, the median of each is kept::

    python benchmarks/bench_ties.py --out benchmarks/ties.json
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from common import machine  # noqa: E402
from d2l_ncf.metrics import full_ranking_metrics, held_out_pairs  # noqa


def by_id_before(scores, user_ids, candidates, test_input, num_ranked, k):
    """The full ranking's metrics before issue 23 (ties by item id), as
    d2l_ncf/metrics.py had them: the yardstick."""
    num_rows = len(user_ids)
    ranked = numpy.ones((num_rows, num_ranked), dtype=bool)
    for r, u in enumerate(user_ids):
        seen = numpy.asarray(candidates.get(u, []), dtype=numpy.int64)
        ranked[r, seen[seen < num_ranked]] = False
    sub = scores[:, :num_ranked]
    rows, items = held_out_pairs(test_input, user_ids)
    listed = items < num_ranked
    listed[listed] &= ranked[rows[listed], items[listed]]
    ids = numpy.arange(num_ranked)
    length = ranked.sum(axis=1)
    hits = numpy.zeros(num_rows)
    auc = numpy.zeros(num_rows)
    dcg = numpy.zeros(num_rows)
    first = numpy.full(num_rows, numpy.iinfo(numpy.int64).max)
    for j in numpy.flatnonzero(listed):
        r, g = rows[j], items[j]
        s = sub[r]
        ahead = (s > s[g]) | ((s == s[g]) & (ids < g))
        p = numpy.count_nonzero(ahead & ranked[r])
        if p < k:
            hits[r] += 1
            dcg[r] += 1.0 / math.log2(p + 2)
        first[r] = min(first[r], p)
    found = first < numpy.iinfo(numpy.int64).max
    denom = numpy.maximum(length - 1, 1)
    auc[found] = (length[found] - 1 - first[found]) / denom[found]
    auc[found & (length < 2)] = numpy.nan
    num_test = numpy.bincount(rows, minlength=num_rows)
    ideal = numpy.array([sum(1.0 / math.log2(i + 2)
                             for i in range(min(n, k))) for n in num_test])
    ndcg = numpy.divide(dcg, ideal, out=numpy.zeros(num_rows),
                        where=ideal > 0)
    return hits, auc, ndcg


def chunk(rng, num_users, num_items, seen_per_user, tied):
    """One chunk of scores with its users' seen and held-out items."""
    scores = (numpy.zeros((num_users, num_items), numpy.float32) if tied
              else rng.standard_normal((num_users, num_items))
              .astype(numpy.float32))
    candidates, test_input = {}, {}
    for u in range(num_users):
        picked = rng.choice(num_items, seen_per_user + 1, replace=False)
        candidates[u] = picked[1:].tolist()
        test_input[u] = [int(picked[0])]
    return scores, list(range(num_users)), candidates, test_input, num_items


def time_pair(args, k, repeats):
    """Median seconds of the old and the new metrics on one chunk,
    alternating; and whether they agree where no score ties."""
    old, new = [], []
    for _ in range(repeats):
        tic = time.perf_counter()
        before = by_id_before(*args, k)
        old.append(time.perf_counter() - tic)
        tic = time.perf_counter()
        after = full_ranking_metrics(*args, k)
        new.append(time.perf_counter() - tic)
    agree = all(numpy.allclose(a, b, equal_nan=True)
                for a, b in zip(before, after[:3]))
    return statistics.median(old), statistics.median(new), agree


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--chunks', type=int, default=4,
                        help='ML-20M-shaped chunks timed (then scaled)')
    parser.add_argument('--out', default=None)
    args = parser.parse_args()
    rng = numpy.random.RandomState(0)
    shapes = {
        # name: (users a chunk, items, seen per user, chunks in all)
        'ml100k': (943, 1682, 106, 1),
        'ml20m_shape': (156, 26744, 144, math.ceil(138493 / 156)),
    }
    results = {}
    for name, (users, items, seen, total_chunks) in shapes.items():
        for tied in (False, True):
            timed = 1 if name == 'ml100k' else args.chunks
            old = new = 0.0
            agree = True
            for _ in range(timed):
                data = chunk(rng, users, items, seen, tied)
                o, n, a = time_pair(data, 50, args.repeats)
                old, new = old + o, new + n
                agree = agree and (a or tied)
            scale = total_chunks / timed
            case = f"{name}_{'all_tied' if tied else 'random'}"
            results[case] = {
                'users_per_chunk': users, 'items': items,
                'chunks_timed': timed, 'chunks_in_all': total_chunks,
                'before_seconds': old * scale, 'after_seconds': new * scale,
                'after_over_before': new / old,
                'same_metrics_without_ties': bool(agree) if not tied
                else None}
            print(f'{case}: before {old * scale:.2f} s, after '
                  f'{new * scale:.2f} s (x{new / old:.2f})', flush=True)
    record = {'benchmark': 'bench_ties', 'machine': machine(),
              'load_average': os.getloadavg(),
              'numpy': numpy.__version__, 'repeats': args.repeats,
              'results': results}
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(record, f, indent=2)
            f.write('\n')


if __name__ == '__main__':
    main()
