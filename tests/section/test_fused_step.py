"""The compiled training steps (issue 15).

`losses.PairwiseObjective` (the corrected protocol's) scores positives and
negatives in one call of the network with the loss in the same compiled
graph. It must compute the loss and gradients of the chapter's step (up
to the last bits: a larger batch sums in another order), be used only
where it is meant to, and still stop a diverging run naming the epoch and
batch. `losses.ChapterObjective` (the book protocol's) compiles the
chapter's two calls and must equal them bit for bit.
"""
import mxnet as mx
import numpy
import pytest
from mxnet import autograd

from d2l_ncf import NeuMF, cli
from d2l_ncf.losses import (LOSSES, ChapterObjective, PairwiseObjective,
                            compiled_objective, fused_objective)
from d2l_ncf.protocol import BOOK, CORRECTED
from d2l_ncf.training import loss_of_batch

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
    ls, objectives = loss_of_batch(net, loss, [[users], [items],
                                               [negatives]], weights, None)
    objectives[0].backward()
    expected, expected_grads = float(ls[0].asnumpy().sum()), gradients(net)
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


def test_fused_step_only_for_known_losses_and_the_corrected_protocol():
    assert CORRECTED.fused_step and not BOOK.fused_step
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
    assert 'error: epoch 1, batch 2: the loss is nan' in err
    assert 'training stopped before this update' in err


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


def chapter_batch(rng, devices):
    """A batch of the chapter's shapes, split over `devices`."""
    from mxnet import gluon
    arrays = (rng.randint(0, 9, 4 * BATCH), rng.randint(0, 20, 4 * BATCH),
              rng.randint(0, 20, 4 * BATCH))
    return [gluon.utils.split_and_load(mx.np.array(a), devices)
            for a in arrays]


@pytest.mark.parametrize('loss_name', ['bpr', 'hinge'])
@pytest.mark.parametrize('num_devices', [1, 2])
def test_the_compiled_chapter_step_equals_its_calls_bit_for_bit(
        loss_name, num_devices):
    # three steps of each way from the same start: the losses and the
    # weights after every update are equal, not merely close
    devices = [mx.cpu(i) for i in range(num_devices)]
    results = []
    for compiled in (False, True):
        net, loss = make_net(3, sigmoid_output=True, devices=devices), \
            LOSSES[loss_name]()
        trainer = mx.gluon.Trainer(net.collect_params(), 'adam',
                                   {'learning_rate': 0.05})
        step = ChapterObjective(net, loss) if compiled else None
        if step is not None:
            step.hybridize(static_alloc=True, static_shape=True)
        rng, seen = numpy.random.RandomState(1), []
        for _ in range(3):
            triples = chapter_batch(rng, devices)
            if step is None:
                ls, objectives = loss_of_batch(net, loss, triples, [])
            else:
                with autograd.record():
                    ls = objectives = [step(*t) for t in zip(*triples)]
            [o.backward() for o in objectives]
            seen.append(sum(l.asnumpy() for l in ls))
            trainer.step(4 * BATCH)
            seen.extend(p.data(devices[-1]).asnumpy().copy()
                        for p in net.collect_params().values())
        results.append(seen)
    assert len(results[0]) == len(results[1])
    for a, b in zip(*results):
        assert a.shape == b.shape and (a == b).all()


def test_the_compiled_step_is_chosen_only_where_it_is_meant_to_be():
    rng = numpy.random.RandomState(0)
    one = (rng.randint(0, 9, BATCH), rng.randint(0, 20, BATCH),
           rng.randint(0, 20, BATCH))
    many = one[:2] + (rng.randint(0, 20, (BATCH, 3)),)
    weighted = one + (numpy.ones(BATCH, 'float32'),)
    net, bpr = make_net(), LOSSES['bpr']()
    assert isinstance(compiled_objective(BOOK, net, bpr, one),
                      ChapterObjective)
    assert isinstance(compiled_objective(BOOK, net, LOSSES['hinge'](), one),
                      ChapterObjective)
    assert isinstance(compiled_objective(CORRECTED, net, bpr, many),
                      PairwiseObjective)
    # the book protocol keeps the chapter's calls for anything else
    assert compiled_objective(BOOK, net, LOSSES['log'](), one) is None
    assert compiled_objective(BOOK, net, bpr, many) is None
    assert compiled_objective(BOOK, net, bpr, weighted) is None
    plain = NeuMF(4, 9, 20, [8, 4])  # not hybridized: --reference
    plain.initialize()
    assert compiled_objective(BOOK, plain, bpr, one) is None
