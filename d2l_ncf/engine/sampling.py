"""Whole batches of training triples, sampled with NumPy.

`PRDataset` draws one negative per example in Python and rebuilds the set
of all items each time. `NegativeSampler` draws from the same distribution
(uniform over the items the user has not interacted with in training) for a
whole batch at once, by rejection: draw uniformly, redraw the seen ones.
Users who have seen more than half the items would need ever more redraws
(one who has seen all but 3 of 8,000 items about 2,700 per negative), so
theirs are drawn from their unseen items directly, at a bounded cost.
`TripleBatches` replaces the chapter's shuffled, ``last_batch='rollover'``
DataLoader over `PRDataset` with the same batch arithmetic.
"""
import numpy

# The NCF paper's sampled evaluation: the held-out item ranked among this
# many items the user has not seen (its HR@10 and NDCG@10).
EVAL_NEGATIVES = 99
# Catalogues of at most this many (user, item) pairs get a table of the
# seen ones (one byte a pair) for `NegativeSampler.is_seen`.
TABLE_LIMIT = 1 << 26


class NegativeSampler:
    """Uniform negatives over each user's unseen items."""

    def __init__(self, candidates, num_users, num_items):
        self.num_items = num_items
        users = numpy.concatenate(
            [numpy.full(len(items), u, dtype=numpy.int64)
             for u, items in candidates.items()] or [numpy.zeros(0, int)])
        items = numpy.concatenate(
            [numpy.asarray(items, dtype=numpy.int64)
             for items in candidates.values()] or [numpy.zeros(0, int)])
        # Sorted keys u * num_items + i: membership by binary search, so
        # memory grows with the interactions, not users x items.
        self.keys = numpy.unique(users * num_items + items)
        seen_per_user = numpy.bincount(self.keys // num_items,
                                       minlength=num_users)
        full = numpy.flatnonzero(seen_per_user >= num_items)
        if len(full):
            raise ValueError(
                f'users {full[:5].tolist()} have interacted with all '
                f'{num_items} items: there is no negative to sample')
        # Users past half the catalogue: rejection would cost more than
        # two draws per negative; `_sample_unseen` serves them.
        self.dense = seen_per_user * 2 > num_items
        self.unseen = num_items - seen_per_user
        self.first = numpy.concatenate([[0], numpy.cumsum(seen_per_user)])
        # Per user, in item order: seen item minus its rank among the
        # user's seen items = how many unseen items lie below it. It never
        # decreases within a user, so with the user in front the keys
        # stay sorted for a binary search.
        rank = numpy.arange(len(self.keys)) - numpy.repeat(
            self.first[:-1], seen_per_user)
        self.gaps = self.keys - rank
        # Ours, for speed: where users x items is small (ML-100K: 1.6
        # MB) a table of seen pairs answers `is_seen` by one lookup, the
        # same answers as the binary search, several times faster.
        self.table = None
        if num_users * num_items <= TABLE_LIMIT:
            self.table = numpy.zeros(num_users * num_items, dtype=bool)
            self.table[self.keys] = True
        self.any_dense = bool(self.dense.any())

    def is_seen(self, users, items):
        """Boolean array: has `users[j]` interacted with `items[j]`?"""
        keys = users * self.num_items + items
        if self.table is not None:
            return self.table[keys]
        pos = numpy.searchsorted(self.keys, keys)
        pos[pos == len(self.keys)] = 0
        return self.keys[pos] == keys if len(self.keys) else (
            numpy.zeros(keys.shape, bool))

    def sample(self, users, rng, num_neg=1):
        """Negatives of shape ``(len(users), num_neg)`` for `users`."""
        users = numpy.asarray(users, dtype=numpy.int64)
        users = numpy.repeat(users[:, None], num_neg, axis=1)
        negs = rng.randint(0, self.num_items, size=users.shape)
        if self.any_dense:  # never, on data without such users
            dense = self.dense[users]
            negs[dense] = self._sample_unseen(users[dense], rng)
            redo = ~dense & self.is_seen(users, negs)
        else:
            redo = self.is_seen(users, negs)
        # redraw the seen ones, in row-major order, until none is seen
        # (positions rather than masks: the same draws, fewer operations)
        redo = numpy.flatnonzero(redo)
        flat_users, flat_negs = users.reshape(-1), negs.reshape(-1)
        while len(redo):
            draws = rng.randint(0, self.num_items, size=len(redo))
            flat_negs[redo] = draws
            redo = redo[self.is_seen(flat_users[redo], draws)]
        return negs


    def _sample_unseen(self, users, rng):
        """One uniform unseen item per entry of `users`, exactly: draw
        its position j among the user's unseen items, then find the j-th
        unseen item by binary search over the user's seen ones."""
        j = rng.randint(0, self.unseen[users])
        # seen items of user u with fewer than j + 1 unseen items below
        below = numpy.searchsorted(self.gaps, users * self.num_items + j,
                                   side='right') - self.first[users]
        return j + below


