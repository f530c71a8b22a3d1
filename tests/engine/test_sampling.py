import collections

import numpy
import pytest
from mxnet import gluon

from d2l_ncf.engine.sampling import NegativeSampler, TripleBatches

CANDIDATES = {0: [0, 2, 4], 1: [1], 2: [0, 1, 2, 3, 4, 5, 6]}


def test_negatives_are_never_seen_items():
    sampler = NegativeSampler(CANDIDATES, 3, 8)
    rng = numpy.random.RandomState(0)
    users = numpy.array([0, 1, 2] * 500)
    negs = sampler.sample(users, rng, num_neg=3)
    assert negs.shape == (1500, 3)
    for u, row in zip(users, negs):
        assert not set(row) & set(CANDIDATES[u])
    assert set(negs[users == 2].ravel()) == {7}  # its only unseen item


def test_negatives_are_uniform_over_unseen_items():
    # User 0 has 5 unseen items of 8; 10,000 draws, 2,000 expected each.
    # Chi-square with 4 degrees of freedom: P(X > 18.47) = 0.001.
    sampler = NegativeSampler(CANDIDATES, 3, 8)
    rng = numpy.random.RandomState(1)
    negs = sampler.sample(numpy.zeros(10000, dtype=int), rng)[:, 0]
    counts = collections.Counter(negs.tolist())
    assert set(counts) == {1, 3, 5, 6, 7}
    expected = 10000 / 5
    chi2 = sum((c - expected) ** 2 / expected for c in counts.values())
    assert chi2 < 18.47


def test_seeded_negatives_repeat():
    sampler = NegativeSampler(CANDIDATES, 3, 8)
    users = numpy.array([0, 1, 0, 1])
    a = sampler.sample(users, numpy.random.RandomState(7), 2)
    b = sampler.sample(users, numpy.random.RandomState(7), 2)
    assert (a == b).all()


def test_user_who_saw_everything_is_an_error():
    with pytest.raises(ValueError, match='all 3 items'):
        NegativeSampler({0: [0, 1, 2]}, 1, 3)


def test_rollover_batches_match_mxnet():
    # MXNet's last_batch='rollover' carries the leftovers into the next
    # epoch: 10 examples in batches of 4 give 2, 3, 2, 3, ... batches.
    sampler = NegativeSampler({0: [0]}, 1, 5)
    users, items = [0] * 10, [0] * 10
    ours = TripleBatches(users, items, sampler, 4, numpy.random.RandomState(0))
    theirs = gluon.data.BatchSampler(gluon.data.SequentialSampler(10), 4,
                                     'rollover')
    for _ in range(5):
        assert len(ours) == len(theirs)
        assert len(list(ours)) == len(list(theirs))


def test_every_example_once_per_pass():
    sampler = NegativeSampler({u: [u] for u in range(6)}, 6, 9)
    users = list(range(6)) * 2
    items = [u for u in range(6)] * 2
    batches = TripleBatches(users, items, sampler, 4,
                            numpy.random.RandomState(0), num_neg=2)
    seen = []
    for u, i, n in batches:  # 12 examples: 3 full batches, nothing left
        assert u.shape == (4,) and n.shape == (4, 2)
        assert (i == u).all()  # positives stay paired with their user
        seen.extend(u.tolist())
    assert sorted(seen) == sorted(users)


def test_the_seen_table_answers_as_the_binary_search(monkeypatch):
    # small catalogues look seen pairs up in a table, large ones search
    # the sorted keys: the same answers, so the same draws
    from d2l_ncf.engine import sampling
    rng = numpy.random.RandomState(3)
    candidates = {u: sorted(set(rng.randint(0, 40, 12).tolist()))
                  for u in range(30)}
    candidates[7] = list(range(35))  # past half the catalogue
    table = NegativeSampler(candidates, 30, 40)
    monkeypatch.setattr(sampling, 'TABLE_LIMIT', 0)
    search = NegativeSampler(candidates, 30, 40)
    assert table.table is not None and search.table is None
    users = rng.randint(0, 30, 5000)
    items = rng.randint(0, 40, 5000)
    assert (table.is_seen(users, items) == search.is_seen(users, items)).all()
    assert table.is_seen(users, items).any()
    a = table.sample(users, numpy.random.RandomState(9), 3)
    b = search.sample(users, numpy.random.RandomState(9), 3)
    assert (a == b).all()


def test_redraws_are_the_mask_loops_draws():
    # the sampler redraws by positions; the loop it replaced redrew by a
    # boolean mask: the same draws in the same order, so seeded runs and
    # the reference outputs are unchanged
    rng = numpy.random.RandomState(5)
    candidates = {u: sorted(set(rng.randint(0, 12, 5).tolist()))
                  for u in range(6)}
    sampler = NegativeSampler(candidates, 6, 12)
    users = rng.randint(0, 6, 300)

    def mask_loop(rng, num_neg):
        us = numpy.repeat(users[:, None], num_neg, axis=1)
        negs = rng.randint(0, 12, size=us.shape)
        redo = sampler.is_seen(us, negs)
        while redo.any():
            negs[redo] = rng.randint(0, 12, size=redo.sum())
            redo[redo] = sampler.is_seen(us[redo], negs[redo])
        return negs

    for num_neg in (1, 3):
        expected = mask_loop(numpy.random.RandomState(8), num_neg)
        got = sampler.sample(users, numpy.random.RandomState(8), num_neg)
        assert (got == expected).all()
