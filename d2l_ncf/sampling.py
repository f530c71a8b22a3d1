"""Whole batches of training triples, sampled with NumPy.

`PRDataset` draws one negative per example in Python and rebuilds the set
of all items each time. `NegativeSampler` draws from the same distribution
(uniform over the items the user has not interacted with in training) for a
whole batch at once, by rejection: draw uniformly, redraw the seen ones.
`TripleBatches` replaces the chapter's shuffled, ``last_batch='rollover'``
DataLoader over `PRDataset` with the same batch arithmetic.
"""
import numpy


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

    def is_seen(self, users, items):
        """Boolean array: has `users[j]` interacted with `items[j]`?"""
        keys = users * self.num_items + items
        pos = numpy.searchsorted(self.keys, keys)
        pos[pos == len(self.keys)] = 0
        return self.keys[pos] == keys if len(self.keys) else (
            numpy.zeros(keys.shape, bool))

    def sample(self, users, rng, num_neg=1):
        """Negatives of shape ``(len(users), num_neg)`` for `users`."""
        users = numpy.asarray(users, dtype=numpy.int64)
        users = numpy.repeat(users[:, None], num_neg, axis=1)
        negs = rng.randint(0, self.num_items, size=users.shape)
        redo = self.is_seen(users, negs)
        while redo.any():
            negs[redo] = rng.randint(0, self.num_items, size=redo.sum())
            redo[redo] = self.is_seen(users[redo], negs[redo])
        return negs


class TripleBatches:
    """Shuffled batches of (users, positive items, negatives) as arrays.

    Batching follows MXNet's ``last_batch='rollover'``: the examples left
    over at the end of an epoch open the next one. Negatives have shape
    ``(batch,)`` for ``num_neg=1`` (as the chapter's) else
    ``(batch, num_neg)``.
    """

    def __init__(self, users, items, sampler, batch_size, rng, num_neg=1):
        self.users = numpy.asarray(users, dtype=numpy.int64)
        self.items = numpy.asarray(items, dtype=numpy.int64)
        self.sampler, self.batch_size = sampler, batch_size
        self.rng, self.num_neg = rng, num_neg
        self._prev = numpy.zeros(0, dtype=numpy.int64)

    def __len__(self):
        return (len(self._prev) + len(self.users)) // self.batch_size

    def __iter__(self):
        order = numpy.concatenate(
            [self._prev, self.rng.permutation(len(self.users))])
        num_batches = len(order) // self.batch_size
        self._prev = order[num_batches * self.batch_size:]
        for b in range(num_batches):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            users = self.users[idx]
            negs = self.sampler.sample(users, self.rng, self.num_neg)
            yield users, self.items[idx], (
                negs[:, 0] if self.num_neg == 1 else negs)

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
