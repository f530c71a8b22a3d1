"""The lab's check cells, and its reference evaluator.

Each `check_*` runs its tests on what the student wrote and prints one
line: ``NAME: right.``, ``NAME: not filled in yet ...`` while the TODO
still raises, or ``NAME: not right yet: ...`` naming the likely mistake
in words. Every expected value is worked out by hand (in a comment) or
computed from the student's own weights. `evaluate` is the corrected
evaluator the lab's `fit` reports with: every unseen item ranked, ties
counted in expectation.
"""
import functools

import numpy
import d2l_ncf  # noqa: F401  (before MXNet: portable CPU arithmetic)
import mxnet as mx
from mxnet import np

USERS, ITEMS = [0, 1, 2], [4, 0, 2]  # three pairs of a 3-user, 5-item toy
K, HIDDENS = 4, [8, 6]  # the toy's factors and MLP widths


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
                print(f'{name}: not right yet: {explain(err)}')
            else:
                print(f'{name}: right.')
        return check
    return wrap


def explain(err):
    """An exception from a student's code, in words."""
    text = f'{type(err).__name__}: {str(err).splitlines()[0][:160]}'
    if type(err).__name__ == 'DeferredInitializationError':
        return ('a layer was created but never used in forward, so MXNet '
                'never learnt its shape (' + text + '); the score must '
                'come out of prediction_layer')
    return 'it raised ' + text


# ------------------------------------------------------------- the models
def toy_scores(net):
    """`net`, initialised with large weights, scoring the three pairs."""
    net.initialize(init=mx.init.Normal(0.5))
    got = net(np.array(USERS), np.array(ITEMS)).asnumpy()
    for name in ('P', 'Q', 'U', 'V', 'prediction_layer'):
        layer = getattr(net, name, None)
        if layer is not None:
            try:
                layer.weight.data()
            except Exception as err:
                raise AssertionError(explain(err).replace(
                    'a layer', f'{name}')) from None
    assert got.shape == (3, 1), (
        f'scores of shape {got.shape}, expected (3, 1): one score per '
        f'(user, item) pair; the last layer maps to 1 output')
    return got


def weights(layer):
    return layer.weight.data().asnumpy()


def inputs_of(layer):
    return weights(layer).shape[1]


def tower(net, z, relu=True):
    """The MLP's layers on `z`, by hand: ReLU(W z + b), layer by layer."""
    for layer in net.mlp:
        z = z @ weights(layer).T
        if layer.bias is not None:
            z = z + layer.bias.data().asnumpy()
        z = numpy.maximum(0, z) if relu else z
    return z


def hint(got, want, near=(), atol=1e-6):
    """Why the scores `got` differ from the formula's `want`, if a
    common slip explains it: `near` pairs a slip with the scores it
    would give."""
    if numpy.allclose(got, 1 / (1 + numpy.exp(-want)), atol=atol):
        return ('; yours are the sigmoid of the right ones: the score is '
                'the logit, with no activation on prediction_layer (BPR '
                'takes logits)')
    for slip, scores in near:
        if numpy.allclose(got, scores, atol=atol):
            return '; ' + slip
    if ((got > 0) & (got < 1)).all() and not ((want > 0) & (want < 1)).all():
        return ('; every score lies in (0, 1): an activation on the '
                'output?')
    return ''


def no_bias(net):
    assert not net.prediction_layer.bias, (
        'prediction_layer has a bias: h has none (use_bias=False)')


@reported('GMF')
def check_gmf(GMF):
    net = GMF(K, 3, 5)
    got = toy_scores(net)
    P, Q = weights(net.P), weights(net.Q)
    assert P.shape == (3, K) and Q.shape == (5, K), (
        f'P {P.shape}, Q {Q.shape}: expected (num_users, num_factors) = '
        f'(3, {K}) and (num_items, num_factors) = (5, {K})')
    assert inputs_of(net.prediction_layer) != 2 * K, (
        f'prediction_layer reads {2 * K} numbers per pair: you '
        f'concatenated p_u and q_i; GMF multiplies them element by '
        f'element, {K} products')
    want = (P[USERS] * Q[ITEMS]) @ weights(net.prediction_layer).T
    assert numpy.allclose(got, want, atol=1e-6), (
        f'scores {got.ravel()}, h^T (p_u * q_i) gives {want.ravel()}'
        + hint(got, want))
    no_bias(net)


