"""Small MovieLens-format data sets with a known structure.

Users fall into clusters; each cluster has its own block of items, and a
user interacts mostly with items of its own cluster. The ids are 1..n and
every user and item occurs, as in ``u.data``.
"""
import os

import numpy as np


def make_ratings(num_users=24, num_items=40, num_clusters=4, per_user=8,
                 noise=0.0, seed=0):
    """Rows (user, item, rating, timestamp), 1-based ids, distinct times.

    Users ``u`` belong to cluster ``u % num_clusters``; each user picks
    `per_user` distinct items, from its cluster's block except a fraction
    `noise` picked from anywhere.
    """
    rng = np.random.RandomState(seed)
    block = num_items // num_clusters
    rows, t = [], 874965758  # a MovieLens-like epoch second
    for u in range(num_users):
        c = u % num_clusters
        own = np.arange(c * block, (c + 1) * block)
        picked = set()
        while len(picked) < min(per_user, block):
            pool = np.arange(num_items) if rng.rand() < noise else own
            picked.add(int(rng.choice(pool)))
        for i in rng.permutation(sorted(picked)):
            t += int(rng.randint(1, 1000))
            rows.append((u + 1, int(i) + 1, int(rng.randint(1, 6)), t))
    seen = {r[1] for r in rows}
    for i in range(1, num_items + 1):  # every item id must occur
        if i not in seen:
            t += 1
            rows.insert(0, (1 + (i - 1) % num_users, i, 3, 100 + i))
    return rows


def write_udata(folder, rows):
    """Write `rows` as ``folder/u.data`` (tab-separated); return folder."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'u.data'), 'w') as f:
        for row in rows:
            f.write('\t'.join(str(x) for x in row) + '\n')
    return str(folder)
