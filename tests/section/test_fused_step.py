"""The compiled training steps (issue 15).

`losses.PairwiseObjective` (the corrected protocol's) scores positives and
negatives in one call of the network with the loss in the same compiled
graph. It must compute the loss and gradients of the chapter's step (up
to the last bits: a larger batch sums in another order), be used only
where it is meant to, and still stop a diverging run naming the epoch.
"""
import mxnet as mx
import numpy
import pytest
from mxnet import autograd

from d2l_ncf import NeuMF, cli
from d2l_ncf.engine.step import chapter_loss
from d2l_ncf.losses import LOSSES, PairwiseObjective, fused_objective

BATCH = 6


def make_net(seed=0, sigmoid_output=False, devices=None):
    mx.random.seed(seed)
    net = NeuMF(4, 9, 20, [8, 4], sigmoid_output=sigmoid_output)
    net.initialize(init=mx.init.Normal(0.3), ctx=devices)
    net.hybridize()
    return net


def gradients(net):
    return {n: p.grad().asnumpy().copy()
            for n, p in net.collect_params().items()}


@pytest.mark.parametrize('loss_name,num_neg,weighted', [
    ('bpr', 1, False), ('bpr', 3, False), ('hinge', 1, False),
    ('hinge', 2, False), ('log', 1, False), ('log', 4, False),
    ('log', 4, True)])
def test_fused_loss_and_gradients_equal_the_chapters_step(
        loss_name, num_neg, weighted):
    rng = numpy.random.RandomState(0)
    users = mx.np.array(rng.randint(0, 9, BATCH))
    items = mx.np.array(rng.randint(0, 20, BATCH))
    shape = (BATCH,) if num_neg == 1 else (BATCH, num_neg)
    negatives = mx.np.array(rng.randint(0, 20, shape))
    weights = [[mx.np.array(rng.rand(BATCH) + 0.5)]] if weighted else []
    net, loss = make_net(), LOSSES[loss_name]()
    with autograd.record():
        chapter = chapter_loss(net, loss, users, items, negatives,
                               *[w[0] for w in weights])
    chapter.backward()
    expected, expected_grads = float(chapter), gradients(net)
    step = fused_objective(net, loss, negatives)
    for _ in range(2):  # the compiled graph, twice
        with autograd.record():
            fused = step(users, items, negatives,
                         *[w[0] for w in weights])
        fused.backward()
        assert fused.shape == ()
        assert float(fused) == pytest.approx(expected, rel=1e-6)
        for name, grad in gradients(net).items():
            # float32 sums in another order: entries that cancel to about
            # 0 keep an error of the order of the terms' size
            scale = max(1.0, float(numpy.abs(expected_grads[name]).max()))
            assert numpy.allclose(grad, expected_grads[name], rtol=1e-5,
                                  atol=1e-6 * scale), name
    assert abs(expected) > 0


def test_fused_step_only_for_known_losses():
    assert all(PairwiseObjective.supports(cls()) for cls in LOSSES.values())

    class Other(LOSSES['log']):
        pass
    assert not PairwiseObjective.supports(Other())


def test_a_diverging_fused_run_stops_with_epoch_and_batch(synthetic_dir,
                                                         capsys):
    code = cli.main(['train', '--data-dir', synthetic_dir, '--epochs', '3',
                     '--protocol', 'corrected', '--k', '10', '--lr', '1e38',
                     '--batch-size', '32', '--devices', 'cpu',
                     '--no-progress'])
    assert code == 1
    err = capsys.readouterr().err
    assert 'error: epoch 1: the loss is nan' in err
    assert 'before this model was evaluated or saved' in err


def test_fused_run_on_two_devices_equals_itself_and_learns(synthetic_dir,
                                                          capsys):
    lines = []
    for _ in range(2):
        assert cli.main(['train', '--data-dir', synthetic_dir, '--epochs',
                         '3', '--protocol', 'corrected', '--k', '10',
                         '--batch-size', '32', '--devices', 'cpu:2',
                         '--loss', 'log', '--num-neg', '3',
                         '--no-progress']) == 0
        lines.append(capsys.readouterr().out.splitlines()[-2])
    assert lines[0] == lines[1]
    assert 'train loss' in lines[0]