@reported('MLP')
def check_mlp(MLP):
    net = MLP(K, 3, 5, nums_hiddens=HIDDENS)
    got = toy_scores(net)
    assert len(net.mlp) == len(HIDDENS), (
        f'{len(net.mlp)} layers in mlp for nums_hiddens={HIDDENS}, '
        f'expected one per width')
    assert inputs_of(net.mlp[0]) == 2 * K, (
        f'the first dense layer reads {inputs_of(net.mlp[0])} numbers, '
        f'expected {2 * K}: the MLP concatenates U_u and V_i (2 x '
        f'{K}); multiplying them is GMF')
    z = numpy.concatenate([weights(net.U)[USERS], weights(net.V)[ITEMS]],
                          axis=1)
    h = weights(net.prediction_layer).T
    want = tower(net, z) @ h
    assert numpy.allclose(got, want, atol=1e-6), (
        f'scores {got.ravel()}, the formula gives {want.ravel()}' + hint(
            got, want, [('each dense layer of mlp needs a ReLU: without '
                         'it the layers collapse into one linear map',
                         tower(net, z, relu=False) @ h)]))
    no_bias(net)


def neumf_by_hand(net):
    x = weights(net.P)[USERS] * weights(net.Q)[ITEMS]
    z = numpy.concatenate([weights(net.U)[USERS], weights(net.V)[ITEMS]],
                          axis=1)
    return x, tower(net, z), weights(net.prediction_layer).T


@reported('NeuMF')
def check_neumf(NeuMF):
    net = NeuMF(K, 3, 5, nums_hiddens=HIDDENS)
    got = toy_scores(net)
    expected = K + HIDDENS[-1]
    assert inputs_of(net.prediction_layer) == expected, (
        f'prediction_layer reads {inputs_of(net.prediction_layer)} '
        f'numbers, expected {expected}: GMF\'s {K} products and the '
        f'MLP\'s last {HIDDENS[-1]}')
    x, z, h = neumf_by_hand(net)
    want = numpy.concatenate([x, z], axis=1) @ h
    swapped = numpy.concatenate([z, x], axis=1) @ h
    assert numpy.allclose(got, want, atol=1e-6), (
        f'scores {got.ravel()}, h^T [x, z] gives {want.ravel()}' + hint(
            got, want, [('GMF\'s vector comes first, then the MLP\'s: '
                         '[x, z], as the formula writes it', swapped)]))
    no_bias(net)


@reported('from_parts')
def check_from_parts(from_parts, GMF, MLP):
    gmf, mlp = GMF(K, 3, 5), MLP(K, 3, 5, nums_hiddens=HIDDENS)
    users, items = np.array(USERS), np.array(ITEMS)
    for part in (gmf, mlp):
        part.initialize(init=mx.init.Normal(0.5))
    g, m = (part(users, items).asnumpy() for part in (gmf, mlp))
    fused = from_parts(gmf, mlp, 0.25)
    got = fused(users, items).asnumpy()
    # h = [alpha h_gmf, (1 - alpha) h_mlp] on the parts' own vectors,
    # so the fused score is alpha g + (1 - alpha) m, worked out by hand
    want = 0.25 * g + 0.75 * m
    slips = [('alpha is not applied: h should be [alpha h_gmf, '
              '(1 - alpha) h_mlp]', g + m),
             ('alpha and 1 - alpha are swapped', 0.75 * g + 0.25 * m)]
    assert numpy.allclose(got, want, atol=1e-5), (
        f'scores {got.ravel()}, expected 0.25 x GMF\'s + 0.75 x MLP\'s = '
        f'{want.ravel()}' + hint(got, want, slips)
        + ('' if any(numpy.allclose(got, s, atol=1e-5) for _, s in slips)
           else '; are all of P, Q, U, V, the dense layers and h copied?'))
    fused.P.weight.data()[:] = 0  # a copy, not the same array
    assert numpy.allclose(gmf(users, items).asnumpy(), g), (
        "changing the fused model's P changed the GMF's: copy the values "
        "(set_data), do not share the parameter")


