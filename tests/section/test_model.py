import mxnet as mx
import numpy
from mxnet import np

from d2l_ncf import NeuMF


def make_net(num_factors=10, nums_hiddens=(10, 10, 10), devices=None):
    net = NeuMF(num_factors, 7, 11, nums_hiddens=list(nums_hiddens))
    net.initialize(ctx=devices or [mx.cpu()], force_reinit=True,
                   init=mx.init.Normal(0.01))
    return net


def test_output_shape_and_range():
    net = make_net()
    users = np.array([0, 1, 6, 3, 3])
    items = np.array([0, 10, 5, 2, 9])
    out = net(users, items)
    assert out.shape == (5, 1)
    values = out.asnumpy()
    assert numpy.all((values > 0) & (values < 1))


def test_parameter_sizes_follow_the_chapter():
    net = make_net(num_factors=4, nums_hiddens=(8, 6))
    net(np.array([0]), np.array([0]))  # shapes are inferred on first call
    got = sorted(p.shape for p in net.collect_params().values())
    want = sorted([
        (7, 4), (11, 4), (7, 4), (11, 4),  # P, Q, U, V
        (8, 8), (8,),                      # Dense(8) on [U_u, V_i]: 2 * 4
        (6, 8), (6,),                      # Dense(6)
        (1, 4 + 6),                        # prediction on [gmf, mlp]
    ])
    assert got == want


def test_prediction_layer_has_no_bias_and_sigmoid():
    net = make_net()
    assert net.prediction_layer.bias is None
    assert net.prediction_layer.act is not None
    assert [layer.act._act_type for layer in net.mlp] == ['relu'] * 3


def test_embedding_l2_touches_only_the_batch_rows():
    from mxnet import autograd
    from d2l_ncf.model import embedding_l2
    net = NeuMF(3, 5, 7, nums_hiddens=[4])
    net.initialize(init=mx.init.Normal(0.1))
    users, items = np.array([0, 2]), np.array([1, 3])
    negatives = np.array([[4, 5], [6, 4]])
    with autograd.record():
        penalty = embedding_l2(0.5)(net, users, items, negatives)
    penalty.backward()
    # 0.5 * sum of squares, so the gradient of a used row is the row
    # itself (times how often the batch uses it); unused rows get 0
    q = net.Q.weight.data().asnumpy()
    grad_q = net.Q.weight.grad().asnumpy()
    numpy.testing.assert_allclose(grad_q[[1, 3, 5, 6]], q[[1, 3, 5, 6]],
                                  rtol=1e-6)
    numpy.testing.assert_allclose(grad_q[4], 2 * q[4], rtol=1e-6)
    assert not grad_q[[0, 2]].any()
    grad_p = net.P.weight.grad().asnumpy()
    assert grad_p[[0, 2]].any() and not grad_p[[1, 3, 4]].any()
    expected = 0.5 * sum(
        (w.data().asnumpy()[rows] ** 2).sum()
        for w, rows in ((net.P.weight, [0, 2]), (net.U.weight, [0, 2]),
                        (net.Q.weight, [1, 3, 4, 5, 6, 4]),
                        (net.V.weight, [1, 3, 4, 5, 6, 4])))
    assert abs(float(penalty) - expected) < 1e-6
