import mxnet as mx
import numpy
import pytest
from mxnet import gluon, np
from mxnet.gluon import nn

from d2l_ncf import NeuMF, chapter, load_chapter_data
from d2l_ncf.evaluation import evaluate_ranking
from d2l_ncf.evaluation import RankingEvaluator
from d2l_ncf.metrics import full_ranking_metrics, sampled_metrics
from d2l_ncf.engine.sampling import sample_eval_negatives
from test_training import run_small


class Constant(nn.Block):
    """The collapsed model: every pair scores 0.5."""
    def forward(self, user_id, item_id):
        return np.ones((user_id.shape[0], 1)) * 0.5


def test_book_ties_keep_ascending_item_id():
    # The book protocol's order (ties='id'). One user, items 0..4 all scored 1.0 except item 3 (2.0); trained on
    # item 1. Ranked list: 3, 0, 2, 4 (ties in id order). Test item 4 is
    # at position 3: Hit@3 0, Hit@4 1, AUC (3 - 3) / 3 = 0,
    # NDCG@4 = 1 / log2(3 + 2).
    scores = numpy.array([[1.0, 1.0, 1.0, 2.0, 1.0]])
    for k, hit in [(3, 0), (4, 1)]:
        hits, auc, ndcg, tied = full_ranking_metrics(
            scores, [0], {0: [1]}, {0: [4]}, 5, k, ties='id')
        assert hits[0] == hit and auc[0] == 0 and tied[0] == 1
        assert ndcg[0] == pytest.approx(hit / numpy.log2(5))


def test_evaluator_ranks_items_beyond_num_users():
    # 2 users, 4 items, scores prefer high ids. User 0 holds out item 3.
    # Book: only items 0, 1 are ranked, item 3 can't be hit (0, AUC 0).
    # Corrected: ranked list 3, 2, 1, 0 (user 0 trained on nothing):
    # hit at position 0, AUC 1.
    scores = numpy.array([[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]])
    book = full_ranking_metrics(scores, [0, 1], {}, {0: [3], 1: [0]}, 2, 50,
                                ties='id')
    corrected = full_ranking_metrics(scores, [0, 1], {}, {0: [3], 1: [0]},
                                     4, 50)
    assert (book[0][0], book[1][0]) == (0, 0)
    assert (corrected[0][0], corrected[1][0]) == (1, 1.0)


def test_sampled_metrics_hand_worked():
    # User 0: test 0.9 above all three negatives: position 0, NDCG 1.
    # User 1: test 0.5 below 0.7 and tied with one 0.5: place 1 or 2,
    # each half the time. k = 3: a hit, NDCG (1 / log2(3) + 1 / log2(4))
    # / 2; k = 2: half a hit; k = 1: none. Counted against the test item
    # (ties='last', this package's old rule) it sits at place 2.
    pos = numpy.array([0.9, 0.5])
    neg = numpy.array([[0.1, 0.2, 0.3], [0.7, 0.5, 0.1]])
    hit, ndcg, tied = sampled_metrics(pos, neg, 3)
    assert hit.tolist() == [1, 1] and tied.tolist() == [0, 1]
    assert ndcg[0] == 1.0
    assert ndcg[1] == pytest.approx((1 / numpy.log2(3) + 0.5) / 2)
    assert sampled_metrics(pos, neg, 2).hit_rate.tolist() == [1, 0.5]
    assert sampled_metrics(pos, neg, 1).hit_rate.tolist() == [1, 0]
    assert sampled_metrics(pos, neg, 2, ties='last').hit_rate.tolist() == [
        1, 0]


def test_sampled_negatives_are_unseen_distinct_and_seeded():
    candidates = {0: [0, 1], 1: [5]}
    test_input = {0: [2], 1: [3]}
    draw = lambda seed: sample_eval_negatives(  # noqa: E731
        candidates, test_input, 20, [0, 1], numpy.random.RandomState(seed),
        num_neg=10)
    negs = draw(0)
    for r, u in enumerate([0, 1]):
        assert len(set(negs[r])) == 10
        assert not set(negs[r]) & (set(candidates[u]) | set(test_input[u]))
    assert (negs == draw(0)).all() and not (negs == draw(1)).all()


def test_constant_model_scores_chance_when_sampled(synthetic_dir):
    # ties in expectation (issue 23; before, they counted against the
    # test item and a constant model scored 0): the test item is at each
    # of the 21 places with chance 1/21, so HR@10 = 10/21 and NDCG@10 =
    # the mean of 1 / log2(p + 2) over p < 10, times 10/21
    data = load_chapter_data(synthetic_dir)
    evaluator = RankingEvaluator('corrected', eval='sampled', num_neg=20)
    result = evaluator(Constant(), data.test_iter, None, data.candidates,
                       data.num_users, data.num_items, [mx.cpu()])
    assert result['hit_rate'] == pytest.approx(10 / 21)
    assert result['ndcg'] == pytest.approx(
        sum(1 / numpy.log2(p + 2) for p in range(10)) / 21)
    assert result.ties == (data.num_users, data.num_users)


