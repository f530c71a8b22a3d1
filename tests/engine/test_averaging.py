"""The moving average of the weights that --ema evaluates."""
import mxnet as mx
import numpy
from mxnet import autograd, gluon, np

from d2l_ncf import NeuMF
from d2l_ncf.engine.averaging import WeightAverage


def test_average_follows_the_formula_and_is_swapped_in_and_out():
    net = NeuMF(3, 4, 5, nums_hiddens=[2], sigmoid_output=False)
    net.initialize(init=mx.init.Normal(0.1))
    trainer = gluon.Trainer(net.collect_params(), 'sgd',
                            {'learning_rate': 0.5})
    averager = WeightAverage(net, 0.75)
    weight = net.Q.weight
    seen = []
    for step in range(4):
        with autograd.record():
            loss = -net(np.array([step % 4]), np.array([step % 5])).sum()
        loss.backward()
        trainer.step(1)
        averager.update()
        seen.append(weight.data().asnumpy().copy())
    # starts at the first step's weights, then 0.75 old + 0.25 new
    expected = seen[0]
    for w in seen[1:]:
        expected = 0.75 * expected + 0.25 * w
    live = weight.data().asnumpy().copy()
    assert not numpy.allclose(expected, live)
    with averager.applied():
        numpy.testing.assert_allclose(weight.data().asnumpy(), expected,
                                      rtol=1e-6)
    numpy.testing.assert_array_equal(weight.data().asnumpy(), live)
    restored = WeightAverage(net, 0.75)
    restored.load(averager.state())
    with restored.applied():
        numpy.testing.assert_allclose(weight.data().asnumpy(), expected,
                                      rtol=1e-6)
