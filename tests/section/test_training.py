import functools
import math
import re

import mxnet as mx
import numpy
import pytest
from mxnet import gluon

from d2l_ncf import (BPRLoss, NeuMF, evaluate_ranking, load_chapter_data,
                     train_ranking)
from d2l_ncf.runs.builders import seed_everything
from d2l_ncf.data import make_train_iter
from d2l_ncf.protocol import get_protocol
from d2l_ncf.engine.sampling import NegativeSampler, TripleBatches

LOSS_LINE = re.compile(r'^train loss \d+\.\d{3}, test hit rate \d\.\d{3}, '
                       r'test AUC \d\.\d{3}$')


def run_small(synthetic_dir, devices, num_epochs=3, eval_step=1, seed=0,
              protocol='book', lr=0.01, fast=False, batch_size=32):
    """Train a small NeuMF on the synthetic data; the result has `net`."""
    seed_everything(seed)
    data = load_chapter_data(synthetic_dir)
    if fast:
        sampler = NegativeSampler(data.candidates, data.num_users,
                                  data.num_items)
        train_iter = TripleBatches(data.users_train, data.items_train,
                                   sampler, batch_size,
                                   numpy.random.RandomState(seed))
    else:
        train_iter = make_train_iter(data, batch_size=batch_size)
    net = NeuMF(4, data.num_users, data.num_items, nums_hiddens=[4, 4],
                sigmoid_output=get_protocol(protocol).sigmoid_output)
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': lr, 'wd': 1e-5})
    result = train_ranking(
        net, train_iter, data.test_iter, BPRLoss(), trainer, None,
        data.num_users, data.num_items, num_epochs, devices,
        functools.partial(evaluate_ranking, protocol=protocol),
        data.candidates, eval_step=eval_step, protocol=protocol)
    result['net'], result['num_train'] = net, len(data.users_train)
    result['batches'] = len(train_iter)
    return result


@pytest.mark.parametrize('devices', [
    # the chapter's evaluator: slow; the two-device path stays fast
    pytest.param([mx.cpu()], id='cpu', marks=pytest.mark.slow),
    pytest.param([mx.cpu(0), mx.cpu(1)], id='cpu:2')])
def test_train_ranking_runs_and_prints_the_chapters_lines(
        synthetic_dir, devices, capsys):
    result = run_small(synthetic_dir, devices, num_epochs=3, eval_step=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert LOSS_LINE.match(lines[-2]), lines[-2]
    assert lines[-1].endswith(f' examples/sec on {devices}')
    assert [row['epoch'] for row in result['history']] == [1, 2, 3]
    # every second epoch, and the last (issue 23: the final line paired
    # epoch 3's loss with epoch 2's metrics)
    assert ['hit_rate' in row for row in result['history']] == [
        False, True, True]
    evaluated = result['history'][1]
    assert 0 <= evaluated['hit_rate'] <= 1 and 0 <= evaluated['auc'] <= 1
    last = result['history'][-1]
    assert (result['hit_rate'], result['auc']) == (last['hit_rate'],
                                                   last['auc'])
    # the printed figures are the final ones
    assert lines[-2] == (
        f"train loss {result['loss']:.3f}, test hit rate "
        f"{result['hit_rate']:.3f}, test AUC {result['auc']:.3f}")
    assert result['train_seconds'] > 0 and result['eval_seconds'] > 0


@pytest.mark.parametrize('devices', [[mx.cpu()], [mx.cpu(0), mx.cpu(1)]],
                         ids=['cpu', 'cpu:2'])
def test_book_loss_is_the_chapters_running_total(synthetic_dir, devices,
                                                 capsys):
    # With a learning rate too small to move the weights, every score
    # stays ~0.5 and each example's BPR loss is ln 2. The chapter adds the
    # running total after every batch: after T batches of B examples over
    # G devices the sum is (B ln2 / G)(1 + 2 + ... + T), divided by T B:
    # ln 2 (T + 1) / (2 G).
    result = run_small(synthetic_dir, devices, num_epochs=1, eval_step=5,
                       lr=1e-12, fast=True)
    T, G = result['batches'], len(devices)
    assert T >= 3
    assert result['loss'] == pytest.approx(
        math.log(2) * (T + 1) / (2 * G), rel=1e-5)


def test_corrected_loss_is_the_mean_per_example(synthetic_dir, capsys):
    result = run_small(synthetic_dir, [mx.cpu(0), mx.cpu(1)], num_epochs=1,
                       eval_step=5, lr=1e-12, protocol='corrected',
                       fast=True)
    assert result['loss'] == pytest.approx(math.log(2), rel=1e-5)


@pytest.mark.slow
def test_corrected_timer_counts_training_only(synthetic_dir, capsys):
    # examples/sec x training seconds = examples trained on (~10% for
    # the Python around the batches); the book's figure divides by a sum
    # of cumulative times, so it comes out several times too small.
    epochs = 4
    corrected = run_small(synthetic_dir, [mx.cpu()], num_epochs=epochs,
                          eval_step=1, protocol='corrected', fast=True)
    examples = corrected['batches'] * 32 * epochs
    assert corrected['examples_per_sec'] * corrected['train_seconds'] == (
        pytest.approx(examples, rel=0.1))
    book = run_small(synthetic_dir, [mx.cpu()], num_epochs=epochs,
                     eval_step=1, fast=True)
    assert book['examples_per_sec'] * book['train_seconds'] < examples / 2


@pytest.mark.slow
def test_seeded_runs_repeat(synthetic_dir, capsys):
    first = run_small(synthetic_dir, [mx.cpu()], num_epochs=2, seed=3)
    second = run_small(synthetic_dir, [mx.cpu()], num_epochs=2, seed=3)
    assert first['history'] == second['history']


def test_a_plain_block_trains_under_the_corrected_protocol(synthetic_dir,
                                                          capsys):
    # found by the teaching pass: the corrected protocol's compiled step
    # wrapped any net, and a student's nn.Block failed with "Children of
    # HybridBlock must also be HybridBlock"; it now takes the chapter's
    # two calls, as the docstring promises for any net
    from mxnet.gluon import nn

    class Dot(nn.Block):  # a plain Block: not hybridizable
        def __init__(self, num_users, num_items):
            super().__init__()
            self.P = nn.Embedding(num_users, 4)
            self.Q = nn.Embedding(num_items, 4)

        def forward(self, users, items):
            return (self.P(users) * self.Q(items)).sum(axis=-1,
                                                       keepdims=True)

    seed_everything(0)
    data = load_chapter_data(synthetic_dir)
    net = Dot(data.num_users, data.num_items)
    net.initialize(ctx=[mx.cpu()], init=mx.init.Normal(0.1))
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': 0.01})
    result = train_ranking(
        net, make_train_iter(data, batch_size=32), data.test_iter,
        BPRLoss(), trainer, None, data.num_users, data.num_items, 2,
        [mx.cpu()], functools.partial(evaluate_ranking,
                                      protocol='corrected', k=10),
        data.candidates, protocol='corrected')
    assert len(result['history']) == 2
    assert result['history'][-1]['loss'] < numpy.log(2)
