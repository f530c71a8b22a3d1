"""The lab's check cells: is a student's part right?

Each `check_*` runs its tests on what the student wrote and prints one
line: ``NAME: right.``, ``NAME: not filled in yet ...`` while the TODO
still raises, or ``NAME: not right yet: ...`` saying what differs. The
tests live here, not in the lab's cells, so the expected formula is not
printed under the TODO it answers. Every expected value is worked out
by hand or computed from the student's own weights.
"""
import functools

import numpy
import d2l_ncf as ncf  # before MXNet: portable CPU arithmetic
import mxnet as mx
from mxnet import np

USERS, ITEMS = [0, 1, 2], [4, 0, 2]  # three pairs of a 3-user, 5-item toy


def reported(name):
    """Run the decorated test; print whether `name` is right, in a line."""
    def wrap(test):
        @functools.wraps(test)
        def check(*args):
            try:
                test(*args)
            except NotImplementedError:
                print(f'{name}: not filled in yet: complete the TODO cell '
                      f'above, run it, then run this cell again.')
            except AssertionError as err:
                print(f'{name}: not right yet: {err}')
            except Exception as err:  # their code raised: say what
                print(f'{name}: not right yet: it raised '
                      f'{type(err).__name__}: {err}')
            else:
                print(f'{name}: right.')
        return check
    return wrap


def toy_scores(net):
    """`net`, initialised with large weights, scoring the three pairs."""
    net.initialize(init=mx.init.Normal(0.5))
    got = net(np.array(USERS), np.array(ITEMS)).asnumpy()
    assert got.shape == (3, 1), (
        f'scores of shape {got.shape}, expected (3, 1): one per pair')
    return got


def weights(layer):
    return layer.weight.data().asnumpy()


def hint(got, want, near=()):
    """Why the scores `got` differ from the formula's `want`, if a
    common slip explains it: `near` pairs a slip with the scores it
    would give."""
    if numpy.allclose(got, 1 / (1 + numpy.exp(-want)), atol=1e-6):
        return ('; yours are the sigmoid of the right ones: the score is '
                'the logit, with no activation on prediction_layer')
    for slip, scores in near:
        if numpy.allclose(got, scores, atol=1e-6):
            return '; ' + slip
    if ((got > 0) & (got < 1)).all() and not ((want > 0) & (want < 1)).all():
        return ('; every score lies in (0, 1): an activation on the '
                'output?')
    return ''


@reported('GMF')
def check_gmf(GMF):
    net = GMF(4, 3, 5)
    got = toy_scores(net)
    P, Q = weights(net.P), weights(net.Q)
    assert P.shape == (3, 4) and Q.shape == (5, 4), (
        f'P {P.shape}, Q {Q.shape}: expected (3, 4) and (5, 4)')
    want = (P[USERS] * Q[ITEMS]) @ weights(net.prediction_layer).T
    assert numpy.allclose(got, want, atol=1e-6), (
        f'scores {got.ravel()}, h^T (p_u * q_i) gives {want.ravel()}'
        + hint(got, want))
    assert not net.prediction_layer.bias, 'prediction_layer has a bias'


@reported('MLP')
def check_mlp(MLP):
    net = MLP(4, 3, 5, nums_hiddens=[8, 6])
    got = toy_scores(net)
    assert len(net.mlp) == 2, f'{len(net.mlp)} layers in mlp, expected 2'
    z = numpy.concatenate([weights(net.U)[USERS], weights(net.V)[ITEMS]],
                          axis=1)
    def tower(relu=True):
        out = z
        for layer in net.mlp:  # ReLU(W z + b), layer by layer
            out = out @ weights(layer).T
            if layer.bias is not None:
                out = out + layer.bias.data().asnumpy()
            out = numpy.maximum(0, out) if relu else out
        return out @ weights(net.prediction_layer).T

    want = tower()
    assert numpy.allclose(got, want, atol=1e-6), (
        f'scores {got.ravel()}, the formula gives {want.ravel()}' + hint(
            got, want, [('each Dense layer of mlp needs '
                         "activation='relu'", tower(relu=False))]))
    assert not net.prediction_layer.bias, 'prediction_layer has a bias'


@reported('hinge')
def check_hinge(hinge):
    pos = np.array([[2.0], [0.5], [0.0], [1.0]])
    neg = np.array([[0.0], [0.0], [1.0], [0.0]])
    # worked by hand: differences 2, 0.5, -1, 1 -> losses 0, 0.5, 2, 0
    got = hinge(pos, neg).asnumpy()
    assert got.shape == (4, 1), f'shape {got.shape}, expected (4, 1)'
    assert numpy.allclose(got.ravel(), [0, 0.5, 2, 0]), (
        f'{got.ravel()} for differences 2, 0.5, -1, 1; expected '
        f'[0, 0.5, 2, 0] (worked by hand)')
    rng = numpy.random.RandomState(0)
    pos, neg = (np.array(rng.randn(64, 1)) for _ in range(2))
    theirs = float(ncf.HingeLossbRec()(pos, neg))  # d2l's, summed
    assert abs(float(hinge(pos, neg).sum()) - theirs) < 1e-4, (
        "summed over a batch it differs from d2l's HingeLossbRec")


@reported('ndcg_at')
def check_ndcg_at(ndcg_at):
    # worked by hand: rank 2 -> 1/log2(3) = 0.6309; rank 1 -> 1;
    # beyond the cut-off -> 0
    got = ndcg_at([7, 3, 9], 3, 2)
    assert abs(got - 0.6309) < 1e-4, (
        f'ndcg_at([7, 3, 9], 3, 2) = {got}, expected 1/log2(3) = 0.6309')
    assert ndcg_at([3, 7, 9], 3, 1) == 1, 'the test item first: expected 1'
    assert ndcg_at([7, 9, 3], 3, 2) == 0, 'beyond the cut-off: expected 0'


@reported('ndcg_by_hand')
def check_ndcg_by_hand(ndcg_by_hand, net, k, evaluate):
    package = evaluate(net)
    mine = ndcg_by_hand(net, k)
    print(f'by hand: NDCG@{k} {mine:.5f}; the package: '
          f'{package["ndcg"]:.5f} ({package.ties[0]} tied test items)')
    assert abs(mine - package['ndcg']) < 1e-4, (
        f'{mine:.5f} by hand, the package says {package["ndcg"]:.5f}')
