"""The two loops: the chapter's own (`book.train_ranking` runs
`chapter.train_ranking` as printed) and the corrected one."""
import math
import re

import mxnet as mx
import numpy
import pytest
from mxnet import gluon

from d2l_ncf import BPRLoss, NeuMF, book, chapter, corrected, load_chapter_data
from d2l_ncf.engine.sampling import NegativeSampler, TripleBatches
from d2l_ncf.evaluation import RankingEvaluator
from d2l_ncf.runs.builders import seed_everything

LOSS_LINE = re.compile(r'^train loss \d+\.\d{3}, test hit rate \d\.\d{3}, '
                       r'test AUC \d\.\d{3}$')


def run_small(synthetic_dir, devices, num_epochs=3, eval_step=1, seed=0,
              protocol='book', lr=0.01, batch_size=32, loop=None):
    """Train a small NeuMF on the synthetic data with the protocol's
    loop (or `loop`, e.g. the chapter's own); the result has `net`."""
    seed_everything(seed)
    data = load_chapter_data(synthetic_dir)
    sampler = NegativeSampler(data.candidates, data.num_users,
                              data.num_items)
    train_iter = TripleBatches(data.users_train, data.items_train,
                               sampler, batch_size,
                               numpy.random.RandomState(seed))
    if protocol == 'book':
        net = chapter.NeuMF(4, data.num_users, data.num_items,
                            nums_hiddens=[4, 4])
    else:
        net = NeuMF(4, data.num_users, data.num_items, nums_hiddens=[4, 4],
                    sigmoid_output=False)
        net.hybridize()
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': lr, 'wd': 1e-5})
    loop = loop or (book if protocol == 'book' else corrected).train_ranking
    result = loop(
        net, train_iter, data.test_iter, BPRLoss(), trainer, None,
        data.num_users, data.num_items, num_epochs, devices,
        RankingEvaluator(protocol, k=None if protocol == 'book' else 10),
        data.candidates, eval_step=eval_step)
    result = dict(result or {}, net=net, num_train=len(data.users_train),
                  batches=len(train_iter))
    return result


@pytest.mark.parametrize('devices', [[mx.cpu()], [mx.cpu(0), mx.cpu(1)]],
                         ids=['cpu', 'cpu:2'])
def test_the_book_loop_prints_what_the_chapters_own_prints(
        synthetic_dir, devices, capsys):
    ours = run_small(synthetic_dir, devices, num_epochs=3, eval_step=1)
    ours_lines = capsys.readouterr().out.strip().splitlines()
    with book.drawing(False):  # d2l's Animator, outside a notebook
        run_small(synthetic_dir, devices, num_epochs=3, eval_step=1,
                  loop=chapter.train_ranking)
    theirs_lines = capsys.readouterr().out.strip().splitlines()
    assert LOSS_LINE.match(ours_lines[-2]), ours_lines[-2]
    assert ours_lines[-2] == theirs_lines[-2]  # the same run, bit for bit
    assert ours_lines[-1].endswith(f' examples/sec on {devices}')
    # the record holds the printed figures, and a row per epoch
    assert ours_lines[-2] == (
        f"train loss {ours['loss']:.3f}, test hit rate "
        f"{ours['hit_rate']:.3f}, test AUC {ours['auc']:.3f}")
    assert [row['epoch'] for row in ours['history']] == [1, 2, 3]
    assert all('hit_rate' in row for row in ours['history'])
    assert ours['examples'] % 32 == 0
    assert abs(ours['examples'] - 3 * ours['num_train']) < 32
    assert ours['train_seconds'] > 0 and ours['eval_seconds'] > 0


def test_the_book_loop_evaluates_as_the_chapter_does(synthetic_dir,
                                                     capsys):
    # every second epoch only: with 3 epochs the final line pairs epoch
    # 3's loss with epoch 2's metrics, as the chapter's loop does
    result = run_small(synthetic_dir, [mx.cpu()], num_epochs=3, eval_step=2)
    assert ['hit_rate' in row for row in result['history']] == [
        False, True, False]
    assert result['hit_rate'] == result['history'][1]['hit_rate']


