"""Ties count in expectation outside the book protocol (issue 23).

A test item that `a` ranked items outscore and `t` others equal sits at a
place drawn uniformly from a ... a + t when the tied items are shuffled:
every metric here is that draw's mean, checked by hand and against the
mean over every ordering of small lists. The book protocol keeps the
chapter's id order.
"""
import itertools
import json
import math

import numpy
import pytest

from d2l_ncf.metrics import (Metrics, full_ranking_metrics,
                             sampled_metrics, tie_notice)


def one_user(scores, test, seen=(), k=50, ties='expected'):
    """The metrics of one user whose row of scores is `scores`."""
    row = numpy.asarray([scores], dtype=numpy.float32)
    return full_ranking_metrics(row, [0], {0: list(seen)}, {0: list(test)},
                                row.shape[1], k, ties)


def test_all_tied_scores_what_chance_scores():
    # 10 items, all scored 0, item 7 held out: its place is uniform on
    # 0..9. Hit@3 = 3 / 10; AUC = each of the 9 others a half = 0.5;
    # NDCG@3 = (1 + 1/log2(3) + 1/log2(4)) / 10.
    got = one_user([0.0] * 10, [7], k=3)
    assert got.hit_rate[0] == pytest.approx(0.3)
    assert got.auc[0] == pytest.approx(0.5)
    assert got.ndcg[0] == pytest.approx(
        (1 + 1 / math.log2(3) + 1 / math.log2(4)) / 10)
    assert got.tied[0] == 1


def test_a_tie_across_the_cut_off():
    # Scores: item 0 is 5, items 1-4 are 3 (item 2 held out), 5-6 are 1.
    # a = 1 above, t = 3 tied: places 1, 2, 3, 4 equally likely.
    # k = 3: places 1 and 2 hit -> Hit 2/4; NDCG (1/log2 3 + 1/log2 4)/4.
    # AUC: 6 others, 1 above, 3 tied (half each), 2 below: (2 + 1.5) / 6.
    scores = [5, 3, 3, 3, 3, 1, 1]
    got = one_user(scores, [2], k=3)
    assert got.hit_rate[0] == pytest.approx(0.5)
    assert got.ndcg[0] == pytest.approx((1 / math.log2(3) + 0.5) / 4)
    assert got.auc[0] == pytest.approx(3.5 / 6)
    # the book's order puts item 2 second of the four: place 2, a hit
    book = one_user(scores, [2], k=3, ties='id')
    assert book.hit_rate[0] == 1 and book.auc[0] == pytest.approx(4 / 6)


def test_two_tied_groups_and_a_trained_item():
    # Items 0-2 score 2 (item 1 was trained on: not ranked), items 3-5
    # score 1, item 4 held out. Ranked: 0, 2 above; 3, 4, 5 tied.
    # a = 2, t = 2: places 2, 3, 4. k = 4: Hit 2/3. AUC: of the 4 others
    # 2 are above, none below, 2 tied (a half each): 1 / 4.
    got = one_user([2, 2, 2, 1, 1, 1], [4], seen=[1], k=4)
    assert got.hit_rate[0] == pytest.approx(2 / 3)
    assert got.auc[0] == pytest.approx(1 / 4)
    assert got.ndcg[0] == pytest.approx((1 / math.log2(4) + 1 / math.log2(5))
                                        / 3)


def mean_over_orderings(scores, test, seen, k):
    """Hits, AUC and NDCG averaged over every order of the tied items:
    the brute-force definition the vectorised code must equal."""
    ranked = [i for i in range(len(scores)) if i not in seen]
    groups = [[i for i in ranked if scores[i] == s]
              for s in sorted({scores[i] for i in ranked}, reverse=True)]
    totals, count = numpy.zeros(3), 0
    for orders in itertools.product(*(itertools.permutations(g)
                                      for g in groups)):
        ranked_list = [i for order in orders for i in order]
        places = [p for p, i in enumerate(ranked_list) if i in test]
        hits = sum(p < k for p in places)
        dcg = sum(1 / math.log2(p + 2) for p in places if p < k)
        ideal = sum(1 / math.log2(p + 2) for p in range(min(len(test), k)))
        auc = (len(ranked_list) - 1 - min(places)) / (len(ranked_list) - 1)
        totals += (hits, auc, dcg / ideal)
        count += 1
    return totals / count


@pytest.mark.parametrize('seed', range(40))
def test_equals_the_mean_over_every_ordering(seed):
    rng = numpy.random.RandomState(seed)
    num_items = rng.randint(4, 8)
    scores = rng.randint(0, 3, size=num_items).astype(float)  # many ties
    seen = set(rng.choice(num_items, rng.randint(0, 2), replace=False))
    free = [i for i in range(num_items) if i not in seen]
    test = set(rng.choice(free, rng.randint(1, 3), replace=False))
    k = rng.randint(1, num_items)
    want = mean_over_orderings(list(scores), test, seen, k)
    got = one_user(scores, sorted(test), seen=sorted(seen), k=k)
    assert (got.hit_rate[0], got.auc[0], got.ndcg[0]) == pytest.approx(
        tuple(want)), (scores, test, seen, k)