@pytest.mark.slow
@pytest.mark.parametrize('protocol', ['book', 'corrected'])
def test_fast_evaluator_equals_the_chapters(synthetic_dir, protocol, capsys):
    data = load_chapter_data(synthetic_dir)
    nets = [Constant()]
    for seed in (0, 1, 2):  # trained nets with distinct scores
        result = run_small(synthetic_dir, [mx.cpu(0), mx.cpu(1)],
                           num_epochs=2, eval_step=5, seed=seed,
                           protocol=protocol)
        nets.append(result['net'])
    k = 50 if protocol == 'book' else 7
    fast = RankingEvaluator(protocol, k=k)
    for devices in ([mx.cpu()], [mx.cpu(0), mx.cpu(1)]):
        for net in nets:
            args = (net, data.test_iter, None, data.candidates,
                    data.num_users, data.num_items, devices)
            if protocol == 'book':  # the chapter's own, as printed
                theirs = dict(zip(('hit_rate', 'auc'), map(
                    float, chapter.evaluate_ranking(*args))))
                ours = dict(zip(('hit_rate', 'auc'), fast(*args)))
            else:
                theirs = evaluate_ranking(*args, protocol=protocol, k=k)
                ours = fast(*args)
            assert set(ours) == set(theirs)
            for m in ours:  # the chapter averages in float32
                assert ours[m] == pytest.approx(theirs[m], abs=1e-6), m


def test_book_protocol_refuses_another_k():
    with pytest.raises(ValueError, match='fixes k = 50'):
        RankingEvaluator('book', k=10)
    with pytest.raises(ValueError, match='corrected'):
        RankingEvaluator('book', eval='sampled')


@pytest.mark.slow
def test_users_left_out_of_evaluation_are_skipped_by_both(tmp_path):
    # user 25 has one interaction: no training item, not in test_iter;
    # the chapter's loop would raise KeyError on candidates[24]
    from synthetic import make_ratings, write_udata
    rows = make_ratings() + [(25, 3, 4, 999999999)]
    data = load_chapter_data(write_udata(tmp_path / 'd', rows))
    assert data.num_users == 25 and 24 not in data.candidates
    net = NeuMF(4, data.num_users, data.num_items, nums_hiddens=[4],
                sigmoid_output=False)
    net.initialize(init=mx.init.Normal(0.1))
    args = (net, data.test_iter, None, data.candidates, data.num_users,
            data.num_items, [mx.cpu()])
    theirs = evaluate_ranking(*args, protocol='corrected', k=7)
    ours = RankingEvaluator('corrected', k=7)(*args)
    for m in ours:
        assert ours[m] == pytest.approx(theirs[m], abs=1e-6), m


def test_the_fast_evaluator_refuses_items_beyond_the_models_table():
    # issue 32: MXNet clips an index beyond a table to its last row, so
    # ranking 9 items with a 6-row item table scored row 5 four times
    net = NeuMF(3, 4, 6, nums_hiddens=[2], sigmoid_output=False)
    net.initialize(init=mx.init.Normal(0.1))
    candidates, test = {u: [0] for u in range(4)}, {u: [1] for u in range(4)}
    evaluator = RankingEvaluator('corrected', k=2)
    evaluator(net, test, None, candidates, 4, 6, [mx.cpu()])  # fits
    with pytest.raises(ValueError, match='table Q has 6 rows'):
        evaluator(net, test, None, candidates, 4, 9, [mx.cpu()])
    with pytest.raises(ValueError, match='table P has 4 rows'):
        evaluator(net, test, None, candidates, 5, 6, [mx.cpu()])


def test_the_fast_evaluator_refuses_an_empty_test_set():
    # issue 32: no test item gave hit rate 0 and AUC 0, numbers that
    # look measured
    from d2l_ncf.metrics import UndefinedMetricError
    net = NeuMF(3, 4, 6, nums_hiddens=[2], sigmoid_output=False)
    net.initialize(init=mx.init.Normal(0.1))
    candidates = {u: [0] for u in range(4)}
    for kwargs in ({}, {'eval': 'sampled', 'num_neg': 3}):
        evaluator = RankingEvaluator('corrected', k=2, **kwargs)
        with pytest.raises(UndefinedMetricError, match='test set is empty'):
            evaluator(net, {}, None, candidates, 4, 6, [mx.cpu()])