# --------------------------------------------------------------- the loss
@reported('bpr')
def check_bpr(bpr):
    pos = np.array([[0.0], [3.0], [0.0], [1.0]])
    neg = np.array([[0.0], [1.0], [2.0], [1.0]])
    # by hand, differences 0, 2, -2, 0: -ln sigma(d) = ln(1 + e^-d) =
    # 0.6931, 0.1269, 2.1269, 0.6931
    d = numpy.array([0.0, 2.0, -2.0, 0.0])
    want = numpy.log1p(numpy.exp(-d))
    got = bpr(pos, neg)
    got = got.asnumpy() if hasattr(got, 'asnumpy') else numpy.asarray(got)
    assert got.size == 4, (
        f'{got.size} number(s) for 4 triples: return one loss per triple, '
        f'shape (batch, 1), not their sum (the loop sums)')
    got = got.ravel()
    slips = [('the sign is reversed: -ln sigma(positive - negative), so '
              'a positive that scores higher costs less',
              numpy.log1p(numpy.exp(d))),
             ('the minus is missing: ln sigma is negative, the loss '
              '-ln sigma is positive', -want)]
    assert numpy.allclose(got, want, atol=1e-3), (
        f'{got.round(4)} for differences 0, 2, -2, 0; expected '
        f'{want.round(4)} (worked by hand)'
        + hint(got, want, slips, atol=1e-4))


# ------------------------------------------------------------ the metrics
@reported('hit_and_auc')
def check_hit_and_auc(hit_and_auc):
    cases = [
        # a strict winner: rank 2 of 5 (one above); Hit@2 1, AUC 3/4
        ([0.9, 0.7, 0.5, 0.3, 0.1], 1, 2, (1.0, 0.75)),
        # the hand-worked list: one above, tied with two others, so rank
        # 2, 3 or 4 with chance 1/3 each: Hit@2 = 1/3; AUC averages
        # 3/4, 2/4, 1/4 = 1/2
        ([0.9, 0.5, 0.5, 0.5, 0.1], 2, 2, (1 / 3, 0.5)),
        # a constant scorer is chance: Hit@2 = 2/5, AUC 1/2
        ([0.5] * 5, 0, 2, (0.4, 0.5)),
    ]
    for scores, test, ell, (hit, auc) in cases:
        for kind, given in (('a NumPy array', numpy.array(scores)),
                            ('a list', list(scores))):
            try:
                got = hit_and_auc(given, test, ell)
            except NotImplementedError:
                raise  # the TODO: reported as not filled in
            except Exception as err:
                raise AssertionError(
                    f'with the scores as {kind} it raised '
                    f'{type(err).__name__}: {err}; it must take a list '
                    f'and a NumPy array (numpy.asarray(scores) first)'
                ) from None
            got = tuple(float(v) for v in got)
            ties = ' tied with' if len(set(scores)) < len(scores) else ''
            message = (f'hit_and_auc({scores}, {test}, {ell}) with the '
                       f'scores as {kind} gave ({got[0]:.3f}, '
                       f'{got[1]:.3f}), expected ({hit:.3f}, {auc:.3f})')
            if ties and numpy.allclose(got, (1.0, 0.75)):
                message += ('; the tied items count as below the test '
                            'item, which is how the chapter\'s id order '
                            'flatters a constant model: average over '
                            'every place among them')
            elif ties and numpy.allclose(got, (0.0, 0.25)):
                message += ('; the tied items count as above the test '
                            'item: average over every place among them')
            assert numpy.allclose(got, (hit, auc), atol=1e-6), message


# -------------------------------------------------- the reference evaluator
def evaluate(net, data, ell, users=None, device=None):
    """Hit@ell, AUC and NDCG@ell of `net` on `data`'s test items, every
    unseen item ranked, ties in expectation; over `users` (default all).
    Returns a dict, and the per-user lists under 'per_user'."""
    device = device or mx.cpu()
    users = range(data.num_users) if users is None else users
    hit, auc, ndcg = [], [], []
    for u in users:
        seen = set(data.candidates[u])
        items = numpy.array([i for i in range(data.num_items)
                             if i not in seen])
        scores = net(np.array(numpy.full(len(items), u), ctx=device),
                     np.array(items, ctx=device)).asnumpy().ravel()
        mine = scores[items == data.test_iter[u][0]][0]
        above = int((scores > mine).sum())
        tied = int((scores == mine).sum()) - 1
        ranks = numpy.arange(above + 1, above + tied + 2)  # equally likely
        hit.append(numpy.mean(ranks <= ell))
        ndcg.append(numpy.mean((ranks <= ell) / numpy.log2(ranks + 1)))
        auc.append((len(items) - 1 - above - tied / 2) / (len(items) - 1))
    return {'hit_rate': float(numpy.mean(hit)), 'auc': float(numpy.mean(auc)),
            'ndcg': float(numpy.mean(ndcg)),
            'per_user': {'hit_rate': hit, 'auc': auc}}