@pytest.mark.parametrize('seed', range(20))
def test_sampled_equals_the_mean_over_every_ordering(seed):
    rng = numpy.random.RandomState(seed)
    neg = rng.randint(0, 3, size=(1, 6)).astype(float)
    pos = rng.randint(0, 3, size=1).astype(float)
    k = rng.randint(1, 7)
    scores = [pos[0]] + list(neg[0])  # item 0 is the held-out one
    hits, _, ndcg = mean_over_orderings(scores, {0}, set(), k)
    got = sampled_metrics(pos, neg, k)
    assert (got.hit_rate[0], got.ndcg[0]) == pytest.approx((hits, ndcg))


def test_a_dead_model_scores_chance_in_both_evaluations():
    # 50 users, 200 items, every score equal: Hit@k = k / (list length)
    # per user, AUC 0.5, and HR@10 among 100 = 0.1.
    rng = numpy.random.RandomState(0)
    users = list(range(50))
    seen = {u: list(rng.choice(200, 20, replace=False)) for u in users}
    test = {u: [int(rng.choice(sorted(set(range(200)) - set(seen[u]))))]
            for u in users}
    got = full_ranking_metrics(numpy.zeros((50, 200)), users, seen, test,
                               200, 10)
    assert got.hit_rate == pytest.approx(numpy.full(50, 10 / 180))
    assert got.auc == pytest.approx(numpy.full(50, 0.5))
    assert got.tied.sum() == 50
    hit, _, tied = sampled_metrics(numpy.zeros(50), numpy.zeros((50, 99)),
                                   10)
    assert hit == pytest.approx(numpy.full(50, 0.1)) and tied.sum() == 50


def test_no_tie_changes_nothing():
    # distinct scores: the two tie rules agree bit for bit
    rng = numpy.random.RandomState(1)
    scores = rng.permutation(300).reshape(3, 100).astype(numpy.float32)
    seen = {0: [1, 2], 1: [], 2: [50]}
    test = {0: [10], 1: [20, 30], 2: [99]}
    a = full_ranking_metrics(scores, [0, 1, 2], seen, test, 100, 20)
    b = full_ranking_metrics(scores, [0, 1, 2], seen, test, 100, 20, 'id')
    for x, y in zip(a, b):
        assert numpy.array_equal(x, y)
    assert a.tied.sum() == 0


def test_the_notice_names_ties_only_above_its_threshold():
    assert tie_notice(Metrics({'auc': 0.5}, 50, (0, 943))) is None
    assert tie_notice(Metrics({'auc': 0.5}, 50, (9, 943))) is None  # < 1%
    notice = tie_notice(Metrics({'auc': 0.5}, 50, (10, 943)))
    assert 'tie' in notice and '10 of 943' in notice
    assert 'id' in tie_notice(Metrics({}, 50, (943, 943)), True)
    assert tie_notice(Metrics({'auc': 0.5})) is None  # not counted


@pytest.mark.slow
def test_a_dead_model_on_the_real_data_scores_chance(real_data_dir,
                                                     tmp_path, capsys):
    # --wd 1 kills the model (loss ln 2, every score equal): AUC 0.5, not
    # the 0.733 that ordering ties by id gave it; the run says ties decided
    from d2l_ncf import cli
    out = tmp_path / 'dead'
    assert cli.main(['train', '--data-dir', real_data_dir, '--protocol',
                     'corrected', '--devices', 'cpu', '--epochs', '3',
                     '--wd', '1', '--no-progress', '--out', str(out)]) == 0
    printed = capsys.readouterr()
    assert 'test AUC 0.500' in printed.out
    assert 'ties decided' in printed.err and '943 of 943' in printed.err
    record = json.loads((out / 'metrics.json').read_text())
    assert record['final']['auc'] == pytest.approx(0.5, abs=0.005)
    assert record['final']['hit_rate'] == pytest.approx(0.032, abs=0.003)
    assert record['final']['tie_share'] == 1.0
    assert record['history'][-1]['tie_share'] == 1.0  # every epoch has one
    assert all(0 <= row['tie_share'] <= 1 for row in record['history'])


@pytest.mark.slow  # the chapter's evaluator: a DataLoader per user
def test_the_chapters_evaluator_and_the_fast_one_agree_on_ties(
        synthetic_dir):
    # A constant model ties every score. Corrected: both evaluators give
    # chance in expectation; book: both keep the chapter's id order. Each
    # counts every listed test item as tied.
    import mxnet as mx
    from mxnet import np
    from mxnet.gluon import nn
    from d2l_ncf import load_chapter_data
    from d2l_ncf.evaluation import evaluate_ranking
    from d2l_ncf.evaluation import RankingEvaluator

    class Constant(nn.Block):
        def forward(self, users, items):
            return np.ones((users.shape[0], 1)) * 0.5

    data = load_chapter_data(synthetic_dir)
    args = (Constant(), data.test_iter, None, data.candidates,
            data.num_users, data.num_items, [mx.cpu()])
    for protocol, k in (('corrected', 10), ('book', 50)):
        fast = RankingEvaluator(protocol, k if protocol != 'book' else None)
        mine = Metrics.of(fast(*args), k)
        chapter = Metrics.of(evaluate_ranking(*args, protocol=protocol,
                                              **({'k': k} if protocol !=
                                                 'book' else {})), k)
        assert mine.keys() == chapter.keys()
        for m in mine:
            assert chapter[m] == pytest.approx(mine[m]), (protocol, m)
        assert chapter.ties == mine.ties and mine.ties[0] > 0
    corrected = Metrics.of(RankingEvaluator('corrected', 10)(*args), 10)
    assert corrected['auc'] == pytest.approx(0.5)
