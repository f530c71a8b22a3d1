import numpy
import pytest
from mxnet.gluon import nn

from d2l_ncf import evaluate_ranking, hit_and_auc

RANKED = [3, 1, 4, 5, 9]  # 5 items: AUC denominator is 5 - 1 = 4


@pytest.mark.parametrize('test_items, k, hits, auc', [
    ([3], 2, 1, 1.0),    # position 0: hit; AUC (4 - 0) / 4
    ([1], 2, 1, 0.75),   # position 1 = k - 1: hit; AUC (4 - 1) / 4
    ([4], 2, 0, 0.5),    # position 2 = k: no hit; AUC (4 - 2) / 4
    ([9], 5, 1, 0.0),    # last position: hit within k = 5; AUC 0 / 4
    ([7], 5, 0, 0),      # not ranked at all: no hit, AUC 0
    ([5, 1], 2, 1, 0.75),  # two test items: 1 in the top 2 (at 1), 5 not;
                           # AUC uses the first found, position 1
    ([5, 3], 4, 2, 1.0),   # both in the top 4: 2 hits; first found at 0
])
def test_hit_and_auc_hand_worked(test_items, k, hits, auc):
    assert hit_and_auc(RANKED, test_items, k) == (hits, auc)


class MinusItem(nn.Block):
    """Scores an item by minus its id: ranks items by ascending id."""
    def forward(self, user_id, item_id):
        return -item_id.astype('float32').reshape(-1, 1)


def test_evaluate_ranking_ranks_like_the_chapter(capsys):
    # The chapter ranks only items < num_users = 4, so item 5 never shows.
    # u0: unseen [1, 2, 3], test 2 at position 1: hit, AUC (2 - 1) / 2
    # u1: unseen [0, 3], test 5 is not ranked: no hit, AUC 0
    # u2: unseen [0, 1, 2, 3], test 0 at position 0: hit, AUC 3 / 3
    # u3: unseen [0, 1, 2], test 1 at position 1: hit, AUC (2 - 1) / 2
    # Hit rate 3 / 4, AUC (0.5 + 0 + 1 + 0.5) / 4 = 0.5.
    import mxnet as mx
    candidates = {0: [0], 1: [1, 2], 2: [], 3: [3]}
    test_input = {0: [2], 1: [5], 2: [0], 3: [1]}
    for devices in ([mx.cpu()], [mx.cpu(0), mx.cpu(1)]):
        hit_rate, auc = evaluate_ranking(MinusItem(), test_input, None,
                                         candidates, 4, 6, devices)
        assert float(hit_rate) == pytest.approx(0.75)
        assert float(auc) == pytest.approx(0.5)


@pytest.mark.slow
def test_evaluate_ranking_cuts_off_at_50():
    # 60 users, all items unseen; the test item of user u is item u, and
    # items are ranked by ascending id: users 0..49 hit, 50..59 do not.
    import mxnet as mx
    candidates = {u: [] for u in range(60)}
    test_input = {u: [u] for u in range(60)}
    hit_rate, auc = evaluate_ranking(MinusItem(), test_input, None,
                                     candidates, 60, 60, [mx.cpu()])
    assert float(hit_rate) == pytest.approx(50 / 60)
    # AUC of user u: (59 - u) / 59, averaged: 0.5
    expected = numpy.mean([(59 - u) / 59 for u in range(60)])
    assert float(auc) == pytest.approx(expected, rel=1e-6)