class TripleBatches:
    """Shuffled batches of (users, positive items, negatives) as arrays.

    Batching follows MXNet's ``last_batch='rollover'``: the examples left
    over at the end of an epoch open the next one. Negatives have shape
    ``(batch,)`` for ``num_neg=1`` (as the chapter's) else
    ``(batch, num_neg)``.
    """

    def __init__(self, users, items, sampler, batch_size, rng, num_neg=1,
                 weights=None):
        self.users = numpy.asarray(users, dtype=numpy.int64)
        self.items = numpy.asarray(items, dtype=numpy.int64)
        # Ours: with per-example `weights`, each batch comes with theirs as
        # a fourth array (the loss weighs each example's terms by it).
        self.weights = None if weights is None else numpy.asarray(
            weights, dtype=numpy.float32)
        if self.weights is not None and self.weights.shape != (
                len(self.users),):
            raise ValueError(f'weights: expected one per example '
                             f'({len(self.users)}), got shape '
                             f'{self.weights.shape}')
        self.sampler, self.batch_size = sampler, batch_size
        self.rng, self.num_neg = rng, num_neg
        self._prev = numpy.zeros(0, dtype=numpy.int64)

    def __len__(self):
        return self.batches_in(1)

    def batches_in(self, epochs):
        """Batches in the next `epochs` epochs, rollover included."""
        return ((len(self._prev) + epochs * len(self.users))
                // self.batch_size)

    def __iter__(self):
        order = numpy.concatenate(
            [self._prev, self.rng.permutation(len(self.users))])
        num_batches = len(order) // self.batch_size
        self._prev = order[num_batches * self.batch_size:]
        for b in range(num_batches):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            users = self.users[idx]
            negs = self.sampler.sample(users, self.rng, self.num_neg)
            batch = (users, self.items[idx],
                     negs[:, 0] if self.num_neg == 1 else negs)
            yield batch if self.weights is None else (
                batch + (self.weights[idx],))

    def get_state(self):
        """The generator's state and the leftover order, as JSON types."""
        name, keys, pos, has_gauss, gauss = self.rng.get_state()
        return {'rng': [name, keys.tolist(), int(pos), int(has_gauss),
                        float(gauss)], 'leftover': self._prev.tolist()}

    def set_state(self, state):
        """Continue exactly where `get_state` left off."""
        name, keys, pos, has_gauss, gauss = state['rng']
        self.rng.set_state((name, numpy.asarray(keys, dtype=numpy.uint32),
                            pos, has_gauss, gauss))
        self._prev = numpy.asarray(state['leftover'], dtype=numpy.int64)


def recency_weights(users, strength, tau):
    """Per-example weights favouring each user's latest interactions.

    `users` lists the training examples by user, each user's in time
    order (as `interactions.split_seq_aware` orders them). An example followed
    by ``r`` more of its user's interactions weighs ``1 + strength *
    exp(-r / tau)``; the weights are then scaled to average 1, so the
    loss keeps its scale. ``strength=0`` gives all ones.
    """
    users = numpy.asarray(users, dtype=numpy.int64)
    n = len(users)
    if n == 0:
        return numpy.ones(0)
    change = numpy.flatnonzero(users[1:] != users[:-1]) + 1
    starts = numpy.concatenate([[0], change])
    ends = numpy.concatenate([change, [n]])
    if len(numpy.unique(users[starts])) != len(starts):
        raise ValueError('recency weights need the examples grouped by '
                         'user (each user\'s in time order); user '
                         'blocks repeat')
    # interactions after this one, within its user's block
    after = numpy.repeat(ends, ends - starts) - 1 - numpy.arange(n)
    with numpy.errstate(over='ignore', under='ignore', invalid='ignore'):
        weights = 1 + strength * numpy.exp(-after / tau)
        weights = weights / weights.mean()
    as_used = weights.astype(numpy.float32)  # as the batches carry them
    if not (numpy.isfinite(as_used).all() and (as_used > 0).all()):
        raise ValueError(
            f'recency strength {strength:g} with tau {tau:g} makes some '
            f'example weights overflow to 0 or infinity in float32; '
            f'use a smaller strength')
    return weights


def sample_eval_negatives(candidates, test_input, num_items, user_ids, rng,
                          num_neg=EVAL_NEGATIVES):
    """For each user, `num_neg` distinct items it has neither trained on
    nor holds out for test: (len(user_ids), num_neg)."""
    out = numpy.empty((len(user_ids), num_neg), dtype=numpy.int64)
    for r, u in enumerate(user_ids):
        excluded = set(candidates.get(u, [])) | set(test_input[u])
        pool = numpy.setdiff1d(numpy.arange(num_items),
                               numpy.fromiter(excluded, numpy.int64))
        if len(pool) < num_neg:
            raise ValueError(f'user {u} has only {len(pool)} unseen items, '
                             f'fewer than the {num_neg} to sample')
        out[r] = rng.choice(pool, num_neg, replace=False)
    return out
