"""--recency: per-example weights favouring each user's latest items."""
import math

import mxnet as mx
import numpy
import pytest
from mxnet import gluon, np

from d2l_ncf import NeuMF
from d2l_ncf.corrected import train_ranking
from d2l_ncf.losses import LogLoss
from d2l_ncf.evaluation import RankingEvaluator
from d2l_ncf.engine.sampling import (NegativeSampler, TripleBatches,
                                     recency_weights)

SMALL = ['train', '--batch-size', '32', '--num-factors', '4', '--hiddens',
         '4', '--epochs', '1', '--no-progress']


def test_weights_by_hand():
    # user 0's three examples in time order, then user 1's two
    weights = recency_weights([0, 0, 0, 1, 1], strength=1.0, tau=1.0)
    raw = numpy.array([1 + math.exp(-2), 1 + math.exp(-1), 2,
                       1 + math.exp(-1), 2])
    numpy.testing.assert_allclose(weights, raw / raw.mean())
    assert weights.mean() == pytest.approx(1.0)
    # the latest example of each user weighs most
    assert weights[2] == weights[4] == weights.max()


def test_zero_strength_gives_ones():
    numpy.testing.assert_array_equal(
        recency_weights([3, 3, 5, 7, 7, 7], 0.0, 20.0), numpy.ones(6))


def test_users_must_come_grouped():
    with pytest.raises(ValueError, match='grouped by user'):
        recency_weights([0, 1, 0], 1.0, 5.0)


def test_batches_carry_each_example_its_own_weight():
    users = numpy.repeat(numpy.arange(6), 5)
    items = numpy.tile(numpy.arange(5), 6)
    candidates = {u: list(range(5)) for u in range(6)}
    sampler = NegativeSampler(candidates, 6, 12)
    weights = users * 100 + items  # a tag naming the (user, item) pair
    batches = TripleBatches(users, items, sampler, 8,
                            numpy.random.RandomState(0), 2, weights)
    seen = 0
    for _ in range(3):  # rollover epochs
        for u, i, j, w in batches:
            assert j.shape == (8, 2)
            numpy.testing.assert_array_equal(w, u * 100 + i)
            seen += len(u)
    assert seen == 88  # 3 * 30 examples, 2 left over for the next epoch
    with pytest.raises(ValueError, match='one per example'):
        TripleBatches(users, items, sampler, 8, numpy.random.RandomState(0),
                      1, weights[:-1])


def test_weighted_log_loss():
    loss = LogLoss()
    pos = np.array([[0.3], [-1.2], [2.0]])
    neg = np.array([[0.1, -0.5], [0.7, 0.2], [-2.0, 1.5]])
    plain = float(loss(pos, neg))
    ones = float(loss(pos, neg, np.ones(3)))
    assert ones == pytest.approx(plain, rel=1e-6)

    def softplus(x):
        return numpy.log1p(numpy.exp(x))
    p, n = pos.asnumpy(), neg.asnumpy()
    each = softplus(-p[:, 0]) + softplus(n).sum(axis=1)
    w = numpy.array([2.0, 0.0, 0.5])
    assert float(loss(pos, neg, np.array(w))) == pytest.approx(
        (w * each).sum(), rel=1e-5)


@pytest.mark.parametrize('devices', [[mx.cpu()], [mx.cpu(0), mx.cpu(1)]])
def test_the_loop_hands_each_batch_its_weights(devices):
    users = numpy.repeat(numpy.arange(4), 6)
    items = numpy.tile(numpy.arange(6), 4) + users
    candidates = {}
    for u, i in zip(users, items):
        candidates.setdefault(int(u), []).append(int(i))
    test = {u: [int(items[users == u].max()) + 1] for u in range(4)}
    weights = recency_weights(users, 3.0, 2.0)
    batches = TripleBatches(users, items, NegativeSampler(candidates, 4, 12),
                            8, numpy.random.RandomState(1), 2, weights)
    got = []

    class Spy(LogLoss):
        def forward(self, positive, negative, sample_weight=None):
            got.append(sample_weight.asnumpy())
            return super().forward(positive, negative, sample_weight)

    net = NeuMF(3, 4, 12, [3], sigmoid_output=False)
    net.initialize(ctx=devices, init=mx.init.Normal(0.1))
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': 0.01})
    state = batches.get_state()
    train_ranking(net, batches, test, Spy(), trainer, None, 4, 12, 1,
                  devices, RankingEvaluator('corrected', 3), candidates)
    batches.set_state(state)  # replay the epoch's batches
    expected = [w for _, _, _, w in batches]
    assert len(got) == len(expected) * len(devices) == 3 * len(devices)
    numpy.testing.assert_allclose(numpy.concatenate(got),
                                  numpy.concatenate(expected))


def test_recency_changes_training_and_is_recorded(synthetic_dir, tmp_path):
    import json
    from d2l_ncf import cli
    base = SMALL + ['--data-dir', synthetic_dir, '--protocol', 'corrected',
                    '--loss', 'log', '--num-neg', '2', '--k', '10']
    assert cli.main(base + ['--out', str(tmp_path / 'plain')]) == 0
    assert cli.main(base + ['--recency', '5', '--recency-tau', '3',
                            '--out', str(tmp_path / 'recent')]) == 0
    plain, recent = (json.loads((tmp_path / name / 'metrics.json')
                                .read_text())
                     for name in ('plain', 'recent'))
    assert recent['config']['recency'] == 5.0
    assert recent['config']['recency_tau'] == 3.0
    assert plain['config']['recency'] == 0.0
    assert recent['final']['loss'] != plain['final']['loss']


@pytest.mark.parametrize('extra, message', [
    (['--recency', '2'], 'no --reg, --ema or --recency'),
    (['--protocol', 'corrected', '--recency', '2'], 'needs --loss log'),
    (['--protocol', 'corrected', '--loss', 'log', '--recency', '2',
      '--reference'], '--recency needs the fast sampler'),
    (['--protocol', 'corrected', '--recency', '-1'], 'argument --recency'),
    (['--protocol', 'corrected', '--recency-tau', '0'],
     'argument --recency-tau'),
])
def test_usage_errors(usage_error, synthetic_dir, extra, message):
    usage_error(SMALL + ['--data-dir', synthetic_dir] + extra, message)


def test_a_checkpoint_from_before_recency_still_resumes():
    from d2l_ncf.runs.config import TrainConfig
    from d2l_ncf.runs.config import check_resumable
    from d2l_ncf.runs.config import config_dict
    config = TrainConfig(protocol='corrected', num_epochs=3)
    older = config_dict(config)
    del older['recency'], older['recency_tau']  # written before they were
    checkpoint = {'config': older, 'folder': 'ck', 'state': {'epoch': 2}}
    check_resumable(checkpoint, config)  # no error: defaults fill them
    with pytest.raises(ValueError, match=r'recency 2\.0 \(checkpoint: '
                                               r'0\.0\)'):
        check_resumable(checkpoint, TrainConfig(
            protocol='corrected', loss='log', recency=2.0, num_epochs=3))
