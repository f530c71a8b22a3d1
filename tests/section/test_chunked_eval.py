"""Chunked evaluation gives the whole-matrix evaluation's numbers exactly.

The evaluator scores and ranks users a chunk at a time (issue 15); these
compare it, bit for bit, with scoring every pair in one stream and ranking
the whole (users x items) matrix, as it did before.
"""
import mxnet as mx
import numpy
import pytest

from d2l_ncf import NeuMF
from d2l_ncf.evaluation import RankingEvaluator
from d2l_ncf.engine.chunking import rows_per_chunk
from d2l_ncf.engine.scoring import (grid_pairs, listed_pairs, score_pairs,
                                    score_rows)
from d2l_ncf.metrics import Metrics, full_ranking_metrics, sampled_metrics
from d2l_ncf.engine.sampling import sample_eval_negatives

NUM_USERS, NUM_ITEMS = 13, 150
DEVICES = {'cpu': [mx.cpu()], 'cpu:2': [mx.cpu(0), mx.cpu(1)]}


def make_data(seed=0):
    """Random training items and one or two test items per user; users
    3 and 8 have no training items (no candidates entry at all)."""
    rng = numpy.random.RandomState(seed)
    candidates, test_input = {}, {}
    for u in range(NUM_USERS):
        items = rng.choice(NUM_ITEMS, 12, replace=False)
        test_input[u] = [int(i) for i in items[:1 + u % 2]]
        if u not in (3, 8):
            candidates[u] = [int(i) for i in items[2:]]
    return candidates, test_input


def make_net(devices, sigmoid_output=True):
    net = NeuMF(4, NUM_USERS, NUM_ITEMS, [8, 4],
                sigmoid_output=sigmoid_output)
    net.initialize(ctx=devices, init=mx.init.Normal(0.5))
    net.hybridize()
    return net


def whole_matrix(net, protocol, k, candidates, test_input, devices):
    """The evaluator as it was: one score stream, one matrix."""
    user_ids = [u for u in range(NUM_USERS) if u in test_input]
    num_ranked = NUM_ITEMS if protocol == 'corrected' else NUM_USERS
    users = numpy.repeat(user_ids, num_ranked)
    items = numpy.tile(numpy.arange(num_ranked), len(user_ids))
    scores = score_pairs(net, users, items, devices).reshape(
        len(user_ids), num_ranked)
    return full_ranking_metrics(scores, user_ids, candidates, test_input,
                                num_ranked, k,
                                'id' if protocol == 'book' else 'expected')


@pytest.mark.parametrize('devices', sorted(DEVICES))
@pytest.mark.parametrize('protocol,k', [('book', None), ('corrected', 10)])
def test_chunked_full_ranking_equals_whole_matrix(devices, protocol, k):
    devices = DEVICES[devices]
    candidates, test_input = make_data()
    net = make_net(devices, sigmoid_output=protocol == 'book')
    hits, auc, ndcg, _ = whole_matrix(net, protocol, k or 50, candidates,
                                   test_input, devices)
    expected = {'hit_rate': float(hits.mean()), 'auc': float(auc.mean())}
    if protocol == 'corrected':
        expected['ndcg'] = float(ndcg.mean())
    assert 0 < expected['auc'] < 1
    width = NUM_ITEMS if protocol == 'corrected' else NUM_USERS
    # 1 row a chunk; 2 and 4 (remainder of 1 row of 13); 12 (remainder
    # 1); all rows; part of a row (still one row); the default
    for chunk_size in (width, 2 * width, 4 * width + 3, 12 * width,
                       NUM_USERS * width, 5, None):
        kwargs = {} if chunk_size is None else {'chunk_size': chunk_size}
        evaluator = RankingEvaluator(protocol, k, **kwargs)
        got = Metrics.of(evaluator(net, test_input, None, candidates,
                                   NUM_USERS, NUM_ITEMS, devices), k)
        assert dict(got) == expected, chunk_size  # exact


@pytest.mark.parametrize('devices', sorted(DEVICES))
def test_chunked_sampled_equals_whole(devices):
    devices = DEVICES[devices]
    candidates, test_input = make_data(1)
    net = make_net(devices, sigmoid_output=False)
    user_ids = list(range(NUM_USERS))
    negs = sample_eval_negatives(candidates, test_input, NUM_ITEMS,
                                 user_ids, numpy.random.RandomState(0), 20)
    users = numpy.arange(NUM_USERS)
    pos = score_pairs(net, users, numpy.array(
        [test_input[u][0] for u in user_ids]), devices)
    neg = score_pairs(net, numpy.repeat(users, 20), negs.reshape(-1),
                      devices).reshape(negs.shape)
    hit, ndcg, _ = sampled_metrics(pos, neg, 5)
    expected = {'hit_rate': float(hit.mean()), 'ndcg': float(ndcg.mean())}
    for chunk_size in (1, 20, 40, 12 * 20, 10 ** 6):
        evaluator = RankingEvaluator('corrected', 5, 'sampled', 20,
                                     chunk_size=chunk_size)
        got = evaluator(net, test_input, None, candidates, NUM_USERS,
                        NUM_ITEMS, devices)
        assert got == expected, chunk_size
        assert (evaluator._negatives == negs).all()


