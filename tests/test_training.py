import re

import mxnet as mx
import pytest
from mxnet import gluon

from d2l_ncf import (BPRLoss, NeuMF, evaluate_ranking, load_chapter_data,
                     train_ranking)
from d2l_ncf.config import seed_everything
from d2l_ncf.data import make_train_iter

LOSS_LINE = re.compile(r'^train loss \d+\.\d{3}, test hit rate \d\.\d{3}, '
                       r'test AUC \d\.\d{3}$')


def run_small(synthetic_dir, devices, num_epochs=3, eval_step=1, seed=0):
    seed_everything(seed)
    data = load_chapter_data(synthetic_dir)
    train_iter = make_train_iter(data, batch_size=32)
    net = NeuMF(4, data.num_users, data.num_items, nums_hiddens=[4, 4])
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': 0.01, 'wd': 1e-5})
    return train_ranking(net, train_iter, data.test_iter, BPRLoss(), trainer,
                         None, data.num_users, data.num_items, num_epochs,
                         devices, evaluate_ranking, data.candidates,
                         eval_step=eval_step)


@pytest.mark.parametrize('devices', [[mx.cpu()], [mx.cpu(0), mx.cpu(1)]],
                         ids=['cpu', 'cpu:2'])
def test_train_ranking_runs_and_prints_the_chapters_lines(
        synthetic_dir, devices, capsys):
    result = run_small(synthetic_dir, devices, num_epochs=3, eval_step=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert LOSS_LINE.match(lines[-2]), lines[-2]
    assert lines[-1].endswith(f' examples/sec on {devices}')
    assert [row['epoch'] for row in result['history']] == [1, 2, 3]
    assert ['hit_rate' in row for row in result['history']] == [
        False, True, False]
    evaluated = result['history'][1]
    assert 0 <= evaluated['hit_rate'] <= 1 and 0 <= evaluated['auc'] <= 1
    # the printed figures are the final ones
    assert lines[-2] == (
        f"train loss {result['loss']:.3f}, test hit rate "
        f"{result['hit_rate']:.3f}, test AUC {result['auc']:.3f}")
    assert result['train_seconds'] > 0 and result['eval_seconds'] > 0


def test_printed_loss_accumulates_like_the_chapter(synthetic_dir, capsys):
    # The chapter adds the running sum `l` to the metric every batch, so
    # the printed loss is sum_k (sum_{j<=k} loss_j) / (batch * D): with
    # a constant per-batch mean loss c over K batches that is
    # c * (K + 1) / 2 / D. We check the sign of the effect: it grows with
    # the number of batches, far above a per-example BPR loss (<= ~0.7
    # near the start).
    result = run_small(synthetic_dir, [mx.cpu()], num_epochs=1,
                       eval_step=5)
    assert result['loss'] > 1.0


def test_seeded_runs_repeat(synthetic_dir, capsys):
    first = run_small(synthetic_dir, [mx.cpu()], num_epochs=2, seed=3)
    second = run_small(synthetic_dir, [mx.cpu()], num_epochs=2, seed=3)
    assert first['history'] == second['history']