def test_a_book_run_never_evaluated_reports_no_metric(synthetic_dir,
                                                      capsys):
    result = run_small(synthetic_dir, [mx.cpu()], num_epochs=1, eval_step=2)
    printed = capsys.readouterr()
    assert 'test hit rate 0.000' in printed.out  # the chapter's line
    assert 'hit_rate' not in result and 'auc' not in result
    assert 'not measured' in printed.err


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
                       lr=1e-12)
    T, G = result['batches'], len(devices)
    assert T >= 3
    assert result['loss'] == pytest.approx(
        math.log(2) * (T + 1) / (2 * G), rel=1e-5)


@pytest.mark.parametrize('devices', [[mx.cpu()], [mx.cpu(0), mx.cpu(1)]],
                         ids=['cpu', 'cpu:2'])
def test_corrected_loss_is_the_mean_per_example(synthetic_dir, devices,
                                                capsys):
    # logits of ~0 at this learning rate: BPR is ln 2 per example
    result = run_small(synthetic_dir, devices, num_epochs=1, eval_step=5,
                       lr=1e-12, protocol='corrected')
    assert result['loss'] == pytest.approx(math.log(2), rel=1e-5)
    assert abs(result['examples'] - result['num_train']) < 32


def test_corrected_loop_learns_and_reports_what_it_measured(synthetic_dir,
                                                           capsys):
    result = run_small(synthetic_dir, [mx.cpu()], num_epochs=4,
                       protocol='corrected', lr=0.02)
    losses = [row['loss'] for row in result['history']]
    assert losses[-1] < losses[0] < math.log(2) + 1e-3
    # the printed line holds the last row's figures, each at its k
    line = capsys.readouterr().out.strip().splitlines()[-2]
    assert line.startswith(f"train loss {losses[-1]:.3f}, test hit "
                           f"rate@10 {result['hit_rate']:.3f}, ")
    # examples/sec x timed seconds = examples: each batch timed once
    # (the chapter's timer sums cumulative times instead)
    assert result['examples_per_sec'] > 0
    # whole batches of 32 over 4 epochs (the rest rolls over)
    assert result['examples'] % 32 == 0
    assert abs(result['examples'] - 4 * result['num_train']) < 32


def test_seeded_runs_repeat(synthetic_dir, capsys):
    first = run_small(synthetic_dir, [mx.cpu()], num_epochs=2, seed=3,
                      protocol='corrected')
    second = run_small(synthetic_dir, [mx.cpu()], num_epochs=2, seed=3,
                       protocol='corrected')
    assert first['history'] == second['history']


def test_a_plain_block_trains_under_the_corrected_loop(synthetic_dir,
                                                      capsys):
    # a student's nn.Block cannot join a compiled graph: the step takes
    # the chapter's two calls for it
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
    sampler = NegativeSampler(data.candidates, data.num_users,
                              data.num_items)
    batches = TripleBatches(data.users_train, data.items_train, sampler, 32,
                            numpy.random.RandomState(0))
    result = corrected.train_ranking(
        net, batches, data.test_iter, BPRLoss(), trainer, None,
        data.num_users, data.num_items, 2, [mx.cpu()],
        RankingEvaluator('corrected', k=10), data.candidates)
    assert len(result['history']) == 2
    assert result['history'][-1]['loss'] < numpy.log(2)


def test_a_non_finite_model_is_never_evaluated(synthetic_dir, capsys):
    from d2l_ncf.engine.scoring import NonFiniteModelError

    def evaluator(*args):
        raise AssertionError('a non-finite model was evaluated')

    seed_everything(0)
    data = load_chapter_data(synthetic_dir)
    net = NeuMF(4, data.num_users, data.num_items, [4], sigmoid_output=False)
    net.initialize(ctx=[mx.cpu()], init=mx.init.Normal(0.01))
    net.P.weight.set_data(net.P.weight.data() * numpy.nan)
    trainer = gluon.Trainer(net.collect_params(), 'sgd',
                            {'learning_rate': 0.0})
    sampler = NegativeSampler(data.candidates, data.num_users,
                              data.num_items)
    batches = TripleBatches(data.users_train, data.items_train, sampler, 32,
                            numpy.random.RandomState(0))
    with pytest.raises((NonFiniteModelError,
                        corrected.NonFiniteLossError)) as err:
        corrected.train_ranking(
            net, batches, data.test_iter, BPRLoss(), trainer, None,
            data.num_users, data.num_items, 1, [mx.cpu()], evaluator,
            data.candidates)
    assert 'epoch 1' in str(err.value)