@pytest.mark.parametrize('devices', sorted(DEVICES))
def test_batches_crossing_chunks_score_as_one_stream(devices):
    # batches of 7 pairs straddle chunks of 1, 2 and 3 rows of 10 pairs:
    # the scores are those of one stream cut every 7 pairs
    devices = DEVICES[devices]
    net = make_net(devices)
    user_ids = numpy.array([5, 0, 12, 3, 7])
    whole = score_pairs(net, numpy.repeat(user_ids, 10),
                        numpy.tile(numpy.arange(10), 5), devices,
                        batch_size=7).reshape(5, 10)
    for chunk_rows in (1, 2, 3, 5, 9):
        chunks = list(score_rows(net, grid_pairs(user_ids, 10), 5, 10,
                                 devices, chunk_rows, batch_size=7))
        assert [(a, b) for a, b, _ in chunks] == [
            (r, min(5, r + chunk_rows)) for r in range(0, 5, chunk_rows)]
        assert (numpy.concatenate([s for _, _, s in chunks]) == whole).all()


def test_listed_pairs_pairs_each_row_with_its_user():
    pairs = listed_pairs([4, 9], numpy.array([[1, 2, 3], [5, 6, 7]]))
    users, items = pairs(2, 5)
    assert users.tolist() == [4, 9, 9] and items.tolist() == [3, 5, 6]


def test_chunk_sizes():
    assert rows_per_chunk(1682, 1 << 22) == 2493
    assert rows_per_chunk(26744, 1 << 22) == 156
    assert rows_per_chunk(10, 5) == 1  # a row is never split
    with pytest.raises(ValueError, match='chunk_size must be >= 1'):
        RankingEvaluator('corrected', chunk_size=0)


def test_a_non_finite_chunk_is_refused():
    # finite parameters, but user 10's scores overflow: its chunk (the
    # sixth of two rows) is refused, not ranked
    from d2l_ncf.engine.scoring import NonFiniteModelError
    net = make_net([mx.cpu()], sigmoid_output=False)
    net(mx.np.array([0]), mx.np.array([0]))  # finish deferred init
    for table in (net.P, net.Q):
        weight = table.weight.data().asnumpy()
        weight[10 if table is net.P else slice(None)] = 1e30
        table.weight.set_data(mx.np.array(weight))
    candidates, test_input = make_data()
    evaluator = RankingEvaluator('corrected', 10, chunk_size=2 * NUM_ITEMS)
    with pytest.raises(NonFiniteModelError, match='scores are not finite'):
        evaluator(net, test_input, None, candidates, NUM_USERS, NUM_ITEMS,
                  [mx.cpu()])


def test_the_cli_passes_eval_chunk(tmp_path, capsys):
    from d2l_ncf import cli
    from d2l_ncf.runs.config import TrainConfig
    from d2l_ncf.engine.chunking import EVAL_CHUNK
    from synthetic import make_ratings, write_udata
    assert TrainConfig().eval_chunk == EVAL_CHUNK
    folder = write_udata(tmp_path / 'data', make_ratings())
    printed = []
    for chunk in ('40', '4000000'):  # one user a chunk; all at once
        assert cli.main(['train', '--data-dir', folder, '--devices', 'cpu',
                         '--epochs', '1', '--batch-size', '32',
                         '--protocol', 'corrected', '--k', '10',
                         '--no-progress', '--eval-chunk', chunk]) == 0
        printed.append(capsys.readouterr().out.splitlines()[-2])
    assert printed[0] == printed[1] and 'hit rate@10' in printed[0]
    with pytest.raises(SystemExit) as usage:
        cli.main(['train', '--eval-chunk', '0'])
    assert usage.value.code == 2
    assert '--eval-chunk: expected a whole number >= 1' in (
        capsys.readouterr().err)


@pytest.mark.parametrize('batches', [0, 1, 2, 3, 7])
def test_batches_round_robin_over_devices_score_as_one_device(batches):
    # score_batches sends whole batches to the devices in turn, several in
    # flight: the scores come back in order and equal one device's, bit
    # for bit (also with fewer batches than devices can take at once)
    from d2l_ncf.engine.scoring import score_batches
    net = make_net(DEVICES['cpu:2'])
    rng = numpy.random.RandomState(batches)
    pairs = [(rng.randint(0, NUM_USERS, 50 + b),
              rng.randint(0, NUM_ITEMS, 50 + b)) for b in range(batches)]
    one = list(score_batches(net, iter(pairs), DEVICES['cpu']))
    two = list(score_batches(net, iter(pairs), DEVICES['cpu:2']))
    assert [len(s) for s in two] == [50 + b for b in range(batches)]
    for a, b, (users, items) in zip(one, two, pairs):
        assert a.dtype == numpy.float32 and (a == b).all()
        expected = net(mx.np.array(users), mx.np.array(items)).asnumpy()
        assert (a == expected.reshape(-1)).all()
